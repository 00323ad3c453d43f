#!/usr/bin/env bash
# Scale benchmark of sockstate_exporter: scrape time and peak RSS at 10k-1M sockets against a
# bare sock_diag dump (the floor) and node_exporter. See docs/bench.md.
#
#   sudo bench/run_bench.sh [--sizes 10000,100000,1000000] [--runs 7] [--no-storm]
#                           [--storm-scrapers 20] [--storm-timeout 1]
#                           [--exporter-mode netns-exec|config] [--exporter PATH] [--build-dir DIR]
#                           [--exporter-arg ARG]   (repeatable: an extra exporter flag, e.g.
#                                                   --collector.connect-failures=off)
#                           [--baseline PATH]   (a second exporter binary, e.g. one built at an
#                                                earlier commit, measured interleaved in the same
#                                                run with the same flags: ratio exp/baseline)
#                           [--baseline-arg ARG]   (repeatable: a flag for the baseline only, e.g.
#                                                   --collector.tracker=off: the same binary
#                                                   dumping, against the state tracker)
#                           [--nice N]   (e.g. -10: floor, exporters and curl at a higher priority
#                                         than other work on a shared machine; default 0)
#                           [--destinations 1000] [--sources 100] [--time-wait-percent 10]
#                           [--ipv6-fraction 0.1]   (population shape, passed to loadgen)
#
# For each size N: a fresh network namespace, loadgen builds N sockets in it (90% ESTABLISHED,
# 10% TIME_WAIT held level, 10% IPv6, 1000 destinations x 100 sources), then, interleaved run by
# run: the bare dump floor, the exporter's scrape (curl time_total) and node_exporter's tcpstat
# scrape. Peak RSS is VmHWM. At the largest size: a scrape storm. SOCKBENCH_NETNS names the
# namespaces (default sockbench). Prints one markdown table and
# saves raw results under bench/results/. Everything is torn down on exit, Ctrl-C included.
# Network traffic stays on loopback inside the namespaces this script creates.
set -euo pipefail

# Bash reads a script while it runs: run from a private copy so that editing (or checking out
# another revision of) this file during a long run cannot break the run.
if [[ -z ${SOCKBENCH_ROOT:-} ]]; then
  SOCKBENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  copy=$(mktemp /tmp/run_bench.XXXXXX.sh)
  cp "${BASH_SOURCE[0]}" "$copy"
  SOCKBENCH_ROOT=$SOCKBENCH_ROOT SOCKBENCH_COPY=$copy exec bash "$copy" "$@"
fi
[[ -n ${SOCKBENCH_COPY:-} ]] && rm -f "$SOCKBENCH_COPY"

SIZES=10000,100000,1000000
RUNS=7
STORM=1
STORM_SCRAPERS=20
STORM_TIMEOUT=1
EXPORTER_MODE=netns-exec
ROOT=$SOCKBENCH_ROOT
BUILD=$ROOT/build-bench
EXPORTER=
NODE_EXPORTER=/usr/bin/prometheus-node-exporter
TW_PERCENT=10
IPV6_FRACTION=0.1
DESTINATIONS=1000
SOURCES=100
NICE=0
EXPORTER_ARGS=()
BASELINE=
BASELINE_ARGS=()

usage() { sed -n '2,19p' "$ROOT/bench/run_bench.sh" | sed 's/^# \{0,1\}//'; exit 2; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --sizes) SIZES=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --no-storm) STORM=0; shift ;;
    --storm-scrapers) STORM_SCRAPERS=$2; shift 2 ;;
    --storm-timeout) STORM_TIMEOUT=$2; shift 2 ;;
    --exporter-mode) EXPORTER_MODE=$2; shift 2 ;;
    --exporter) EXPORTER=$2; shift 2 ;;
    --exporter-arg) EXPORTER_ARGS+=("$2"); shift 2 ;;
    --baseline) BASELINE=$2; shift 2 ;;
    --baseline-arg) BASELINE_ARGS+=("$2"); shift 2 ;;
    --build-dir) BUILD=$2; shift 2 ;;
    --nice) NICE=$2; shift 2 ;;
    --destinations) DESTINATIONS=$2; shift 2 ;;
    --sources) SOURCES=$2; shift 2 ;;
    --time-wait-percent) TW_PERCENT=$2; shift 2 ;;
    --ipv6-fraction) IPV6_FRACTION=$2; shift 2 ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "run as root (network namespaces): sudo $0" >&2; exit 2; }
[[ $RUNS =~ ^[0-9]+$ && $RUNS -ge 1 && $RUNS -le 100 ]] || { echo "--runs 1..100" >&2; exit 2; }
case $EXPORTER_MODE in netns-exec|config) ;; *) echo "--exporter-mode netns-exec|config" >&2; exit 2 ;; esac

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# ---------------------------------------------------------------- build (Release) if needed
if [[ ! -f $BUILD/CMakeCache.txt ]]; then
  log "configuring $BUILD (Release)"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSOCKSTATE_BUILD_TESTS=OFF >/dev/null
fi
log "building loadgen, floor"
cmake --build "$BUILD" --target loadgen floor -j2 >/dev/null
LOADGEN=$BUILD/bench/loadgen
FLOOR=$BUILD/bench/floor
if [[ -z $EXPORTER ]]; then
  EXPORTER=$BUILD/exporter/sockstate_exporter
  log "building sockstate_exporter"
  cmake --build "$BUILD" --target sockstate_exporter -j2 >/dev/null 2>"$BUILD/exporter-build.log" \
    || log "exporter does not build (see $BUILD/exporter-build.log): exporter columns will be n/a"
fi
[[ -x $NODE_EXPORTER ]] || { log "$NODE_EXPORTER not installed: node_exporter columns will be n/a"; NODE_EXPORTER=; }

# ---------------------------------------------------------------- state and cleanup
TMP=$(mktemp -d /tmp/sockbench.XXXXXX)
mkdir -p "$ROOT/bench/results"
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
RAW=$ROOT/bench/results/$STAMP.txt
NS=
LOADGEN_PID=
EXPORTER_PID=
BASE_PID=
NODE_PID=
CTL_FD_OPEN=0

stop_pid() {  # stop_pid PID [grace seconds]: TERM, wait (bounded), KILL
  local pid=$1 grace=${2:-10} i
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

teardown_size() {
  stop_pid "$EXPORTER_PID" 5; EXPORTER_PID=
  stop_pid "$BASE_PID" 5; BASE_PID=
  stop_pid "$NODE_PID" 5; NODE_PID=
  if [[ $CTL_FD_OPEN -eq 1 ]]; then exec 7>&-; CTL_FD_OPEN=0; fi  # stdin EOF for loadgen
  stop_pid "$LOADGEN_PID" 120; LOADGEN_PID=
  if [[ -n $NS ]]; then ip netns del "$NS" 2>/dev/null || true; NS=; fi
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  teardown_size
  rm -rf "$TMP"
  exit $rc
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# ---------------------------------------------------------------- helpers
median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) {print "n/a"; exit} if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }
hwm_mb() { awk '/^VmHWM:/ {printf "%.1f", $2/1024}' "/proc/$1/status" 2>/dev/null || echo n/a; }
rss_mb() { awk '/^VmRSS:/ {printf "%.1f", $2/1024}' "/proc/$1/status" 2>/dev/null || echo n/a; }
# CPU time (user+system, all threads, dead ones included) of a process in ms; 10 ms resolution.
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{sub(/.*\) /, ""); printf "%d\n", ($12 + $13) * 1000 / hz}' "/proc/$1/stat" 2>/dev/null || echo 0; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a+0 > 0 && b+0 > 0) printf "%.2f", a/b; else print "n/a" }'; }

# in_ns CMD...: run in the benchmark namespace
in_ns() { nice -n "$NICE" ip netns exec "$NS" "$@"; }
# exporter_curl ARGS...: curl where the exporter listens
exporter_curl() {
  if [[ $EXPORTER_MODE == netns-exec ]]; then in_ns curl "$@"; else nice -n "$NICE" curl "$@"; fi
}
# scrape_ms URL-runner...: prints time_total in ms of one scrape, or nothing on failure
scrape_ms() {  # scrape_ms netns|host URL
  local where=$1 url=$2 out
  if [[ $where == netns ]]; then
    out=$(in_ns curl -s -o /dev/null --max-time 120 -w '%{http_code} %{time_total}' "$url" || true)
  else
    out=$(nice -n "$NICE" curl -s -o /dev/null --max-time 120 -w '%{http_code} %{time_total}' "$url" || true)
  fi
  [[ ${out%% *} == 200 ]] && awk -v t="${out#* }" 'BEGIN {printf "%.2f\n", t*1000}'
  return 0
}
wait_http() {  # wait_http netns|host URL SECONDS PID: wait until the port accepts connections
  # Only a TCP connect, no HTTP request: a probe GET of /metrics that times out at 1M sockets
  # would start a full collection each time (node_exporter keeps collecting after the client
  # gave up: 75 probes piled up to 7.6 GB RSS in a first version of this script).
  local where=$1 url=$2 secs=$3 pid=$4 i hostport port
  hostport=${url#http://}; hostport=${hostport%%/*}; port=${hostport##*:}
  for ((i = 0; i < secs * 5; i++)); do
    kill -0 "$pid" 2>/dev/null || return 1
    if [[ $where == netns ]]; then
      ip netns exec "$NS" bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null && return 0
    else
      bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null && return 0
    fi
    sleep 0.2
  done
  return 1
}
# wait_tracker PORT PID LOG: an exporter with the state tracker (docs/architecture.md) serves
# from dumps until its namespaces are seeded; the runs measure what it serves afterwards. Waits
# (bounded) until it says the tracker is in use for every namespace, or that it has none.
wait_tracker() {
  local port=$1 pid=$2 log=$3 t0=$SECONDS m
  while ((SECONDS - t0 < 300)); do
    kill -0 "$pid" 2>/dev/null || return 1
    m=$(exporter_curl -s --max-time 120 "http://127.0.0.1:$port/metrics" || true)
    if ! grep -q '^sockstate_tracker_available 1' <<<"$m"; then return 0; fi
    if grep -q '^sockstate_tracker_in_use{' <<<"$m" && ! grep -q '^sockstate_tracker_in_use{.*} 0' <<<"$m"; then
      log "$log: tracker in use after $((SECONDS - t0)) s"
      echo "$log: tracker in use after $((SECONDS - t0)) s" >>"$RAW"
      return 0
    fi
    sleep 1
  done
  log "$log: tracker not in use after 300 s"
  return 0
}
metric_sum() {  # metric_sum NAME FILE [label filter regex]
  awk -v n="$1" -v f="${3:-}" '/^#/ {next} {m = $1; sub(/[{].*/, "", m)} m == n && (f == "" || $1 ~ f) {s += $NF} END {printf "%d\n", s}' "$2"
}

EXP_PORT=9977
NODE_PORT=9978
BASE_PORT=9979
if [[ $EXPORTER_MODE == config ]]; then
  EXP_PORT=$((20000 + RANDOM % 10000))
  BASE_PORT=$((EXP_PORT + 1))
  EXP_WHERE=host
else
  EXP_WHERE=netns
fi

IFS=, read -r -a SIZE_LIST <<<"$SIZES"
LARGEST=0
for n in "${SIZE_LIST[@]}"; do ((n > LARGEST)) && LARGEST=$n; done

{
  echo "# sockstate_exporter scale benchmark $STAMP"
  echo "# host: $(uname -r), $(nproc) cpus, $(awk '/MemTotal/ {print $2/1024/1024 " GiB"}' /proc/meminfo)"
  echo "# git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') ($(git -C "$ROOT" log -1 --format=%s 2>/dev/null | cut -c1-60))"
  echo "# sizes=$SIZES runs=$RUNS nice=$NICE exporter_mode=$EXPORTER_MODE exporter=$EXPORTER exporter_args=${EXPORTER_ARGS[*]:-none} baseline=${BASELINE:-none} baseline_args=${BASELINE_ARGS[*]:-none} node_exporter=${NODE_EXPORTER:-none}"
  echo "# population: ${TW_PERCENT}% TIME_WAIT, ipv6_fraction=$IPV6_FRACTION destinations=$DESTINATIONS sources=$SOURCES"
} >"$RAW"

declare -A R_FLOOR_CPU R_EXP_CPU R_NODE_CPU R_FLOOR R_EXP R_NODE R_EXP_HWM R_NODE_HWM R_EXP_HWM0 R_SOCKETS
declare -A R_BASE R_BASE_CPU R_BASE_HWM
STORM_LINE=

for N in "${SIZE_LIST[@]}"; do
  [[ $N =~ ^[0-9]+$ && $N -ge 2 ]] || { log "bad size $N"; exit 2; }
  TW=$((N * TW_PERCENT / 100))
  EST=$(((N - TW) / 2 * 2))
  NS=${SOCKBENCH_NETNS:-sockbench}-$$-$N
  log "size $N: namespace $NS, established=$EST time_wait=$TW"
  ip netns add "$NS"
  mkfifo "$TMP/ctl"
  # loadgen's stdin is a FIFO held open by this script: if the script dies, loadgen sees EOF.
  nice -n "$NICE" "$LOADGEN" --netns "$NS" --established "$EST" --time-wait "$TW" --ipv6-fraction "$IPV6_FRACTION" \
    --destinations "$DESTINATIONS" --sources "$SOURCES" --timeout $((60 + N / 5000)) \
    <"$TMP/ctl" >"$TMP/loadgen.out" 2>"$TMP/loadgen.err" &
  LOADGEN_PID=$!
  exec 7>"$TMP/ctl"; CTL_FD_OPEN=1
  rm -f "$TMP/ctl"
  t0=$SECONDS
  until grep -q '^READY' "$TMP/loadgen.out"; do
    if ! kill -0 "$LOADGEN_PID" 2>/dev/null || ((SECONDS - t0 > 90 + N / 5000)); then
      log "loadgen did not reach the population:"; tail -5 "$TMP/loadgen.err" >&2; exit 1
    fi
    sleep 0.5
  done
  log "$(cat "$TMP/loadgen.out") after $((SECONDS - t0)) s"
  { echo; echo "## size $N"; cat "$TMP/loadgen.out"; grep -v '^loadgen: sysctl' "$TMP/loadgen.err" | head -5; } >>"$RAW"

  # --- start the exporter
  EXP_OK=0
  if [[ -x $EXPORTER ]]; then
    if [[ $EXPORTER_MODE == netns-exec ]]; then
      nice -n "$NICE" ip netns exec "$NS" "$EXPORTER" --web.listen-address=127.0.0.1:$EXP_PORT "${EXPORTER_ARGS[@]}" >"$TMP/exporter.log" 2>&1 &
    else
      printf 'namespaces:\n  mode: list\n  names: [%s]\n' "$NS" >"$TMP/exporter.yml"
      nice -n "$NICE" "$EXPORTER" --web.listen-address=127.0.0.1:$EXP_PORT --config.file="$TMP/exporter.yml" "${EXPORTER_ARGS[@]}" >"$TMP/exporter.log" 2>&1 &
    fi
    EXPORTER_PID=$!
    if wait_http "$EXP_WHERE" "http://127.0.0.1:$EXP_PORT/metrics" 15 "$EXPORTER_PID" &&
       wait_tracker "$EXP_PORT" "$EXPORTER_PID" exporter; then
      EXP_OK=1
      R_EXP_HWM0[$N]=$(hwm_mb "$EXPORTER_PID")
    else
      log "exporter does not answer on /metrics:"; tail -3 "$TMP/exporter.log" >&2
      stop_pid "$EXPORTER_PID" 5; EXPORTER_PID=
    fi
  fi
  BASE_OK=0
  if [[ -n $BASELINE ]]; then
    if [[ $EXPORTER_MODE == netns-exec ]]; then
      nice -n "$NICE" ip netns exec "$NS" "$BASELINE" --web.listen-address=127.0.0.1:$BASE_PORT "${EXPORTER_ARGS[@]}" "${BASELINE_ARGS[@]}" >"$TMP/baseline.log" 2>&1 &
    else
      nice -n "$NICE" "$BASELINE" --web.listen-address=127.0.0.1:$BASE_PORT --config.file="$TMP/exporter.yml" "${EXPORTER_ARGS[@]}" "${BASELINE_ARGS[@]}" >"$TMP/baseline.log" 2>&1 &
    fi
    BASE_PID=$!
    if wait_http "$EXP_WHERE" "http://127.0.0.1:$BASE_PORT/metrics" 15 "$BASE_PID" &&
       wait_tracker "$BASE_PORT" "$BASE_PID" baseline; then BASE_OK=1
    else log "baseline exporter does not answer:"; tail -3 "$TMP/baseline.log" >&2; stop_pid "$BASE_PID" 5; BASE_PID=; fi
  fi
  NODE_OK=0
  if [[ -n $NODE_EXPORTER ]]; then
    nice -n "$NICE" ip netns exec "$NS" "$NODE_EXPORTER" --collector.disable-defaults --collector.tcpstat \
      --web.listen-address=127.0.0.1:$NODE_PORT >"$TMP/node.log" 2>&1 &
    NODE_PID=$!
    if wait_http netns "http://127.0.0.1:$NODE_PORT/metrics" 15 "$NODE_PID"; then NODE_OK=1
    else log "node_exporter does not answer"; stop_pid "$NODE_PID" 5; NODE_PID=; fi
  fi

  # --- warm-up + sanity: what does each one see?
  "$FLOOR" --netns "$NS" --runs 1 >"$TMP/floor.warm"
  R_SOCKETS[$N]=$(awk '/^run=/ {sub("sockets=", "", $3); print $3}' "$TMP/floor.warm")
  { echo "floor sees:"; grep '^state' "$TMP/floor.warm"; } >>"$RAW"
  if ((EXP_OK)); then
    exporter_curl -s --max-time 120 "http://127.0.0.1:$EXP_PORT/metrics" >"$TMP/exp.metrics" || true
    echo "exporter sees: established=$(metric_sum sockstate_tcp_sockets "$TMP/exp.metrics" 'state="established"') time_wait=$(metric_sum sockstate_tcp_sockets "$TMP/exp.metrics" 'state="time_wait"') tracker_in_use=$(metric_sum sockstate_tracker_in_use "$TMP/exp.metrics") dumps_total=$(metric_sum sockstate_netlink_dumps_total "$TMP/exp.metrics")" >>"$RAW"
  fi
  if ((BASE_OK)); then
    exporter_curl -s --max-time 120 "http://127.0.0.1:$BASE_PORT/metrics" >"$TMP/base.metrics" || true
    echo "baseline sees: established=$(metric_sum sockstate_tcp_sockets "$TMP/base.metrics" 'state="established"') time_wait=$(metric_sum sockstate_tcp_sockets "$TMP/base.metrics" 'state="time_wait"') tracker_in_use=$(metric_sum sockstate_tracker_in_use "$TMP/base.metrics") dumps_total=$(metric_sum sockstate_netlink_dumps_total "$TMP/base.metrics")" >>"$RAW"
  fi
  if ((NODE_OK)); then
    in_ns curl -s --max-time 120 "http://127.0.0.1:$NODE_PORT/metrics" >"$TMP/node.metrics" || true
    echo "node_exporter sees: $(grep '^node_tcp_connection_states' "$TMP/node.metrics" | tr '\n' ' ')" >>"$RAW"
  fi

  # --- interleaved runs: floor, exporter, node_exporter (same conditions for all three)
  : >"$TMP/f" ; : >"$TMP/e" ; : >"$TMP/n"; : >"$TMP/fc"; : >"$TMP/b"
  ec0=0; nc0=0; bc0=0
  ((EXP_OK)) && ec0=$(cpu_ms "$EXPORTER_PID")
  ((BASE_OK)) && bc0=$(cpu_ms "$BASE_PID")
  ((NODE_OK)) && nc0=$(cpu_ms "$NODE_PID")
  for ((r = 1; r <= RUNS; r++)); do
    fl_all=$(nice -n "$NICE" "$FLOOR" --netns "$NS" --runs 1)
    fl=$(grep '^run=' <<<"$fl_all")
    f=$(awk -F'[= ]' '{print $4}' <<<"$fl")
    awk -F'[= ]' '{print $8}' <<<"$fl" >>"$TMP/fc"
    tw_now=$(awk '$1 == "state" && $2 == "time_wait" {print $3}' <<<"$fl_all")
    echo "$f" >>"$TMP/f"
    e=; n=; b=
    if ((EXP_OK)); then e=$(scrape_ms "$EXP_WHERE" "http://127.0.0.1:$EXP_PORT/metrics"); [[ -n $e ]] && echo "$e" >>"$TMP/e"; fi
    if ((BASE_OK)); then b=$(scrape_ms "$EXP_WHERE" "http://127.0.0.1:$BASE_PORT/metrics"); [[ -n $b ]] && echo "$b" >>"$TMP/b"; fi
    if ((NODE_OK)); then n=$(scrape_ms netns "http://127.0.0.1:$NODE_PORT/metrics"); [[ -n $n ]] && echo "$n" >>"$TMP/n"; fi
    echo "run $r: floor_ms=$f exporter_ms=${e:-n/a} baseline_ms=${b:-n/a} node_exporter_ms=${n:-n/a} time_wait=${tw_now:-0} loadavg=$(cut -d' ' -f1 /proc/loadavg)" >>"$RAW"
    log "size $N run $r/$RUNS: floor ${f} ms, exporter ${e:-n/a} ms, baseline ${b:-n/a} ms, node_exporter ${n:-n/a} ms"
  done
  R_EXP_CPU[$N]=n/a; R_NODE_CPU[$N]=n/a; R_BASE_CPU[$N]=n/a; R_BASE_HWM[$N]=n/a
  ((BASE_OK)) && R_BASE_CPU[$N]=$(awk -v a="$bc0" -v b="$(cpu_ms "$BASE_PID")" -v r="$RUNS" 'BEGIN {printf "%.1f", (b-a)/r}')
  ((BASE_OK)) && R_BASE_HWM[$N]=$(hwm_mb "$BASE_PID")
  R_BASE[$N]=$(median <"$TMP/b")
  ((EXP_OK)) && R_EXP_CPU[$N]=$(awk -v a="$ec0" -v b="$(cpu_ms "$EXPORTER_PID")" -v r="$RUNS" 'BEGIN {printf "%.1f", (b-a)/r}')
  ((NODE_OK)) && R_NODE_CPU[$N]=$(awk -v a="$nc0" -v b="$(cpu_ms "$NODE_PID")" -v r="$RUNS" 'BEGIN {printf "%.1f", (b-a)/r}')
  R_FLOOR_CPU[$N]=$(median <"$TMP/fc")
  R_FLOOR[$N]=$(median <"$TMP/f")
  R_EXP[$N]=$(median <"$TMP/e")
  R_NODE[$N]=$(median <"$TMP/n")
  R_EXP_HWM[$N]=n/a; R_NODE_HWM[$N]=n/a
  ((EXP_OK)) && R_EXP_HWM[$N]=$(hwm_mb "$EXPORTER_PID")
  ((NODE_OK)) && R_NODE_HWM[$N]=$(hwm_mb "$NODE_PID")
  echo "cpu per scrape: floor_cpu_ms(median)=${R_FLOOR_CPU[$N]} exporter_cpu_ms(mean)=${R_EXP_CPU[$N]} node_exporter_cpu_ms(mean)=${R_NODE_CPU[$N]}" >>"$RAW"
  echo "medians: floor_ms=${R_FLOOR[$N]} exporter_ms=${R_EXP[$N]} node_exporter_ms=${R_NODE[$N]} exporter_VmHWM_MB=${R_EXP_HWM[$N]} (after start ${R_EXP_HWM0[$N]:-n/a}) node_exporter_VmHWM_MB=${R_NODE_HWM[$N]}" >>"$RAW"

  # --- scrape storm at the largest size
  if ((STORM && EXP_OK && N == LARGEST)); then
    log "storm: $STORM_SCRAPERS concurrent scrapes, --max-time $STORM_TIMEOUT"
    exporter_curl -s --max-time 120 "http://127.0.0.1:$EXP_PORT/metrics" >"$TMP/before.metrics" || true
    d0=$(metric_sum sockstate_netlink_dumps_total "$TMP/before.metrics")
    rss0=$(rss_mb "$EXPORTER_PID"); hwm0=$(hwm_mb "$EXPORTER_PID")
    for ((i = 0; i < STORM_SCRAPERS; i++)); do
      exporter_curl -s -o /dev/null --max-time "$STORM_TIMEOUT" -w '%{http_code}\n' \
        "http://127.0.0.1:$EXP_PORT/metrics" >"$TMP/storm.$i" 2>/dev/null &
    done
    wait_storm_deadline=$((SECONDS + STORM_TIMEOUT + 10))
    for ((i = 0; i < STORM_SCRAPERS; i++)); do
      while [[ ! -s $TMP/storm.$i ]] && ((SECONDS < wait_storm_deadline)); do sleep 0.1; done
    done
    answered=$(cat "$TMP"/storm.* 2>/dev/null | grep -c '^200$' || true)
    refused=$(cat "$TMP"/storm.* 2>/dev/null | grep -c '^503$' || true)
    timedout=$(cat "$TMP"/storm.* 2>/dev/null | grep -c '^000$' || true)
    rss_mid=$(rss_mb "$EXPORTER_PID")
    # Let in-flight work finish (a dump that nobody waits for any more), then check it still answers.
    sleep $(awk -v m="${R_EXP[$N]}" 'BEGIN {s = (m+0)/1000*3 + 1; if (s > 30) s = 30; printf "%d", s}')
    t_after=$(scrape_ms "$EXP_WHERE" "http://127.0.0.1:$EXP_PORT/metrics")
    exporter_curl -s --max-time 120 "http://127.0.0.1:$EXP_PORT/metrics" >"$TMP/after.metrics" || true
    d1=$(metric_sum sockstate_netlink_dumps_total "$TMP/after.metrics")
    rss1=$(rss_mb "$EXPORTER_PID"); hwm1=$(hwm_mb "$EXPORTER_PID")
    alive=no; [[ -n $t_after ]] && alive=yes
    # d0 was read by a scrape (its own dump included); after the storm two check scrapes ran
    # one dump each, the second one's value is d1. So the storm itself made d1 - d0 - 2 dumps.
    STORM_LINE="storm at $N sockets: $STORM_SCRAPERS scrapers --max-time ${STORM_TIMEOUT}s: 200 OK $answered, 503 $refused, timed out $timedout; dumps made by the storm: $((d1 - d0 - 2)) (sockstate_netlink_dumps_total $d0 -> $d1, minus 2 check scrapes); RSS before ${rss0} MB, during ${rss_mid} MB, after ${rss1} MB; VmHWM ${hwm0} -> ${hwm1} MB; answers afterwards: $alive (${t_after:-n/a} ms)"
    echo "$STORM_LINE" >>"$RAW"
    log "$STORM_LINE"
  fi
  log "size $N: tearing down"
  teardown_size
done

# ---------------------------------------------------------------- table
{
  echo
  echo "| sockets | floor ms | exporter ms | ratio exp/floor | exporter VmHWM MB | node_exporter ms | ratio exp/node | node_exporter VmHWM MB |"
  echo "|---|---|---|---|---|---|---|---|"
  for N in "${SIZE_LIST[@]}"; do
    echo "| $N (${R_SOCKETS[$N]:-?} in dump) | ${R_FLOOR[$N]} | ${R_EXP[$N]} | $(ratio "${R_EXP[$N]}" "${R_FLOOR[$N]}") | ${R_EXP_HWM[$N]} | ${R_NODE[$N]} | $(ratio "${R_EXP[$N]}" "${R_NODE[$N]}") | ${R_NODE_HWM[$N]} |"
  done
  echo
  echo "CPU time per scrape (user+system, ms; robust when other work shares the CPUs): floor median of its runs, exporter and node_exporter mean over the runs from /proc/PID/stat (10 ms ticks)"
  echo
  echo "| sockets | floor CPU ms | exporter CPU ms | ratio | node_exporter CPU ms | ratio exp/node |"
  echo "|---|---|---|---|---|---|"
  for N in "${SIZE_LIST[@]}"; do
    echo "| $N | ${R_FLOOR_CPU[$N]} | ${R_EXP_CPU[$N]} | $(ratio "${R_EXP_CPU[$N]}" "${R_FLOOR_CPU[$N]}") | ${R_NODE_CPU[$N]} | $(ratio "${R_EXP_CPU[$N]}" "${R_NODE_CPU[$N]}") |"
  done
  if [[ -n $BASELINE ]]; then
    echo
    echo "Against the baseline exporter ($BASELINE), measured interleaved in the same runs:"
    echo
    echo "| sockets | exporter ms | baseline ms | ratio exp/baseline | exporter/floor | baseline/floor | exporter CPU ms | baseline CPU ms | exporter VmHWM MB | baseline VmHWM MB |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    for N in "${SIZE_LIST[@]}"; do
      echo "| $N | ${R_EXP[$N]} | ${R_BASE[$N]} | $(ratio "${R_EXP[$N]}" "${R_BASE[$N]}") | $(ratio "${R_EXP[$N]}" "${R_FLOOR[$N]}") | $(ratio "${R_BASE[$N]}" "${R_FLOOR[$N]}") | ${R_EXP_CPU[$N]} | ${R_BASE_CPU[$N]} | ${R_EXP_HWM[$N]} | ${R_BASE_HWM[$N]} |"
    done
  fi
  if [[ -n $STORM_LINE ]]; then echo; echo "$STORM_LINE"; fi
  echo
  echo "medians of $RUNS interleaved runs; raw results: ${RAW#$ROOT/}"
} | tee -a "$RAW"
