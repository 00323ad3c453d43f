#!/usr/bin/env bash
# Tier "chain": the live chain, end to end, on loopback.
#
#   hold_connections.py (in netns sst-chain-$$: port range 40000-40039, connect() to
#   127.0.0.2:5432 until EADDRNOTAVAIL)  <-  sockstate_exporter (host, reads that netns)
#   <-  prometheus (1s scrape, slower only if the host's dumps are; 1s evaluation; SHIPPED
#   rules with `for:` shortened)  ->  alertmanager
#   (SHIPPED routing, webhook URLs -> the test)  ->  webhook_receiver.py (this test)
#
# Checks: the critical alert fires and is delivered for destination "db" in the test netns;
# the connect() failures the load causes are counted by the kernel and their page
# (SockstateConnectFailuresNoLocalPort) is delivered too;
# the conntrack source reports NAT occupancy 1 for it (a ct rule in the netns tracks the load)
# and SockstateNatPortsOccupancyCritical fires;
# hold_udp_ports.py fills the same namespace's UDP ports (one connected socket, bind(0) until
# EADDRINUSE, one sendto() EAGAIN): UDP occupancy 1, exactly 2 UDP failures counted, and
# SockstateUdpPortsOccupancyCritical and SockstateUdpPortAllocationFailures are delivered;
# every query of the per-node dashboard evaluates without error against the live Prometheus
# and returns data; `promtool check metrics` accepts a scrape.
#
# Everything runs on 127.0.0.1 (host namespace) or inside the namespace the test creates; all
# waits are bounded; everything started is stopped by the EXIT trap, also on failure.
# Run by ctest (SOCKSTATE_EXPORTER_BIN, SOCKSTATE_SOURCE_DIR, SOCKSTATE_BUILD_DIR) or by hand
# as root: bash tests/chain/test_live_chain.sh
# The temp dir (configs, logs, payloads, scrapes) is kept on failure and removed on success;
# SOCKSTATE_KEEP_TMP=1 always keeps it, SOCKSTATE_KEEP_TMP=0 never does.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="${SOCKSTATE_SOURCE_DIR:-$(cd "$here/../.." && pwd)}"
build="${SOCKSTATE_BUILD_DIR:-$src/build}"
exporter="${SOCKSTATE_EXPORTER_BIN:-$build/exporter/sockstate_exporter}"

# --- scenario
ns="sst-chain-$$"
port_range="40000-40039"        # 40 ephemeral ports: exhausted by 40 connections
dest_addr="127.0.0.2"
dest_port=5432
dest_name="db"                  # the exporter's group name = the alert's destination label
time_wait_sockets=8             # of the 40 ports, 8 held by TIME_WAIT, 32 by ESTABLISHED
step_delay=0.25                 # one connect() per 0.25 s: ~8 s ramp after a baseline of 0
alert_for="5s"                  # replaces the shipped `for:` (2m for critical) in a copy
critical_alert="SockstateEphemeralPortsOccupancyCritical"
warning_alert="SockstateEphemeralPortsOccupancyHigh"
nat_critical_alert="SockstateNatPortsOccupancyCritical"
nat_warning_alert="SockstateNatPortsOccupancyHigh"
payload_timeout=120             # seconds from the end of the ramp to the delivered payload

source "$here/../common/live.sh"

# --- prerequisites
prometheus_bin="$(command -v prometheus || true)"
alertmanager_bin="$(command -v prometheus-alertmanager || command -v alertmanager || true)"
[[ -n "$prometheus_bin" ]] || fail "tier chain cannot run: prometheus not found; run scripts/install-deps.sh --test"
[[ -n "$alertmanager_bin" ]] || fail "tier chain cannot run: alertmanager (prometheus-alertmanager) not found; run scripts/install-deps.sh --test"
live_require chain promtool amtool python3 curl ip

live_init test_live_chain sst-chain

# Bounded waits run in the background and are waited for, so that a SIGTERM/SIGINT to this
# script is handled at once (bash runs traps only between foreground commands) and cleanup
# stops the wait too. `<&0` keeps stdin (bash gives background jobs /dev/null otherwise).
checks() { bg python3 "$here/live_checks.py" "$@"; }

# ---------------------------------------------------------------- namespace and receiver
# The socket dump of a namespace walks the kernel's established hash table, which every
# namespace shares by default: with many sockets elsewhere on the host (benchmarks), one
# dump can take seconds and 1 s scrapes time out. A namespace created from a namespace
# whose net.ipv4.tcp_child_ehash_entries is set gets a private table (6.1+). So: a parent
# namespace $ns-p with tcp_child_ehash_entries=1024, and the test namespace $ns created
# from it (nsenter into the parent's netns only; unshare binds the new netns onto
# /var/run/netns/$ns in the host's mount namespace, like `ip netns add`). On kernels without
# the sysctl, fall back to a plain `ip netns add` (shared table).
ip netns add "$ns-p" || fail "ip netns add $ns-p"
netns_created+=("$ns-p")
if ip netns exec "$ns-p" sysctl -qw net.ipv4.tcp_child_ehash_entries=1024 2>/dev/null &&
  touch "/var/run/netns/$ns" && netns_created+=("$ns") &&
  nsenter --net="/var/run/netns/$ns-p" unshare --net="/var/run/netns/$ns" true; then
  ehash="private, $(ip netns exec "$ns" sysctl -n net.ipv4.tcp_ehash_entries) entries"
else
  rm -f "/var/run/netns/$ns" 2>/dev/null || true
  ip netns add "$ns" || fail "ip netns add $ns"
  [[ " ${netns_created[*]} " == *" $ns "* ]] || netns_created+=("$ns")
  ehash="shared with the host"
fi
ip -n "$ns" link set lo up
# Conntrack in the namespace (a ct rule makes it track), so the NAT port model (source
# conntrack, docs/nat.md) sees the load's connections: no NAT here, so they are the host's own
# ("direct") entries, which hold reply tuples exactly like NATed ones. With the group's usable
# ports equal to the 40-port range, the NAT occupancy of db reaches 1.0 with the load.
ip netns exec "$ns" nft -f - <<'NFT' || fail "nft: conntrack rule in $ns"
table inet sst_chain {
  chain out {
    type filter hook output priority 0;
    ct state new counter
  }
}
NFT
mark "netns $ns created (established hash $ehash)"

start receiver python3 "$here/webhook_receiver.py" --port-file "$tmp/receiver.port" \
  --out "$tmp/payloads.jsonl" --max-seconds 600
deadline=$((SECONDS + 10))
until [[ -s "$tmp/receiver.port" ]]; do
  need_alive receiver
  ((SECONDS < deadline)) || fail "webhook receiver did not start within 10 s"
  sleep 0.1
done
receiver_url="http://127.0.0.1:$(cat "$tmp/receiver.port")"
wait_http receiver "$receiver_url/" 10

# ---------------------------------------------------------------- exporter
exporter_port=$(free_port)
instance="127.0.0.1:$exporter_port"
cat >"$tmp/sockstate.yml" <<EOF
destinations:
  groups:
    - name: $dest_name
      cidrs: [$dest_addr/32]
      ports: [$dest_port]
nat:
  groups:
    - name: $dest_name
      cidrs: [$dest_addr/32]
      ports: [$dest_port]
      protocol: tcp
      usable_ports: "$port_range"
namespaces:
  mode: list
  names: [$ns]
EOF
# UDP port-allocation failures from the system-call tracepoint: the kernel hook the default
# (auto) picks, fexit on udp_v4/v6_get_port, is refused on kernels that do not allow tracing
# programs, and this check must not depend on it (docs/udp.md#failures-counted-by-the-kernel).
start exporter "$exporter" --web.listen-address="$instance" --config.file="$tmp/sockstate.yml" \
  --collector.connect-failures.udp=syscalls
wait_http exporter "http://$instance/metrics" 15
curl -fsS --max-time 20 "http://$instance/metrics" >"$tmp/scrape0.txt"
grep -q "^sockstate_destination_occupancy_ratio{netns=\"$ns\",destination=\"$dest_name\"} 0" "$tmp/scrape0.txt" ||
  fail "exporter does not report destination $dest_name in netns $ns before the load:
$(grep -E '^sockstate_(destination_occupancy|netns)' "$tmp/scrape0.txt")"
mark "exporter ready ($instance)"

# Scrape interval (= timeout): 1 s, unless a scrape takes longer on this host. Even with a
# private established hash, the exporter asks for TCP_BOUND_INACTIVE (bit 13, 6.8+), which
# makes the kernel walk the bind hash table shared by all namespaces: ~0.1-0.2 s per family
# per scrape on a host with many sockets, more under load.
# A scrape that times out marks every series stale and resets the alerts' `for`, so use
# 2.5 x the slowest of 3 scrapes, rounded up, at most 10 s.
slowest=0
for _ in 1 2 3; do
  t=$(curl -fsS -o /dev/null -w '%{time_total}' --max-time 20 "http://$instance/metrics") ||
    fail "scrape of the exporter failed"
  slowest=$(awk -v a="$t" -v b="$slowest" 'BEGIN { print (a > b) ? a : b }')
done
scrape_interval_s=$(awk -v t="$slowest" 'BEGIN { s = int(t * 2.5 + 0.999); print (s < 1) ? 1 : (s > 10) ? 10 : s }')
log "slowest of 3 scrapes: ${slowest}s -> scrape interval and timeout ${scrape_interval_s}s"

# ---------------------------------------------------------------- configs
# The shipped rules with every `for:` shortened to $alert_for (the critical alert ships with
# 2m, the others with 5m-15m): without this the test would take minutes. Expressions, labels
# and annotations are the shipped ones (gen_configs.py checks that only `for` differs).
rules_src="$src/config/prometheus/sockstate-alerts.yml"
am_src="$src/config/alertmanager/alertmanager.yml"
python3 "$here/gen_configs.py" rules "$rules_src" "$tmp/sockstate-alerts.yml" --for "$alert_for"
promtool check rules "$tmp/sockstate-alerts.yml" >/dev/null || fail "promtool check rules on the generated copy"
alertmanager_port=$(free_port)
prometheus_port=$(free_port)
python3 "$here/gen_configs.py" prometheus "$tmp/prometheus.yml" --rules "$tmp/sockstate-alerts.yml" \
  --exporter "$instance" --alertmanager "127.0.0.1:$alertmanager_port" --scrape-interval "${scrape_interval_s}s"
promtool check config "$tmp/prometheus.yml" >/dev/null || fail "promtool check config on the generated config"
# The shipped Alertmanager routing, with its webhooks pointed at the receiver (path
# /<receiver name>) and group_wait/group_interval 1s.
python3 "$here/gen_configs.py" alertmanager "$am_src" "$tmp/alertmanager.yml" --webhook "$receiver_url"
amtool check-config "$tmp/alertmanager.yml" >/dev/null || fail "amtool check-config on the generated config"
critical_receiver="$(amtool config routes test --config.file="$tmp/alertmanager.yml" \
  severity=critical alertname="$critical_alert" instance="$instance" destination="$dest_name" netns="$ns" | tail -n1)"
[[ -n "$critical_receiver" ]] || fail "no receiver for severity=critical in the shipped Alertmanager routing"
log "shipped routing sends severity=critical to receiver '$critical_receiver'"

# ---------------------------------------------------------------- alertmanager, prometheus
am_url="http://127.0.0.1:$alertmanager_port"
start alertmanager "$alertmanager_bin" --config.file="$tmp/alertmanager.yml" \
  --storage.path="$tmp/am-data" --web.listen-address="127.0.0.1:$alertmanager_port" \
  --cluster.listen-address=
wait_http alertmanager "$am_url/-/ready" 30
mark "alertmanager ready"

prom_url="http://127.0.0.1:$prometheus_port"
start prometheus "$prometheus_bin" --config.file="$tmp/prometheus.yml" \
  --storage.tsdb.path="$tmp/prom-data" --web.listen-address="127.0.0.1:$prometheus_port" \
  --rules.alert.resend-delay=1s --log.level=warn
wait_http prometheus "$prom_url/-/ready" 30
mark "prometheus ready"
# A baseline sample of the destination before the load, so the ramp is seen as growth.
checks wait-query --prom "$prom_url" --timeout 30 \
  --expr "sockstate_destination_occupancy_ratio{job=\"sockstate\",instance=\"$instance\",netns=\"$ns\",destination=\"$dest_name\"} == 0" >/dev/null ||
  fail "prometheus has no baseline sample of destination $dest_name"
mark "first scrape with destination $dest_name seen"

# ---------------------------------------------------------------- load: drive db to exhaustion
start load ip netns exec "$ns" python3 "$here/hold_connections.py" --status-file "$tmp/load.status" \
  --range "$port_range" --listen "$dest_addr:$dest_port" --time-wait "$time_wait_sockets" \
  --step-delay "$step_delay" --max-seconds 300
deadline=$((SECONDS + 45))
until [[ -s "$tmp/load.status" ]]; do
  need_alive load
  ((SECONDS < deadline)) || fail "load did not reach EADDRNOTAVAIL within 45 s"
  sleep 0.2
done
log "load: $(cat "$tmp/load.status")"
mark "load: connect() -> EADDRNOTAVAIL, ports held"

# One scrape of the loaded exporter: valid exposition format, db at 100%. A scrape that
# arrives while Prometheus's scrape is dumping shares that dump (single-flight), which may
# have started before the last connect(): retry a few times (bounded) for the 100%.
for attempt in 1 2 3 4 5; do
  curl -fsS --max-time 10 "http://$instance/metrics" >"$tmp/scrape1.txt"
  grep -q "^sockstate_destination_occupancy_ratio{netns=\"$ns\",destination=\"$dest_name\"} 1$" "$tmp/scrape1.txt" && break
  ((attempt < 5)) || fail "exporter does not report occupancy 1 for $dest_name after exhaustion:
$(grep -E '^sockstate_destination_(occupancy|ephemeral|sockets)|^sockstate_ephemeral' "$tmp/scrape1.txt")"
  sleep 1
done
grep -q "^sockstate_nat_occupancy_ratio{netns=\"$ns\",destination=\"$dest_name\",protocol=\"tcp\"} 1$" "$tmp/scrape1.txt" ||
  fail "exporter does not report NAT occupancy 1 for $dest_name (40 conntrack entries, 40 usable):
$(grep -E '^sockstate_(nat_|conntrack_(entries|dump|tcp))' "$tmp/scrape1.txt")"
promtool check metrics <"$tmp/scrape1.txt" || fail "promtool check metrics on a scrape of the exporter"
# Every metric family of the live scrape is named in docs/metrics-spec.md (the dashboards and
# rules are checked against the spec, so an undocumented family is invisible to them).
known_undocumented=""
python3 - "$src/tests/common" "$src/docs/metrics-spec.md" "$tmp/scrape1.txt" $known_undocumented <<'PY' ||
import re, sys
sys.path.insert(0, sys.argv[1])
from metrics_spec import spec_metric_names
spec = spec_metric_names(sys.argv[2])
known = set(sys.argv[4:])
fams = set(re.findall(r"^# TYPE (\S+) ", open(sys.argv[3]).read(), re.M))
extra = sorted(fams - spec - known)
for k in sorted((fams - spec) & known):
    print(f"test_live_chain: known gap: {k} exported but not in docs/metrics-spec.md")
if extra:
    sys.exit(f"exported but not in docs/metrics-spec.md: {extra}")
PY
  fail "the scrape has metric families the spec does not name"

# ---------------------------------------------------------------- the alert, end to end
sel="instance=\"$instance\",netns=\"$ns\",destination=\"$dest_name\""
checks wait-query --prom "$prom_url" --timeout 60 \
  --expr "ALERTS{alertname=\"$critical_alert\",alertstate=\"firing\",severity=\"critical\",$sel}" >/dev/null ||
  fail "$critical_alert not firing in prometheus"
mark "prometheus: $critical_alert firing"

checks wait-payload "$tmp/payloads.jsonl" --timeout "$payload_timeout" \
  --alertname "$critical_alert" --path "/$critical_receiver" \
  --label severity=critical --label job=sockstate --label instance="$instance" \
  --label netns="$ns" --label destination="$dest_name" \
  --mention "$dest_name" --mention "$instance" >"$tmp/payload.json" ||
  fail "the critical alert for destination $dest_name was not delivered to the webhook"
mark "webhook: $critical_alert delivered"
log "delivered payload:"
cat "$tmp/payload.json"
python3 - "$tmp/payload.json" "$ns" <<'PY' || fail "payload annotations"
import json, sys
rec = json.load(open(sys.argv[1]))
al = [a for a in rec["body"]["alerts"] if a["labels"]["alertname"].endswith("Critical")][0]
ann = al["annotations"]
assert f"(netns {sys.argv[2]})" in ann["description"], "description does not name the netns"
assert "EADDRNOTAVAIL" in ann["description"], "description does not name EADDRNOTAVAIL"
assert "100%" in ann["summary"], f"summary does not show 100%: {ann['summary']!r}"
assert ann.get("runbook_url", "").endswith("#sockstateephemeralportsoccupancycritical"), ann.get("runbook_url")
assert rec["body"]["receiver"] == rec["path"].lstrip("/")
print("test_live_chain: payload annotations OK")
PY

# The NAT port model of the same load (conntrack source): its critical alert fires too.
checks wait-query --prom "$prom_url" --timeout 60 \
  --expr "ALERTS{alertname=\"$nat_critical_alert\",alertstate=\"firing\",severity=\"critical\",protocol=\"tcp\",$sel}" >/dev/null ||
  fail "$nat_critical_alert not firing in prometheus"
mark "prometheus: $nat_critical_alert firing"

# The warning (>= 50%) fires too in Prometheus; Alertmanager inhibits it (shipped inhibit
# rule) once the critical one is there, so its delivery is not asserted.
checks wait-query --prom "$prom_url" --timeout 20 \
  --expr "ALERTS{alertname=\"$warning_alert\",alertstate=\"firing\",$sel}" >/dev/null ||
  fail "$warning_alert not firing in prometheus"
# connect() failures counted by the kernel (--collector.connect-failures, default auto; root
# here): the load's own EADDRNOTAVAIL failures towards db are counted, and the page for them
# (SockstateConnectFailuresNoLocalPort, critical) fires and is delivered to the pager too.
cf_alert="SockstateConnectFailuresNoLocalPort"
checks wait-query --prom "$prom_url" --timeout 20 \
  --expr "sockstate_connect_failures_available{instance=\"$instance\"} == 1" >/dev/null ||
  fail "the exporter does not count connect() failures (sockstate_connect_failures_available != 1):
$(grep -E 'connect' "$tmp/exporter.log" | head -5)"
checks wait-query --prom "$prom_url" --timeout 20 \
  --expr "sockstate_connect_failures_total{$sel,reason=\"no_local_port\"} >= 1" >/dev/null ||
  fail "no no_local_port failure counted for $dest_name although the load hit EADDRNOTAVAIL"
checks wait-query --prom "$prom_url" --timeout 60 \
  --expr "ALERTS{alertname=\"$cf_alert\",alertstate=\"firing\",severity=\"critical\",reason=\"no_local_port\",$sel}" >/dev/null ||
  fail "$cf_alert not firing in prometheus"
mark "prometheus: $cf_alert firing"
checks wait-payload "$tmp/payloads.jsonl" --timeout "$payload_timeout" \
  --alertname "$cf_alert" --path "/$critical_receiver" \
  --label severity=critical --label job=sockstate --label instance="$instance" \
  --label netns="$ns" --label destination="$dest_name" --label reason=no_local_port \
  --mention "$dest_name" --mention "$instance" >/dev/null ||
  fail "$cf_alert for destination $dest_name was not delivered to the webhook"
mark "webhook: $cf_alert delivered"

# ---------------------------------------------------------------- UDP: the namespace's one budget
# UDP ports are not per destination: the namespace's range (the same 40 ports, which the TCP
# load does not use for UDP) is filled by one connected socket and bind(0)s until EADDRINUSE;
# one more sendto() fails with EAGAIN. Occupancy 1.0, exactly 2 failures counted, and both
# UDP pages (occupancy critical, allocation failures) delivered.
start udp_load ip netns exec "$ns" python3 "$here/hold_udp_ports.py" --status-file "$tmp/udp.status" \
  --connect "$dest_addr:$dest_port" --max-seconds 300
deadline=$((SECONDS + 20))
until [[ -s "$tmp/udp.status" ]]; do
  need_alive udp_load
  ((SECONDS < deadline)) || fail "UDP load did not fill the range within 20 s"
  sleep 0.2
done
log "UDP load: $(cat "$tmp/udp.status")"
udp_sel="instance=\"$instance\",netns=\"$ns\""
checks wait-query --prom "$prom_url" --timeout 20 \
  --expr "sockstate_udp_occupancy_ratio{$udp_sel} == 1" >/dev/null ||
  fail "UDP occupancy of netns $ns is not 1 with the range full: $(curl -fsS --max-time 10 "http://$instance/metrics" | grep -E '^sockstate_udp_(occupancy|ephemeral)')"
checks wait-query --prom "$prom_url" --timeout 20 \
  --expr "sockstate_udp_destination_sockets{$udp_sel,destination=\"$dest_name\"} == 1" >/dev/null ||
  fail "the connected UDP socket towards $dest_name is not counted"
checks wait-query --prom "$prom_url" --timeout 20 \
  --expr "sockstate_connect_failures_total{$udp_sel,protocol=\"udp\",reason=\"no_local_port\"} == 2" >/dev/null ||
  fail "not exactly 2 UDP port-allocation failures counted (bind(0) EADDRINUSE, sendto() EAGAIN): $(curl -fsS --max-time 10 "http://$instance/metrics" | grep -E 'connect_failures_(total\{.*udp|udp_available)')"
mark "UDP: occupancy 1, the connected socket and 2 failures counted"
udp_critical_alert="SockstateUdpPortsOccupancyCritical"
udp_warning_alert="SockstateUdpPortsOccupancyHigh"
udp_failures_alert="SockstateUdpPortAllocationFailures"
for a in "$udp_critical_alert" "$udp_failures_alert" "$udp_warning_alert"; do
  checks wait-query --prom "$prom_url" --timeout 60 \
    --expr "ALERTS{alertname=\"$a\",alertstate=\"firing\",$udp_sel}" >/dev/null ||
    fail "$a not firing in prometheus"
done
mark "prometheus: $udp_critical_alert, $udp_failures_alert, $udp_warning_alert firing"
checks wait-payload "$tmp/payloads.jsonl" --timeout "$payload_timeout" \
  --alertname "$udp_critical_alert" --path "/$critical_receiver" \
  --label severity=critical --label job=sockstate --label instance="$instance" --label netns="$ns" \
  --mention "$instance" --mention "100%" >/dev/null ||
  fail "$udp_critical_alert was not delivered to the webhook"
checks wait-payload "$tmp/payloads.jsonl" --timeout "$payload_timeout" \
  --alertname "$udp_failures_alert" --path "/$critical_receiver" \
  --label severity=critical --label job=sockstate --label instance="$instance" --label netns="$ns" \
  --label protocol=udp --label reason=no_local_port --mention "$instance" >/dev/null ||
  fail "$udp_failures_alert was not delivered to the webhook"
mark "webhook: $udp_critical_alert and $udp_failures_alert delivered"

# No other alert fires: the exporter is up and every source and the namespace are read
# (SockstateExporterDown, SourceFailing, NetnsScrapeFailing), no CLOSE_WAIT or TIME_WAIT
# overflow. Only the occupancy alerts (TCP, NAT, UDP), the failure pages and the exhaustion
# forecast (the ramp extrapolated over 1 h) are expected.
expected_alerts="$critical_alert|$warning_alert|SockstateEphemeralPortsExhaustionForecast|$nat_critical_alert|$nat_warning_alert|$cf_alert|$udp_critical_alert|$udp_warning_alert|$udp_failures_alert"
unexpected="$(checks value --prom "$prom_url" \
  --expr "count(ALERTS{alertstate=\"firing\",alertname!~\"$expected_alerts\"})")"
[[ "$unexpected" == none ]] || fail "unexpected alerts firing: $(checks wait-query --prom "$prom_url" --timeout 1 \
  --expr "ALERTS{alertstate=\"firing\",alertname!~\"$expected_alerts\"}")"
# Recording rules evaluate on live data: no headroom left; a time to exhaustion (0 s) while
# the 10 m window still shows the ramp.
checks wait-query --prom "$prom_url" --timeout 10 \
  --expr "sockstate:destination_ephemeral_ports_headroom{$sel} == 0" >/dev/null ||
  fail "recording rule sockstate:destination_ephemeral_ports_headroom is not 0 for $dest_name"
checks wait-query --prom "$prom_url" --timeout 10 \
  --expr "sockstate:destination_seconds_to_exhaustion:deriv10m{$sel}" >/dev/null ||
  fail "recording rule sockstate:destination_seconds_to_exhaustion:deriv10m has no value for $dest_name"

# ---------------------------------------------------------------- dashboard queries
# rate(...[1m]) needs two samples in the window: more than enough by now, but make sure of
# it rather than assume.
checks wait-query --prom "$prom_url" --timeout 40 \
  --expr "count_over_time(sockstate_snmp_tcp_activeopens_total{instance=\"$instance\"}[1m]) >= 3" >/dev/null ||
  fail "fewer than 3 samples of the exporter in the last minute"

# Panels allowed to return no data in this scenario (PANEL_ID:REFID), and why. Everything
# else must return at least one series: every series the dashboard plots exists here
# (db ramps then holds TIME_WAIT + ESTABLISHED sockets; counters are present at 0).
allow_empty=()
#  - Kernel settings, tcp_tw_reuse_delay: the sysctl exists only on 6.14+ kernels; the
#    exporter omits the series when it is absent.
if ! ip netns exec "$ns" test -e /proc/sys/net/ipv4/tcp_tw_reuse_delay; then
  allow_empty+=(--allow-empty "$(python3 - "$src/dashboards/sockstate.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ps = d["panels"] + [c for p in d["panels"] for c in p.get("panels", [])]
print(next(f"{p['id']}:{t['refId']}" for p in ps for t in p.get("targets", [])
           if "tcp_tw_reuse_delay" in t.get("expr", "")))
PY
)")
fi
#  - "Estimated time to exhaustion" is NOT in this list: it returns data only while the
#    fullest tuple grew within the last 10 minutes, which the ramp above guarantees here
#    (its value is 0 s: no headroom left).

# The per-node dashboard (one exporter here); the fleet dashboard needs a fleet and is checked,
# query by query against exact answers, by tests/fleet/test_fleet.sh.
dashboards=("$src/dashboards/sockstate.json")
rc=0
for dash in "${dashboards[@]}"; do
  checks variables --prom "$prom_url" --dashboard "$dash" --var instance="$instance" \
    --expect instance="$instance" --expect destination="$dest_name" --expect netns="$ns" || rc=1
  # Grafana's "All" (allValue .*) and a single selected destination.
  for destination in '.*' "$dest_name"; do
    log "== $(basename "$dash"): every panel query, instance=$instance destination=$destination"
    python3 "$src/tests/dashboards/check_dashboard.py" --print-queries --instance "$instance" \
      --destination "$destination" --rate-interval 1m --interval 1s --range 5m "$dash" \
      >"$tmp/queries.jsonl" || fail "check_dashboard.py --print-queries $dash"
    checks queries --prom "$prom_url" --range-seconds 60 --step 1s "${allow_empty[@]}" \
      <"$tmp/queries.jsonl" || rc=1
  done
done
((rc == 0)) || fail "dashboard queries against the live prometheus"
mark "dashboard queries evaluated"

# Nothing died along the way.
for name in "${order[@]}"; do need_alive "$name"; done
grep -iE 'level=(error|fatal)' "$tmp/exporter.log" && fail "exporter logged errors"
log "received $(wc -l <"$tmp/payloads.jsonl") webhook payload(s): $(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l); b = r["body"]
    print(r["path"], b.get("status"), sorted({a["labels"]["alertname"] for a in b.get("alerts", [])}), end="; ")
' "$tmp/payloads.jsonl")"
for stat in "max_over_time(scrape_duration_seconds{job=\"sockstate\"}[10m])" \
  "max_over_time(sockstate_netns_scrape_duration_seconds{netns=\"$ns\"}[10m])" \
  "count_over_time(up{job=\"sockstate\"}[10m])" \
  "count_over_time(up{job=\"sockstate\"}[10m]) - sum_over_time(up{job=\"sockstate\"}[10m])"; do
  log "stat: $stat = $(checks value --prom "$prom_url" --expr "$stat" || true)"
done
mark "done"
log "PASS"
