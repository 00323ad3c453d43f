# Shared by the live tiers (tests/chain, tests/fleet), sourced: background processes that are
# recorded and stopped on exit, network namespaces deleted on exit, bounded waits, timings, and
# a temp dir kept on failure.
#
#   live_require TIER TOOL...   fail ("tier TIER cannot run: ...") unless every TOOL, python3's
#                               yaml, the exporter binary $exporter and root are there
#   live_init NAME TMP_PREFIX   $live_name = NAME (message prefix), $tmp = mktemp -d
#                               /tmp/TMP_PREFIX.XXXXXX, EXIT/INT/TERM traps set
#   log MSG / fail MSG          "NAME: MSG" on stdout / "NAME: FAIL: MSG" on stderr and exit 1
#   start NAME CMD...           runs CMD in the background, output to $tmp/NAME.log
#   alive NAME / need_alive NAME
#   netns_created+=(NS)         deleted by the cleanup, newest first
#   live_cleanup_hooks+=(FN)    called by the cleanup after the processes stopped, before the
#                               namespaces are deleted
#   bg CMD...                   runs CMD in the background and waits for it, so that a signal
#                               to the script is handled at once and the cleanup stops CMD too
#   mark WHAT / print_timings   seconds since live_init, printed by the cleanup
#   free_port                   a free TCP port on 127.0.0.1
#   wait_http NAME URL SECONDS  until URL answers 2xx while NAME runs
# The temp dir is removed on success and kept on failure; SOCKSTATE_KEEP_TMP=1 always keeps
# it, SOCKSTATE_KEEP_TMP=0 never does.

live_name=$(basename "$0" .sh)
declare -A pid=()
order=()
netns_created=()
live_cleanup_hooks=()
fg_pid=
timings=()

log() { echo "$live_name: $*"; }
fail() { echo "$live_name: FAIL: $*" >&2; exit 1; }

live_require() {
  local tier=$1 tool; shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 ||
      fail "tier $tier cannot run: $tool not found; run scripts/install-deps.sh --test"
  done
  python3 -c 'import yaml' 2>/dev/null ||
    fail "tier $tier cannot run: python3-yaml not found; run scripts/install-deps.sh --test"
  [[ -x "$exporter" ]] || fail "tier $tier cannot run: exporter binary $exporter not found (build first)"
  [[ "$(id -u)" == 0 ]] || fail "tier $tier cannot run: needs root (creates network namespaces)"
}

live_init() {
  live_name=$1
  t_start=$EPOCHREALTIME
  tmp="$(mktemp -d "/tmp/$2.XXXXXX")"
  trap live_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

mark() { timings+=("$(awk -v now="$EPOCHREALTIME" -v t0="$t_start" -v what="$1" \
  'BEGIN { printf "%-56s %6.1f s", what, now - t0 }')"); }
print_timings() {
  ((${#timings[@]})) || return 0
  echo "$live_name: timings (since start)"
  printf '  %s\n' "${timings[@]}"
}

start() {
  local name=$1; shift
  "$@" >"$tmp/$name.log" 2>&1 &
  pid[$name]=$!
  order+=("$name")
}
alive() { [[ -n "${pid[$1]:-}" ]] && kill -0 "${pid[$1]}" 2>/dev/null; }
need_alive() { alive "$1" || fail "$1 exited early; its log:
$(tail -n 30 "$tmp/$1.log" 2>/dev/null)"; }
stop_all() {
  local i name
  for ((i = ${#order[@]} - 1; i >= 0; i--)); do
    name=${order[$i]}
    alive "$name" && kill -TERM "${pid[$name]}" 2>/dev/null
  done
  for _ in $(seq 1 50); do  # up to 5 s for a clean exit, then SIGKILL
    local any=0
    for name in "${order[@]}"; do alive "$name" && any=1; done
    ((any)) || break
    sleep 0.1
  done
  for name in "${order[@]}"; do
    if alive "$name"; then
      echo "$live_name: $name (pid ${pid[$name]}) ignored SIGTERM; SIGKILL" >&2
      kill -KILL "${pid[$name]}" 2>/dev/null
    fi
    wait "${pid[$name]}" 2>/dev/null
  done
}
live_cleanup() {
  local rc=$? i hook
  set +e
  trap - EXIT INT TERM
  [[ -n "${fg_pid:-}" ]] && kill -TERM "$fg_pid" 2>/dev/null
  stop_all
  for hook in "${live_cleanup_hooks[@]}"; do "$hook"; done
  for ((i = ${#netns_created[@]} - 1; i >= 0; i--)); do
    ip netns del "${netns_created[$i]}" 2>/dev/null || rm -f "/var/run/netns/${netns_created[$i]}"
  done
  print_timings
  if ((rc != 0)); then
    for name in "${order[@]}"; do
      echo "---- $name log (last 20 lines): $tmp/$name.log" >&2
      tail -n 20 "$tmp/$name.log" >&2 2>/dev/null
    done
  fi
  if [[ "${SOCKSTATE_KEEP_TMP:-0}" == 1 || $rc -ne 0 && "${SOCKSTATE_KEEP_TMP:-}" != 0 ]]; then
    echo "$live_name: kept $tmp" >&2
  else
    rm -rf "$tmp"
  fi
  exit $rc
}

bg() {
  "$@" <&0 &
  fg_pid=$!
  local rc=0
  wait "$fg_pid" || rc=$?
  fg_pid=
  return $rc
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_http() {
  local name=$1 url=$2 deadline=$((SECONDS + $3))
  until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
    need_alive "$name"
    ((SECONDS < deadline)) || fail "$name: $url not answering within $3 s"
    sleep 0.2
  done
}
