#!/usr/bin/env bash
# Per-namespace scrape cost: what reading one more network namespace adds to a scrape. See
# docs/namespaces.md ("Cost").
#
#   sudo bench/run_netns_cost_bench.sh [--namespaces 50] [--rounds 11] [--time-wait 10000]
#                                      [--build-dir DIR]
#
# --namespaces empty namespaces (lo up, no socket). Three exporters in mode list read the first
# 1, the first 10 and all of them (detail_threshold 0: every one dumped each scrape). The
# 1-namespace exporter is the baseline, measured in the same run: each of --rounds rounds
# scrapes the three in turn. Per scrape: its wall time (curl time_total) and the sum over the
# namespaces of sockstate_scrape_source_duration_seconds{source="netlink"} (the dumps).
# Printed per exporter: min and median of both, the ratio of the medians to the baseline's, and
# the cost of one more namespace: (K-namespace - 1-namespace) / (K - 1), min and median.
# Then once more with --time-wait TIME_WAIT sockets held level (loadgen) in one more namespace
# that no exporter reads: every dump walks past them in the kernel's shared established hash.
# Its baseline is the quiet phase above; the ratio of the two is printed per exporter.
# Loopback only, inside namespaces this script creates; all torn down on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NAMESPACES=50
ROUNDS=11
TIME_WAIT=10000
BUILD=$ROOT/build
while [[ $# -gt 0 ]]; do
  case $1 in
    --namespaces) NAMESPACES=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --time-wait) TIME_WAIT=$2; shift 2 ;;
    --build-dir) BUILD=$2; shift 2 ;;
    *) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
((NAMESPACES >= 10 && ROUNDS >= 1)) || { echo "--namespaces must be >= 10, --rounds >= 1"; exit 2; }
P=sstnc$$
source "$ROOT/bench/lib.sh"

log "$NAMESPACES empty namespaces"
for i in $(seq 0 $((NAMESPACES - 1))); do
  ns=$(printf '%s-%03d' "$P" "$i")
  ip netns add "$ns"
  ip -n "$ns" link set lo up
done
names() {  # names <k>: the YAML list of the first k namespaces
  local out="" i
  for i in $(seq 0 $(($1 - 1))); do out+="$(printf '%s-%03d' "$P" "$i"), "; done
  echo "[${out%, }]"
}
KS=(1 10 "$NAMESPACES")
declare -A port pid
for k in "${KS[@]}"; do
  read -r port[$k] pid[$k] < <(run_exporter "k$k" "$(printf 'namespaces:\n  mode: list\n  names: %s\n  detail_threshold: 0\n  max_namespaces: 4096\n  scrape_budget_seconds: 600\n' "$(names "$k")")")
  PIDS+=("${pid[$k]}")
done
for k in "${KS[@]}"; do  # up, and every namespace entered once (the first scrape opens them)
  for t in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:${port[$k]}/metrics" && break
    ((t < 100)) || { echo "exporter k$k did not answer:"; tail -5 "$TMP/k$k.log"; exit 1; }
    sleep 0.1
  done
  scrape "k$k" "${port[$k]}" >/dev/null
  got=$(grep -c '^sockstate_netns_info{' "$TMP/k$k.prom" || true)
  [[ $got -eq $k ]] || { echo "exporter k$k reads $got namespaces, not $k"; exit 1; }
done

# measure <phase>: ROUNDS rounds of one scrape of each exporter; fills wall_<phase>_<k> and
# dump_<phase>_<k> (milliseconds, space separated).
declare -A wall dump
measure() {
  local phase=$1 k t d
  for _ in $(seq 1 "$ROUNDS"); do
    for k in "${KS[@]}"; do
      t=$(scrape "k$k" "${port[$k]}")
      d=$(awk '/^sockstate_scrape_source_duration_seconds\{/ && /source="netlink"/ {s += $NF}
               END {printf "%.3f", s * 1000}' "$TMP/k$k.prom")
      wall[$phase,$k]+="$(awk -v t="$t" 'BEGIN {printf "%.3f", t * 1000}') "
      dump[$phase,$k]+="$d "
    done
  done
}
minimum() { tr ' ' '\n' | grep -v '^$' | sort -g | head -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a / b}'; }
per_ns() { awk -v a="$1" -v b="$2" -v k="$3" 'BEGIN {printf "%.2f", (a - b) / (k - 1)}'; }
# table <phase> <baseline phase or "">: one row per exporter.
table() {
  local phase=$1 base=$2 k w d wm dm w1 d1 w1m d1m
  w1=$(echo "${wall[$phase,1]}" | median); d1=$(echo "${dump[$phase,1]}" | median)
  w1m=$(echo "${wall[$phase,1]}" | minimum); d1m=$(echo "${dump[$phase,1]}" | minimum)
  echo "| namespaces read | scrape ms min / median | dumps ms, sum, min / median | scrape / 1 namespace (medians) | one more namespace: scrape ms min / median | one more namespace: dump ms min / median |${base:+ scrape / quiet phase (medians) |}"
  echo "|---|---|---|---|---|---|${base:+---|}"
  for k in "${KS[@]}"; do
    w=$(echo "${wall[$phase,$k]}" | median); d=$(echo "${dump[$phase,$k]}" | median)
    wm=$(echo "${wall[$phase,$k]}" | minimum); dm=$(echo "${dump[$phase,$k]}" | minimum)
    local more_w="(baseline)" more_d="(baseline)" vs_base=""
    if ((k > 1)); then
      more_w="$(per_ns "$wm" "$w1m" "$k") / $(per_ns "$w" "$w1" "$k")"
      more_d="$(per_ns "$dm" "$d1m" "$k") / $(per_ns "$d" "$d1" "$k")"
    fi
    [[ -z $base ]] || vs_base=" $(ratio "$w" "$(echo "${wall[$base,$k]}" | median)") |"
    echo "| $k | $wm / $w | $dm / $d | $(ratio "$w" "$w1") | $more_w | $more_d |$vs_base"
  done
}
# host_tcp: the TCP sockets of every namespace on the host, which every dump walks past: alloc
# (/proc/net/sockstat: all but TIME_WAIT) and TIME_WAIT (tw_sock_TCP* objects in /proc/slabinfo).
host_tcp() {
  echo "alloc $(awk '/^TCP:/ {for (i = 2; i < NF; i++) if ($i == "alloc") print $(i + 1)}' /proc/net/sockstat)," \
    "TIME_WAIT $(awk '/^tw_sock_TCP/ {s += $2} END {print s + 0}' /proc/slabinfo)"
}

log "quiet phase: $ROUNDS rounds (host TCP: $(host_tcp))"
measure quiet
log "$TIME_WAIT TIME_WAIT sockets in a namespace no exporter reads"
ip netns add "$P-foreign"
start_loadgen "$P-foreign" 0 1 1 1 "$TIME_WAIT"
log "loadgen: $(grep -m1 '^READY' "$TMP/$P-foreign.out")"
log "busy phase: $ROUNDS rounds (host TCP: $(host_tcp))"
measure busy

echo
echo "Empty namespaces, host otherwise quiet:"
echo
table quiet ""
echo
echo "Same, with $TIME_WAIT TIME_WAIT sockets in one more namespace that is not read:"
echo
table busy quiet
echo
echo "kernel $(uname -r), $(nproc) CPUs, $ROUNDS rounds, load average $(cut -d' ' -f1-3 /proc/loadavg)," \
  "host TCP at the end: $(host_tcp)"
