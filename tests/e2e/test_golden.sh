#!/usr/bin/env bash
# Golden end-to-end test: the built binary on recorded sock_diag dumps (TCP, UDP) and a fixture /proc
# tree; /metrics must equal tests/e2e/golden.prom (values that vary between runs are masked)
# and pass `promtool check metrics`. Rewrite the golden file with: test_golden.sh -u
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=${SOCKSTATE_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
bin=${SOCKSTATE_EXPORTER_BIN:-$src/build/exporter/sockstate_exporter}
golden=$here/golden.prom
command -v promtool >/dev/null || { echo "tier e2e cannot run: promtool not found; run scripts/install-deps.sh --test"; exit 1; }
[[ -x $bin ]] || { echo "tier e2e cannot run: exporter binary $bin not built"; exit 1; }

tmp=$(mktemp -d)
pid=""
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" --web.listen-address=127.0.0.1:$port --path.procfs="$src/tests/fixtures/proc" \
  --debug.replay-dump="$src/tests/fixtures/dumps/mixed.ssdiag" \
  --debug.replay-udp-dump="$src/tests/fixtures/dumps/udp.ssudp" \
  --config.file="$here/golden-config.yml" --collector.connect-failures=off \
  --collector.time-wait-owners=off --collector.tracker=off >"$tmp/log" 2>&1 &
# (connect failures come from kernel events, not from the fixtures: off keeps the golden file
# the same on every host; tests/kernel/connect_failures_kernel_test.cpp covers that source.)
pid=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/metrics" -o "$tmp/metrics" && break
  sleep 0.1
done
[[ -s $tmp/metrics ]] || { echo "exporter did not answer"; cat "$tmp/log"; exit 1; }

promtool check metrics < "$tmp/metrics"
# Mask what legitimately varies: source durations, build revision/compiler, load timestamp.
# (The self counters need no mask: this is the process's first scrape and its first dump.)
sed -E \
  -e 's/^(sockstate_scrape_source_duration_seconds\{[^}]*\}) .*/\1 <duration>/' \
  -e 's/^sockstate_build_info\{.*\} 1$/sockstate_build_info{<build>} 1/' \
  -e 's/^(sockstate_config_last_reload_success_timestamp_seconds) .*/\1 <timestamp>/' \
  "$tmp/metrics" > "$tmp/masked"

if [[ ${1:-} == -u ]]; then
  cp "$tmp/masked" "$golden"
  echo "rewrote $golden"
  exit 0
fi
if ! diff -u "$golden" "$tmp/masked"; then
  echo "FAIL: /metrics differs from $golden (rerun with -u to accept)"
  exit 1
fi
# The replayed dumps have 118 TCP and 15 UDP sockets; the fixture /proc tree is read by every
# source.
grep -q '^sockstate_netlink_dump_sockets 118$' "$tmp/metrics"
grep -q '^sockstate_udp_sockets{family="ipv4",state="unconnected"} 7$' "$tmp/metrics"
grep -c '^sockstate_scrape_source_success{source="[a-z0-9]*"} 1$' "$tmp/metrics" | grep -qx 9
echo "golden end-to-end: OK ($(wc -l < "$tmp/metrics") lines)"
