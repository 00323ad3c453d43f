# shellcheck shell=bash
# Shared by the namespace benchmarks (sourced, after the caller has set P, the prefix of every
# network namespace it creates, and BUILD, the build tree): a temp dir TMP, teardown on exit of
# everything started (exporters in PIDS, loadgens in LOADGENS, namespaces named "$P-*"), the
# loadgen and exporter starters, a timed scrape and a median. Root; loopback only.
LOADGEN=$BUILD/bench/loadgen
EXPORTER=$BUILD/exporter/sockstate_exporter
[[ $(id -u) -eq 0 ]] || { echo "run as root (ip netns, setns)"; exit 1; }
[[ -x $LOADGEN && -x $EXPORTER ]] || { echo "build loadgen and sockstate_exporter in $BUILD first"; exit 1; }

TMP=$(mktemp -d)
PIDS=()  # exporters
LOADGENS=()
stop_loadgens() {
  for p in "${LOADGENS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${LOADGENS[@]}"; do wait "$p" 2>/dev/null || true; done
  LOADGENS=()
}
delete_namespaces() {
  for n in $(ip netns list | awk '{print $1}' | grep "^$P-" || true); do ip netns del "$n"; done
}
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  stop_loadgens
  delete_namespaces
  rm -rf "$TMP"
}
trap cleanup EXIT
log() { echo "[$(date +%T)] $*" >&2; }

# start_loadgen <netns> <established> <destinations> <sources> <holders> [<time_wait>]: starts
# loadgen in the namespace and waits for READY (bounded: 600 s).
start_loadgen() {
  local ns=$1 n=$2 out=$TMP/$1.out
  mkfifo "$TMP/$ns.ctl"
  "$LOADGEN" --netns "$ns" --established "$n" --time-wait "${6:-0}" --destinations "$3" \
    --sources "$4" --holders "$5" --timeout 600 <"$TMP/$ns.ctl" >"$out" 2>"$TMP/$ns.err" &
  LOADGENS+=($!)
  exec {fd}>"$TMP/$ns.ctl"  # held open: loadgen holds until this script exits
  local t=0
  until grep -qs '^READY' "$out"; do  # -s: the background redirect may not exist yet
    kill -0 "${LOADGENS[-1]}" 2>/dev/null || { echo "loadgen $ns exited:"; tail -3 "$TMP/$ns.err"; exit 1; }
    sleep 0.1; t=$((t + 1))
    ((t < 6000)) || { echo "loadgen $ns not ready"; tail -3 "$TMP/$ns.err"; exit 1; }
  done
}

run_exporter() {  # run_exporter <name> <config yaml> [flag...]; prints "<port> <pid>"
  local name=$1 port
  printf '%s' "$2" >"$TMP/$name.yml"
  shift 2
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$EXPORTER" --web.listen-address=127.0.0.1:$port --config.file="$TMP/$name.yml" "$@" \
    >"$TMP/$name.log" 2>&1 &
  echo "$port $!"
}  # called in a subshell: the caller adds the pid to PIDS

# scrape <name> <port>: the body to $TMP/<name>.prom; prints curl's time_total (seconds).
scrape() { curl -s -o "$TMP/$1.prom" -w '%{time_total}' --max-time 900 "http://127.0.0.1:$2/metrics"; }
# median of whitespace-separated numbers on stdin.
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
