#!/usr/bin/env bash
# Many-namespaces benchmark: the occupancy bound (quiet namespaces not dumped) against dumping
# every namespace. See docs/namespaces.md ("Exact where it matters").
#
#   sudo bench/run_namespaces_bench.sh [--namespaces 200] [--hot 10] [--big 100000] [--runs 5]
#                                      [--build-dir DIR]
#
# One big namespace holding --big ESTABLISHED sockets (loadgen), --namespaces small ones with 4
# ESTABLISHED sockets each, except --hot of them with 40 whose ip_local_port_range is then cut to
# 100 ports, so that their bound is over the default threshold. Four exporters read them (mode list, one pattern):
#   floor     : only the big namespace (detail_threshold 0): the single-namespace cost
#   bounded   : every namespace, default detail_threshold (0.25)
#   every     : every namespace, detail_threshold 0 (every namespace dumped, as before the
#               occupancy bound)
#   tracker   : every namespace, counted from kernel events (--collector.tracker=on; the others
#               run with it off): no dump at all, every namespace exact
# Each is scraped --runs times, interleaved; prints the medians, the ratio every / bounded, the
# target (1 + detailed) x floor + 50 ms, and the peak RSS (VmHWM) of each exporter; then the
# tracker's scrape, its ratio to the floor, and whether its socket series equal those of
# "every" (which dumps every namespace) in every namespace.
# fds: the exporters start before the namespaces exist; their open fd counts (/proc/<pid>/fd)
# are taken then (after two scrapes), while the namespaces exist, and after every namespace is
# deleted (loadgens stopped, `ip netns del`, two scrapes so that the set forgets them). Exits 1
# after the table if bounded or every is not back to its baseline.
# Loopback only, inside namespaces this script creates; all torn down on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NAMESPACES=200
HOT=10
BIG=100000
RUNS=5
BUILD=$ROOT/build
while [[ $# -gt 0 ]]; do
  case $1 in
    --namespaces) NAMESPACES=$2; shift 2 ;;
    --hot) HOT=$2; shift 2 ;;
    --big) BIG=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --build-dir) BUILD=$2; shift 2 ;;
    *) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
P=${SOCKBENCH_NETNS:-sstnb}$$  # SOCKBENCH_NETNS: a name for the namespaces (e.g. who runs it)
source "$ROOT/bench/lib.sh"

common="  max_namespaces: 4096\n  scrape_budget_seconds: 600\n"
off=--collector.tracker=off
read -r floor_port floor_pid < <(run_exporter floor "$(printf "namespaces:\n  mode: list\n  names: [$P-big]\n  detail_threshold: 0\n$common")" $off)
read -r bounded_port bounded_pid < <(run_exporter bounded "$(printf "namespaces:\n  mode: list\n  pattern: \"$P-*\"\n$common")" $off)
read -r every_port every_pid < <(run_exporter every "$(printf "namespaces:\n  mode: list\n  pattern: \"$P-*\"\n  detail_threshold: 0\n$common")" $off)
read -r tracker_port tracker_pid < <(run_exporter tracker "$(printf "namespaces:\n  mode: list\n  pattern: \"$P-*\"\n$common")" --collector.tracker=on)
PIDS+=("$floor_pid" "$bounded_pid" "$every_pid" "$tracker_pid")
# Each answers once its BPF programs are loaded (the tracker's take seconds of verifier time).
for port in "$floor_port" "$bounded_port" "$every_port" "$tracker_port"; do
  for _ in $(seq 120); do curl -s -o /dev/null "http://127.0.0.1:$port/metrics" && break; sleep 0.5; done
done
fds() { ls "/proc/$1/fd" | wc -l; }
declare -A fd0 fd1 fd2
# Two scrapes of each exporter (so it has seen the namespaces come or go), then its fd count
# into the associative array named $1.
settle_fds() {
  local -n into=$1
  local e port_var pid_var
  for e in floor bounded every tracker; do
    port_var=${e}_port pid_var=${e}_pid
    scrape "$e" "${!port_var}" >/dev/null; scrape "$e" "${!port_var}" >/dev/null
    into[$e]=$(fds "${!pid_var}")
  done
}
settle_fds fd0
log "fds before the namespaces: floor/bounded/every/tracker ${fd0[floor]} / ${fd0[bounded]} / ${fd0[every]} / ${fd0[tracker]}"

log "big namespace: $BIG sockets"
ip netns add "$P-big"
start_loadgen "$P-big" "$BIG" 100 100 $((BIG / 9000 + 1))  # holders: fd limit
log "$NAMESPACES small namespaces ($HOT hot)"
for i in $(seq 1 "$NAMESPACES"); do
  ns=$(printf '%s-s%03d' "$P" "$i")
  ip netns add "$ns"
  if ((i <= HOT)); then
    start_loadgen "$ns" 40 1 1 1  # then 100 ports: bound ~0.7, exact 20 / 100 per tuple
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="60000 60099"
  else
    start_loadgen "$ns" 4 1 1 1
  fi
done

# The tracker counts the namespaces from their first socket (created after it started): wait
# until it serves every one of them (bounded: 10 minutes).
want=$((NAMESPACES + 1))
for ((i = 0; i < 600; i++)); do
  scrape tracker "$tracker_port" >/dev/null
  served=$(grep -c '^sockstate_tracker_in_use{.*} 1$' "$TMP/tracker.prom" || true)
  ((served >= want)) && break
  sleep 1
done
log "tracker serves $served of $want namespaces"
declare -A times
for r in $(seq 1 "$RUNS"); do
  for e in floor bounded every tracker; do
    port_var=${e}_port
    t=$(scrape "$e" "${!port_var}")
    times[$e]+="$t "
  done
  log "run $r: floor/bounded/every/tracker ${times[floor]% } / ${times[bounded]% } / ${times[every]% } / ${times[tracker]% } (cumulative)"
done
# Every namespace exact: the tracker's socket series equal those of the exporter that dumps
# every namespace (the population is quiet), namespace by namespace.
series_of() {  # series_of <family> <prom>: "labels value" of every series of that family, sorted
  python3 - "$1" "$2" <<'PY'
import re, sys
fam, path = sys.argv[1], sys.argv[2]
out = []
for line in open(path):
    m = re.match(r'^' + re.escape(fam) + r'\{(.*)\} (\S+)$', line)
    if m:
        labels = sorted(re.findall(r'([a-z_]+)="([^"]*)"', m.group(1)))
        out.append(" ".join(f"{k}={v}" for k, v in labels) + " " + m.group(2))
print("\n".join(sorted(out)))
PY
}
sockets_of() { series_of sockstate_tcp_sockets "$1"; }
dest_of() { series_of sockstate_destination_sockets "$1"; }
scrape every "$every_port" >/dev/null
scrape tracker "$tracker_port" >/dev/null
if diff <(sockets_of "$TMP/every.prom") <(sockets_of "$TMP/tracker.prom") >"$TMP/diff.states" &&
   diff <(dest_of "$TMP/every.prom") <(dest_of "$TMP/tracker.prom") >"$TMP/diff.dest"; then
  exact="every namespace equal ($(sockets_of "$TMP/tracker.prom" | grep -o 'netns=[^ ]*' | sort -u | wc -l) namespaces, $(dest_of "$TMP/tracker.prom" | wc -l) destination series)"
else
  exact="DIFFERENT: $(cat "$TMP/diff.states" "$TMP/diff.dest" | head -10 | tr '\n' ' ')"
fi
for e in floor bounded every tracker; do pid_var=${e}_pid; fd1[$e]=$(fds "${!pid_var}"); done
cp "$TMP/bounded.prom" "$TMP/bounded.last.prom"
log "namespaces gone: stopping loadgens, deleting namespaces"
stop_loadgens
delete_namespaces
settle_fds fd2
log "fds after: floor/bounded/every/tracker ${fd2[floor]} / ${fd2[bounded]} / ${fd2[every]} / ${fd2[tracker]}"
hwm() { awk '/VmHWM/ {print $2/1024 " MB"}' "/proc/$1/status"; }
detailed=$(grep -c '^sockstate_netns_detailed{.*} 1$' "$TMP/bounded.last.prom" || true)
read_ns=$(grep -c '^sockstate_netns_info{' "$TMP/bounded.last.prom" || true)
f=$(echo "${times[floor]}" | median)
b=$(echo "${times[bounded]}" | median)
v=$(echo "${times[every]}" | median)
k=$(echo "${times[tracker]}" | median)
target=$(awk -v f="$f" -v d="$detailed" 'BEGIN {print (1 + d) * f + 0.05}')
echo
fdcheck() {  # fdcheck <exporter>: "before / with namespaces / after, ok|NOT BACK"
  local e=$1 verdict=ok
  [[ ${fd2[$e]} -eq ${fd0[$e]} ]] || verdict="NOT BACK"
  echo "${fd0[$e]} / ${fd1[$e]} / ${fd2[$e]} $verdict"
}
echo "| namespaces read | detailed | floor s | bounded s | every ns dumped s | every / bounded | target (1+detailed) x floor + 50 ms | RSS bounded | RSS every | fds bounded before / with / after | fds every before / with / after |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
echo "| $read_ns | $detailed | $f | $b | $v | $(awk -v v="$v" -v b="$b" 'BEGIN {printf "%.1fx", v / b}') | $target | $(hwm "$bounded_pid") | $(hwm "$every_pid") | $(fdcheck bounded) | $(fdcheck every) |"
echo
echo "| tracker: namespaces served | tracker s (runs) | tracker / floor | RSS tracker | fds tracker before / with / after | exact |"
echo "|---|---|---|---|---|---|"
echo "| $served / $want | $k (${times[tracker]% }) | $(awk -v k="$k" -v f="$f" 'BEGIN {printf "%.3fx", k / f}') | $(hwm "$tracker_pid") | $(fdcheck tracker) | $exact |"
echo
echo "kernel $(uname -r), $(nproc) CPUs, big namespace $BIG sockets, runs $RUNS (medians), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "detailed: $(grep '^sockstate_netns_detailed{.*} 1$' "$TMP/bounded.last.prom" | grep -o 'reason="[a-z_]*"' | sort | uniq -c | tr -s ' ' | tr '\n' ' ')"
for e in floor bounded every tracker; do
  if [[ ${fd2[$e]} -ne ${fd0[$e]} ]]; then
    echo "FAIL: $e exporter holds ${fd2[$e]} fds after the namespaces went away, ${fd0[$e]} before"
    ls -l "/proc/$(eval echo \$${e}_pid)/fd" >&2
    exit 1
  fi
done
