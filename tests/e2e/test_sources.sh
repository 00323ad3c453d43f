#!/usr/bin/env bash
# A failing source never fails the scrape: /metrics still answers 200, the failed source reads
# sockstate_scrape_source_success 0 and the others keep reporting. A missing optional file
# (IPv6 off, older kernel) is "no data": success 1, its series absent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=${SOCKSTATE_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
bin=${SOCKSTATE_EXPORTER_BIN:-$src/build/exporter/sockstate_exporter}
command -v promtool >/dev/null || { echo "tier e2e cannot run: promtool not found; run scripts/install-deps.sh --test"; exit 1; }
tmp=$(mktemp -d)
pid=""
stop() { if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; fi; }
trap 'stop; rm -rf "$tmp"' EXIT

scrape() {  # scrape <name> <exporter args...>: writes $tmp/<name>.prom
  local name=$1; shift
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$bin" --web.listen-address=127.0.0.1:$port "$@" >"$tmp/$name.log" 2>&1 &
  pid=$!
  local code=""
  for _ in $(seq 1 100); do
    code=$(curl -s -o "$tmp/$name.prom" -w '%{http_code}' "http://127.0.0.1:$port/metrics" || true)
    [[ $code == 200 ]] && break
    sleep 0.1
  done
  stop
  [[ $code == 200 ]] || { echo "FAIL $name: /metrics answered '$code'"; cat "$tmp/$name.log"; exit 1; }
  promtool check metrics < "$tmp/$name.prom"
}
expect() {  # expect <name> <exact line>
  grep -qxF "$2" "$tmp/$1.prom" || { echo "FAIL $1: missing line: $2"; grep -E "${2%%[{ ]*}" "$tmp/$1.prom" || true; exit 1; }
}
absent() {  # absent <name> <metric name>
  if grep -qE "^$2([{ ])" "$tmp/$1.prom"; then echo "FAIL $1: $2 should be absent"; exit 1; fi
}

# 1. Broken /proc: garbage port range, netstat with mismatched header/value counts.
scrape broken --path.procfs="$src/tests/fixtures/proc-broken" \
  --debug.replay-dump="$src/tests/fixtures/dumps/mixed.ssdiag"
expect broken 'sockstate_scrape_source_success{source="sysctl"} 0'
expect broken 'sockstate_scrape_source_success{source="netstat"} 0'
expect broken 'sockstate_scrape_source_success{source="netlink"} 1'
expect broken 'sockstate_tcp_sockets{family="ipv4",state="established"} 56'
absent broken sockstate_ephemeral_port_usable_ports        # range unknown: no budget, no occupancy
absent broken sockstate_destination_occupancy_ratio
absent broken sockstate_netstat_tcpext_tw_total
grep -q 'source sysctl failed' "$tmp/broken.log" || { echo "FAIL: sysctl failure not logged"; exit 1; }

# 2. Minimal /proc: only the port range and sockstat (IPv6 off, no netstat/snmp, old kernel).
scrape minimal --path.procfs="$src/tests/fixtures/proc-minimal" \
  --debug.replay-dump="$src/tests/fixtures/dumps/mixed.ssdiag"
for s in sysctl netlink sockstat sockstat6 netstat snmp; do
  expect minimal "sockstate_scrape_source_success{source=\"$s\"} 1"
done
expect minimal 'sockstate_sockstat_tcp_tw 14210'
expect minimal 'sockstate_ephemeral_port_usable_ports 28225'   # 28232 - 7 held by listeners
absent minimal sockstate_sockstat6_tcp6_inuse
absent minimal sockstate_sysctl_tcp_tw_reuse
absent minimal sockstate_snmp_tcp_activeopens_total

# 3. A failing dump (truncated recording): netlink 0, socket series absent, /proc still there.
scrape truncated --path.procfs="$src/tests/fixtures/proc" \
  --debug.replay-dump="$src/tests/fixtures/dumps/mixed-truncated.ssdiag"
expect truncated 'sockstate_scrape_source_success{source="netlink"} 0'
expect truncated 'sockstate_scrape_source_success{source="sysctl"} 1'
expect truncated 'sockstate_sysctl_tcp_max_tw_buckets 131072'
absent truncated sockstate_tcp_sockets
grep -q 'truncated record at offset 13920' "$tmp/truncated.log" || { echo "FAIL: dump error not logged with offset"; cat "$tmp/truncated.log"; exit 1; }

# 4. A missing procfs root entirely: every /proc source reports, nothing crashes.
scrape noproc --path.procfs="$tmp/does-not-exist" \
  --debug.replay-dump="$src/tests/fixtures/dumps/mixed.ssdiag"
expect noproc 'sockstate_scrape_source_success{source="sysctl"} 0'
expect noproc 'sockstate_scrape_source_success{source="netlink"} 1'
echo "sources end-to-end: OK"
