#!/usr/bin/env bash
# Tier "fleet": 30 exporters, one Prometheus, one VictoriaMetrics, on one machine.
#
#   30 nodes, each a network namespace of its own (198.18.0.11-40 on veths to a bridge in a hub
#   namespace) with its own socket population (fleet_spec.py: idle, quiet, two sharing a
#   database in the hub, single hot destinations, pods read with namespaces.mode list, pods
#   behind the node's source NAT) and its own sockstate_exporter  <-  prometheus in the hub
#   (1 s scrapes, the SHIPPED per-node and fleet rules with `for:` shortened)  -- remote
#   write -->  victoria-metrics in the hub
#
# Checks (fleet_checks.py), each against the answer the population implies:
# - every fleet recording rule, the fleet alerts firing, and every query of the fleet
#   dashboard return exactly the expected nodes, pods, destinations and values;
# - the series of every instance stay within the budget table of README.md, a namespace below
#   detail_threshold has exactly its 5 netns series, host-wide values come once; Prometheus's head
#   series for the 30 exporters are measured and printed;
# - VictoriaMetrics, fed by the same Prometheus through remote write, answers every one of
#   those expressions (the rules' own expressions, not their recorded results) with the same
#   series and values (rates: the same series, both positive);
# Everything runs inside namespaces the test creates; waits are bounded; everything started
# is stopped and every namespace deleted by the EXIT trap, also on failure.
# Run by ctest (SOCKSTATE_EXPORTER_BIN, SOCKSTATE_SOURCE_DIR, SOCKSTATE_BUILD_DIR) or by hand as
# root: bash tests/fleet/test_fleet.sh. SOCKSTATE_KEEP_TMP as in tests/common/live.sh.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="${SOCKSTATE_SOURCE_DIR:-$(cd "$here/../.." && pwd)}"
build="${SOCKSTATE_BUILD_DIR:-$src/build}"
exporter="${SOCKSTATE_EXPORTER_BIN:-$build/exporter/sockstate_exporter}"
source "$src/tests/common/live.sh"

job=sockstate          # the job name the shipped rules expect (SockstateExporterDown)
alert_for=1s           # replaces the shipped `for:` in copies of the rules

# --- prerequisites
live_require fleet prometheus victoria-metrics promtool python3 curl ip nft nsenter unshare

live_init test_fleet sst-fleet
prefix="sst-fleet-$$"
hub="$prefix-hub"
fleet_teardown() { python3 "$here/fleet_spec.py" teardown --run-dir "$tmp"; }
live_cleanup_hooks+=(fleet_teardown)
in_hub() { ip netns exec "$hub" "$@"; }
checks() { bg ip netns exec "$hub" python3 "$here/fleet_checks.py" "$@"; }
wait_query() { bg ip netns exec "$hub" python3 "$src/tests/chain/live_checks.py" wait-query "$@" >/dev/null; }

# ---------------------------------------------------------------- the fleet
python3 "$here/fleet_spec.py" setup --run-dir "$tmp" --prefix "$prefix" || fail "fleet setup"
mark "30 node namespaces, hub, pods, NAT"
start population python3 "$here/population.py" --plan "$tmp/plan.json" \
  --status-file "$tmp/population.json" --max-seconds 900
deadline=$((SECONDS + 60))
until [[ -s "$tmp/population.json" ]]; do
  need_alive population
  ((SECONDS < deadline)) || fail "the population was not in place within 60 s"
  sleep 0.2
done
mark "population held"

nodes=()
while IFS=$'\t' read -r name ns listen config cf; do
  start "exporter-$name" ip netns exec "$ns" "$exporter" --web.listen-address="$listen" \
    --config.file="$tmp/$config" --collector.connect-failures="$cf" --log.level=warn
  nodes+=("$name")
done <"$tmp/nodes.tsv"
((${#nodes[@]} == 30)) || fail "expected 30 nodes in nodes.tsv, got ${#nodes[@]}"
checks wait-exporters --nodes "$tmp/nodes.tsv" --timeout 60 ||
  fail "not every exporter answered within 60 s"
mark "30 exporters answering"

# ---------------------------------------------------------------- prometheus, victoria-metrics
for r in sockstate-alerts sockstate-fleet-rules; do
  python3 "$src/tests/chain/gen_configs.py" rules "$src/config/prometheus/$r.yml" "$tmp/$r.yml" \
    --for "$alert_for" >/dev/null
done
python3 "$here/fleet_checks.py" prometheus-config "$tmp/prometheus.yml" --nodes "$tmp/nodes.tsv" \
  --job "$job" --rules "$tmp/sockstate-alerts.yml" --rules "$tmp/sockstate-fleet-rules.yml" \
  --remote-write http://127.0.0.1:8428/api/v1/write
promtool check config "$tmp/prometheus.yml" >/dev/null || fail "promtool check config on the generated config"
prom=http://127.0.0.1:9090
vm=http://127.0.0.1:8428
# -search.latencyOffset=0s: samples are queryable as soon as they are written (default 30 s);
# -search.disableCache: every query reads the data, no cached rollups of earlier queries.
start victoria-metrics ip netns exec "$hub" victoria-metrics -storageDataPath="$tmp/vm-data" \
  -httpListenAddr=127.0.0.1:8428 -retentionPeriod=1d -search.latencyOffset=0s \
  -search.disableCache -loggerLevel=WARN
start prometheus ip netns exec "$hub" prometheus --config.file="$tmp/prometheus.yml" \
  --storage.tsdb.path="$tmp/prom-data" --web.listen-address=127.0.0.1:9090 --log.level=warn \
  --storage.remote.flush-deadline=1s
for name in victoria-metrics prometheus; do
  url=$vm/health; [[ $name == prometheus ]] && url=$prom/-/ready
  deadline=$((SECONDS + 30))
  until in_hub curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
    need_alive "$name"
    ((SECONDS < deadline)) || fail "$name not ready within 30 s"
    sleep 0.2
  done
done
mark "prometheus and victoria-metrics ready"

# Every target scraped a few times, the rate windows filled (3 samples), the rules evaluated.
wait_query --prom "$prom" --timeout 60 \
  --expr "count(count_over_time(up{job=\"$job\"}[1m]) >= 4 and up{job=\"$job\"} == 1) == 30" ||
  fail "prometheus has not scraped all 30 exporters 4 times within 60 s"
wait_query --prom "$prom" --timeout 30 \
  --expr "count(ALERTS{alertstate=\"firing\", alertname=~\"SockstateFleet.*\"}) >= 3" ||
  fail "the fleet alerts did not fire within 30 s"
mark "30 targets scraped 4x, fleet alerts firing"
sleep 2  # the checks read the instant 1 s ago: after the alerts fired
# ---------------------------------------------------------------- exact answers
checks check --prom "$prom" --vm "$vm" --run-dir "$tmp" --src "$src" --job "$job" \
  --prefix "$prefix" --results "${SOCKSTATE_FLEET_RESULTS:-$build/fleet-results.json}" ||
  fail "fleet answers (above)"
mark "prometheus and victoria-metrics answers checked"

for name in "${order[@]}"; do need_alive "$name"; done
if grep -l -iE 'level=(error|fatal)' "$tmp"/exporter-*.log; then
  fail "an exporter logged errors (files above)"
fi
log "PASS"
