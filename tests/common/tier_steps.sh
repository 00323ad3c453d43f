# Shared by the slow script tiers (package, container): a time budget, log lines stamped with
# the seconds since start, and named steps whose durations are collected in `timings` (the
# tier's EXIT trap prints them; a step that fails leaves step_name/step_t0 set for that).
# Source it, then call: tier_steps_init <tier name> <budget seconds>.
# shellcheck shell=bash

tier_steps_init() {
  tier_name=$1
  budget=$2
  t_start=$(date +%s)
  deadline=$((t_start + budget))
  step_name="" step_t0=0
  declare -ga timings=()
}
log() { printf '[%s %4ss] %s\n' "$tier_name" "$(($(date +%s) - t_start))" "$*"; }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
cannot_run() {
  printf 'FAIL: tier %s cannot run: %s — run scripts/install-deps.sh --test\n' "$tier_name" "$*" >&2
  exit 1
}
# Seconds left of the budget; the tier fails once it is spent.
remaining() {
  local r=$((deadline - $(date +%s)))
  ((r > 0)) || die "overall budget of ${budget}s exhausted"
  echo "$r"
}
# step <name> <command...>: runs the command and records its duration. Not `"$@" || ...`: that
# would switch off errexit inside the step. A failing step exits the script.
step() {
  local name=$1 t0 dt
  shift
  t0=$(date +%s)
  log "step: $name"
  step_name=$name step_t0=$t0
  "$@"
  dt=$(($(date +%s) - t0))
  timings+=("$(printf '%-12s %4ss' "$name" "$dt")")
  step_name=""
  log "step: $name done in ${dt}s"
}
# The line a failed step adds to the timings (for the EXIT trap).
failed_step_timing() {
  [[ -z "$step_name" ]] || timings+=("$(printf '%-12s %4ss (failed)' "$step_name" "$(($(date +%s) - step_t0))")")
}
