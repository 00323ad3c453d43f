#!/usr/bin/env bash
# UDP benchmark of sockstate_exporter: scrape time against the bare UDP dump. See docs/bench.md, "UDP".
#
#   sudo bench/run_udp_bench.sh [--sizes 10000,100000] [--runs 7] [--nice N]
#                               [--exporter PATH] [--build-dir DIR] [--exporter-arg ARG]
#                               [--connected-fraction 0.5] [--destinations 100] [--addresses 4]
#                               [--ipv6-fraction 0.1]
#
# For each size N: a fresh network namespace, bench/udpgen builds N UDP sockets in it (half
# connected to 100 destinations, IPv4 over 4 local addresses, 10% IPv6), the exporter runs in
# it with its default configuration, and then, interleaved run by run: the bare UDP dump (the
# floor: bench/floor --protocol udp, both families, what any exporter must at least spend) and
# the exporter's whole scrape (curl time_total). Prints the medians, their ratio, the median of
# the per-run ratios (each run's scrape over the dump just before it: steadier under load), the
# udp source's own time in that scrape (its sockstate_scrape_source_duration_seconds), the
# CPU of both (the dump's median, the exporter's mean per scrape: unaffected by waiting for a
# CPU on a busy host) and the exporter's peak RSS (VmHWM) after start and after the runs, and
# saves the raw results under bench/results/udp-<UTC date-time>.txt. Everything is removed on exit,
# Ctrl-C included. Traffic: none (UDP sockets need no peer); all sockets are on loopback.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZES=10000,100000
RUNS=7
NICE=0
BUILD=$ROOT/build-bench
EXPORTER=
EXPORTER_ARGS=()
GEN_ARGS=()
usage() { sed -n '2,19p' "$ROOT/bench/run_udp_bench.sh" | sed 's/^# \{0,1\}//'; exit 2; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --sizes) SIZES=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --nice) NICE=$2; shift 2 ;;
    --exporter) EXPORTER=$2; shift 2 ;;
    --build-dir) BUILD=$2; shift 2 ;;
    --exporter-arg) EXPORTER_ARGS+=("$2"); shift 2 ;;
    --connected-fraction|--destinations|--addresses|--ipv6-fraction) GEN_ARGS+=("$1" "$2"); shift 2 ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "run as root (network namespaces): sudo $0" >&2; exit 2; }
[[ $RUNS =~ ^[0-9]+$ && $RUNS -ge 1 && $RUNS -le 100 ]] || { echo "--runs 1..100" >&2; exit 2; }
log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

if [[ ! -f $BUILD/CMakeCache.txt ]]; then
  log "configuring $BUILD (Release)"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSOCKSTATE_BUILD_TESTS=OFF >/dev/null
fi
log "building udpgen, floor${EXPORTER:+ (exporter given)}"
cmake --build "$BUILD" --target udpgen floor -j2 >/dev/null
if [[ -z $EXPORTER ]]; then
  cmake --build "$BUILD" --target sockstate_exporter -j2 >/dev/null
  EXPORTER=$BUILD/exporter/sockstate_exporter
fi

TMP=$(mktemp -d /tmp/udpbench.XXXXXX)
mkdir -p "$ROOT/bench/results"
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
RAW=$ROOT/bench/results/udp-$STAMP.txt
NS= GEN_PID= EXP_PID=
stop_pid() {  # TERM, wait up to $2 s, KILL
  local pid=$1 i
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < ${2:-10} * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
teardown() {
  stop_pid "$EXP_PID" 5; EXP_PID=
  stop_pid "$GEN_PID" 30; GEN_PID=
  [[ -n $NS ]] && ip netns del "$NS" 2>/dev/null || true
  NS=
}
trap 'rc=$?; trap - EXIT INT TERM; teardown; rm -rf "$TMP"; exit $rc' EXIT
trap 'log interrupted; exit 130' INT TERM

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) {print "n/a"; exit} if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }
hwm_mb() { awk '/^VmHWM:/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{sub(/.*\) /, ""); printf "%d\n", ($12 + $13) * 1000 / hz}' "/proc/$1/stat"; }
in_ns() { nice -n "$NICE" ip netns exec "$NS" "$@"; }
PORT=9979
scrape_ms() {  # the whole scrape (curl), and the body kept for the udp source's own time
  local out
  out=$(in_ns curl -s -o "$TMP/body" --max-time 120 -w '%{http_code} %{time_total}' "http://127.0.0.1:$PORT/metrics" || true)
  [[ ${out%% *} == 200 ]] && awk -v t="${out#* }" 'BEGIN {printf "%.2f\n", t*1000}'
  return 0
}
# The udp source's share of the last scrape (dump, parse, aggregation: what the bare dump is
# compared with), from the exporter's own sockstate_scrape_source_duration_seconds.
udp_source_ms() { awk '/^sockstate_scrape_source_duration_seconds\{source="udp"\}/ {printf "%.2f\n", $2 * 1000}' "$TMP/body"; }

{
  echo "# sockstate_exporter UDP benchmark $STAMP"
  echo "# host: $(uname -r), $(nproc) cpus; git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "# sizes=$SIZES runs=$RUNS nice=$NICE exporter=$EXPORTER args=${EXPORTER_ARGS[*]:-none} udpgen=${GEN_ARGS[*]:-defaults}"
} >"$RAW"
TABLE="| UDP sockets | bare UDP dump (ms) | exporter scrape (ms) | ratio of medians | median of per-run ratios | udp source (ms) | udp source / dump | dump CPU (ms) | exporter CPU per scrape (ms) | CPU ratio | exporter VmHWM after start / after runs (MB) |
|---|---|---|---|---|---|---|---|---|---|---|"

IFS=, read -r -a SIZE_LIST <<<"$SIZES"
for N in "${SIZE_LIST[@]}"; do
  [[ $N =~ ^[0-9]+$ && $N -ge 1 ]] || { log "bad size $N"; exit 2; }
  NS=udpbench-$$-$N
  ip netns add "$NS"
  mkfifo "$TMP/ctl"
  nice -n "$NICE" "$BUILD/bench/udpgen" --netns "$NS" --sockets "$N" "${GEN_ARGS[@]}" \
    <"$TMP/ctl" >"$TMP/gen.out" 2>"$TMP/gen.err" &
  GEN_PID=$!
  exec 7>"$TMP/ctl"; rm -f "$TMP/ctl"  # udpgen exits on EOF if this script dies
  for ((i = 0; i < 600; i++)); do
    grep -q '^READY' "$TMP/gen.out" && break
    kill -0 "$GEN_PID" 2>/dev/null || { cat "$TMP/gen.err" >&2; exit 1; }
    sleep 0.2
  done
  grep -q '^READY' "$TMP/gen.out" || { log "udpgen: no READY after 120 s"; exit 1; }
  log "size $N: $(cat "$TMP/gen.out")"
  { echo; echo "## size $N"; cat "$TMP/gen.out"; } >>"$RAW"

  # Not through in_ns: a backgrounded function is a subshell, and $! would be its pid (CPU and
  # VmHWM are read from /proc/$EXP_PID). nice and ip netns exec exec, so $! is the exporter's.
  nice -n "$NICE" ip netns exec "$NS" "$EXPORTER" --web.listen-address=127.0.0.1:$PORT \
    "${EXPORTER_ARGS[@]}" >"$TMP/exporter.log" 2>&1 &
  EXP_PID=$!
  for ((i = 0; i < 75; i++)); do
    ip netns exec "$NS" bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" 2>/dev/null && break
    kill -0 "$EXP_PID" 2>/dev/null || { cat "$TMP/exporter.log" >&2; exit 1; }
    sleep 0.2
  done
  hwm0=$(hwm_mb "$EXP_PID")
  in_ns curl -s --max-time 120 "http://127.0.0.1:$PORT/metrics" >"$TMP/m"
  seen=$(awk '/^sockstate_udp_sockets\{/ {n += $2} END {print n + 0}' "$TMP/m")
  echo "exporter sees sum(sockstate_udp_sockets)=$seen; $(grep -E '^sockstate_udp_(ephemeral_ports_used|occupancy_ratio) ' "$TMP/m" | tr '\n' ' ')" >>"$RAW"
  [[ $seen == "$N" ]] || { log "the exporter sees $seen UDP sockets, not $N"; exit 1; }

  : >"$TMP/f"; : >"$TMP/e"; : >"$TMP/r"; : >"$TMP/fc"; : >"$TMP/u"
  c0=$(cpu_ms "$EXP_PID")
  for ((r = 1; r <= RUNS; r++)); do
    fl=$(nice -n "$NICE" "$BUILD/bench/floor" --netns "$NS" --protocol udp --runs 1 | grep '^run=')
    f=$(awk -F'[= ]' '{print $4}' <<<"$fl")
    awk -F'[= ]' '{print $8}' <<<"$fl" >>"$TMP/fc"
    e=$(scrape_ms)
    u=$([[ -n $e ]] && udp_source_ms)
    echo "$f" >>"$TMP/f"; [[ -n $e ]] && echo "$e" >>"$TMP/e"; [[ -n $u ]] && echo "$u" >>"$TMP/u"
    [[ -n $e ]] && awk -v a="$e" -v b="$f" 'BEGIN {if (b+0 > 0) printf "%.3f\n", a/b}' >>"$TMP/r"
    echo "run $r: floor_ms=$f floor_cpu_ms=$(tail -1 "$TMP/fc") exporter_ms=${e:-n/a} udp_source_ms=${u:-n/a} loadavg=$(cut -d' ' -f1 /proc/loadavg)" >>"$RAW"
    log "size $N run $r/$RUNS: bare UDP dump $f ms, exporter ${e:-n/a} ms (udp source ${u:-n/a} ms)"
  done
  cpu=$(awk -v a="$c0" -v b="$(cpu_ms "$EXP_PID")" -v r="$RUNS" 'BEGIN {printf "%.1f", (b-a)/r}')
  in_ns curl -s --max-time 120 "http://127.0.0.1:$PORT/metrics" >"$TMP/m"
  echo "last scrape, seconds per source: $(awk '/^sockstate_scrape_source_duration_seconds\{/ {sub(/.*source="/, ""); sub(/"\}/, ""); printf "%s ", $0}' "$TMP/m")" >>"$RAW"
  fm=$(median <"$TMP/f"); em=$(median <"$TMP/e")
  ratio=$(awk -v a="$em" -v b="$fm" 'BEGIN {if (a+0 > 0 && b+0 > 0) printf "%.2f", a/b; else print "n/a"}')
  pr=$(median <"$TMP/r"); fcm=$(median <"$TMP/fc"); um=$(median <"$TMP/u")
  uratio=$(awk -v a="$um" -v b="$fm" 'BEGIN {if (a+0 > 0 && b+0 > 0) printf "%.2f", a/b; else print "n/a"}')
  cratio=$(awk -v a="$cpu" -v b="$fcm" 'BEGIN {if (a+0 > 0 && b+0 > 0) printf "%.2f", a/b; else print "n/a"}')
  line="| $N | $fm | $em | ${ratio}x | ${pr}x | $um | ${uratio}x | $fcm | $cpu | ${cratio}x | $hwm0 / $(hwm_mb "$EXP_PID") |"
  echo "medians: $line" >>"$RAW"
  TABLE+=$'\n'"$line"
  exec 7>&-
  teardown
done
echo "$TABLE"
echo "raw results: $RAW"
