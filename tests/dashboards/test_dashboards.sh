#!/usr/bin/env bash
# Tier "dashboards": structure of the Grafana dashboards and their provisioning files, and
# PromQL syntax of every panel query. Run by ctest (SOCKSTATE_SOURCE_DIR=<repo root>) or by
# hand: bash tests/dashboards/test_dashboards.sh
set -euo pipefail

src="${SOCKSTATE_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
cd "$src"

fail() { echo "test_dashboards: FAIL: $*" >&2; exit 1; }
for tool in python3 promtool; do
  command -v "$tool" >/dev/null 2>&1 ||
    fail "tier dashboards cannot run: $tool not found; run scripts/install-deps.sh --test"
done
python3 -c 'import yaml' 2>/dev/null ||
  fail "tier dashboards cannot run: python3-yaml not found; run scripts/install-deps.sh --test"

checker=tests/dashboards/check_dashboard.py
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

shopt -s nullglob
dashboards=(dashboards/*.json)
((${#dashboards[@]})) || fail "no dashboards/*.json"

# What the issue asks the overview dashboard to show.
required=(
  sockstate_tcp_sockets                                  # socket states over time
  sockstate_destination_occupancy_ratio                  # ranked + over time, 50/85% lines
  sockstate_destination_ephemeral_ports_used_max         # time to exhaustion
  sockstate_ephemeral_port_usable_ports
  sockstate_destination_time_wait_remaining_seconds_bucket  # TIME_WAIT lifetime heatmap
  sockstate_tuple_occupancy_ratio_bucket                 # histogram over all tuples
  sockstate_snmp_tcp_activeopens_total                   # churn vs usable / 60 s
  sockstate_netstat_tcpext_twrecycled_total
  sockstate_netstat_tcpext_tcptimewaitoverflow_total
  sockstate_ephemeral_port_range_ports sockstate_ephemeral_port_reserved_ports
  sockstate_ephemeral_port_bind_held_ports
  sockstate_sysctl_ip_local_port_range_low sockstate_sysctl_tcp_tw_reuse
  sockstate_sysctl_tcp_max_tw_buckets
  sockstate_scrape_source_success sockstate_scrape_source_duration_seconds
  sockstate_destinations_folded
  sockstate_connect_failures_total sockstate_workload_connect_failures_total  # per destination, per workload
  sockstate_netns_occupancy_bound_ratio sockstate_netns_detailed  # namespaces by bound, with the reason
  sockstate_destination_workload_ephemeral_ports_used sockstate_destination_workload_sockets  # who holds the ports
  sockstate_time_wait_owners_available sockstate_time_wait_unknown_owner_sockets
  sockstate_udp_occupancy_ratio sockstate_udp_ephemeral_ports_used  # UDP: one budget per namespace,
  sockstate_udp_local_address_occupancy_ratio            # per local address,
  sockstate_udp_destination_sockets sockstate_udp_sockets  # connected destinations, states,
  sockstate_connect_failures_udp_available sockstate_snmp_udp_noports_total  # failures, errors
)
req_args=()
for m in "${required[@]}"; do req_args+=(--require "$m"); done

rules=(--rules config/prometheus/sockstate-alerts.yml --rules config/prometheus/sockstate-fleet-rules.yml)
# The fleet dashboard reads every fleet recording rule (so none is recorded for nothing).
fleet_req=()
for m in $(sed -n 's/^ *- record: *\([a-z_]*:sockstate_[a-z0-9_]*:[a-z0-9_]*\) *$/\1/p' config/prometheus/sockstate-fleet-rules.yml); do
  fleet_req+=(--require "$m")
done
((${#fleet_req[@]} >= 9)) || fail "found only ${#fleet_req[@]} fleet recording rules"

echo "== structure: ${dashboards[*]}"
python3 "$checker" --spec docs/metrics-spec.md "${rules[@]}" "${dashboards[@]}" || fail "dashboard structure"
python3 "$checker" --spec docs/metrics-spec.md "${rules[@]}" "${req_args[@]}" dashboards/sockstate.json ||
  fail "the node dashboard lacks a panel the issue asks for"
python3 "$checker" --spec docs/metrics-spec.md "${rules[@]}" "${fleet_req[@]}" dashboards/sockstate-fleet.json ||
  fail "the fleet dashboard does not read every fleet recording rule"

echo "== stable uids"
for want in sockstate.json=sockstate-overview sockstate-fleet.json=sockstate-fleet; do
  uid="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["uid"])' "dashboards/${want%%=*}")"
  [[ "$uid" == "${want#*=}" ]] || fail "dashboards/${want%%=*} uid is '$uid', expected ${want#*=}"
done

echo "== panel-specific expectations"
python3 - dashboards/sockstate.json <<'PY' || fail "panel expectations"
import json, sys
d = json.load(open(sys.argv[1]))
panels = [p for p in d["panels"]] + [c for p in d["panels"] for c in p.get("panels", [])]
def find(metric):
    return [p for p in panels for t in p.get("targets", []) if metric in t.get("expr", "")]
errs = []
for p in find("sockstate_destination_time_wait_remaining_seconds_bucket"):
    if p["type"] != "heatmap" or any(t.get("format") != "heatmap" for t in p["targets"]):
        errs.append(f"panel {p['id']}: TIME_WAIT lifetime must be a heatmap panel with format=heatmap")
    if any("rate(" in t["expr"] or "increase(" in t["expr"] for t in p["targets"]):
        errs.append(f"panel {p['id']}: the TIME_WAIT histogram is a snapshot (gauge buckets); no rate()")
churn = find("sockstate_snmp_tcp_activeopens_total")
if not any("sockstate_ephemeral_port_usable_ports" in t["expr"] and "/ 60" in t["expr"]
           for p in churn for t in p["targets"]):
    errs.append("the ActiveOpens panel does not show the sustainable rate usable / 60")
tte = [p for p in find("deriv(sockstate_destination_ephemeral_ports_used_max") ]
if not tte or not any("> 0" in t["expr"] for p in tte for t in p["targets"]):
    errs.append("no time-to-exhaustion panel clipped to growing destinations (deriv(...) > 0)")
names = {v["name"]: v for v in d["templating"]["list"]}
for n in ("datasource", "instance", "destination", "netns", "pod"):
    if n not in names:
        errs.append(f"variable {n} missing")
if names.get("destination") and not (names["destination"].get("multi") and names["destination"].get("includeAll")):
    errs.append("destination variable must be multi-value with All")
if "sockstate_build_info" not in json.dumps(names.get("instance", {}).get("query", "")):
    errs.append("instance variable must come from label_values(sockstate_build_info, instance)")
# Per-namespace series honour $netns and $pod (the pod's netns): every selector of a sockstate
# metric, except the host-wide ones, carries both matchers.
HOST = {"sockstate_build_info", "sockstate_workload_connect_failures_total",
        "sockstate_connect_failures_available", "sockstate_connect_failures_map_overflow_total",
        "sockstate_connect_failures_udp_available", "sockstate_time_wait_owners_available",
        # host-wide values, exported once without netns (docs/metrics-spec.md)
        "sockstate_conntrack_entries_limit", "sockstate_conntrack_buckets",
        "sockstate_nat_time_wait_takeover", "sockstate_sockstat_tcp_orphan",
        "sockstate_sockstat_tcp_alloc", "sockstate_sockstat_tcp_mem_bytes"}
import re
for p in panels:
    for t in p.get("targets", []):
        for m in re.finditer(r"(sockstate_[a-z0-9_]+)\{([^}]*)\}", t.get("expr", "")):
            if m.group(1) in HOST and "netns" in m.group(2) and m.group(1).startswith(("sockstate_conntrack", "sockstate_nat", "sockstate_sockstat")):
                errs.append(f"panel {p['id']} ({p['title']}): {m.group(1)} is host-wide (no netns label): a netns matcher empties it")
            if m.group(1) in HOST or "$instance" not in m.group(2):
                continue
            if m.group(1) in ("sockstate_netns_detailed", "sockstate_netns_info") and p["title"] == "Namespaces by occupancy bound":
                continue  # joined on (instance, netns) with the filtered bound
            if 'netns=~"$netns"' not in m.group(2) or 'netns=~"$pod"' not in m.group(2):
                errs.append(f"panel {p['id']} ({p['title']}): {m.group(1)} does not honour $netns and $pod")
# UDP occupancy (per namespace, per local address) has the alerts' lines at 50% and 85%.
for p in find("sockstate_udp_") :
    if "occupancy_ratio" not in json.dumps(p["targets"]):
        continue
    d_ = p["fieldConfig"]["defaults"]
    steps = [s.get("value") for s in d_.get("thresholds", {}).get("steps", [])]
    if d_.get("unit") != "percentunit" or 0.5 not in steps or 0.85 not in steps:
        errs.append(f"panel {p['id']} ({p['title']}): UDP occupancy in percentunit with thresholds at 0.5 and 0.85")
if not any('protocol="udp"' in t["expr"] for p in find("sockstate_connect_failures_total") for t in p["targets"]):
    errs.append("no panel of UDP port-allocation failures (sockstate_connect_failures_total{protocol=\"udp\"})")
bound = [p for p in panels if p.get("title") == "Namespaces by occupancy bound"]
if len(bound) != 1 or bound[0]["type"] != "table" or not all(t.get("instant") for t in bound[0]["targets"]):
    errs.append("one table panel 'Namespaces by occupancy bound' with instant queries")
elif "group_left (reason)" not in bound[0]["targets"][0]["expr"]:
    errs.append("'Namespaces by occupancy bound' must show the detail reason")
for e in errs:
    print("test_dashboards: " + e, file=sys.stderr)
sys.exit(1 if errs else 0)
PY

echo "== fleet dashboard: the job variable, every selector on \$job, links into the node dashboard"
python3 - dashboards/sockstate-fleet.json <<'PY' || fail "fleet panel expectations"
import json, re, sys
d = json.load(open(sys.argv[1]))
errs = []
v = {x["name"]: x for x in d["templating"]["list"]}
job = v.get("job", {})
if not (job.get("multi") and job.get("includeAll") and job.get("allValue") == ".*"
        and "label_values(sockstate_build_info, job)" in json.dumps(job.get("query"))):
    errs.append("variable job: multi-value with All = .*, from label_values(sockstate_build_info, job)")
if set(v) != {"datasource", "job"}:
    errs.append(f"variables {sorted(v)}: the fleet dashboard has datasource and job only (no instance: it is every instance)")
panels = [p for p in d["panels"] if p["type"] != "row"]
for p in panels:
    for t in p.get("targets", []):
        # Every selector of a series (raw, recorded, up, scrape_samples_scraped) is on $job.
        for m in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?", t["expr"]):
            name, sel = m.group(1), m.group(2) or ""
            if (name.startswith("sockstate_") or ":sockstate_" in name or name in ("up", "scrape_samples_scraped")) \
                    and 'job=~"$job"' not in sel and "kube_pod_info" not in name:
                errs.append(f"panel {p['id']} ({p['title']}): {name} without job=~\"$job\"")
    if p["type"] == "table":
        cols = set(next(tr for tr in p["transformations"] if tr["id"] == "organize")["options"]["indexByName"])
        links = [l for o in p["fieldConfig"]["overrides"] if o["matcher"]["options"] == "instance"
                 for prop in o["properties"] if prop["id"] == "links" for l in prop["value"]]
        if "instance" in cols:
            ok = [l for l in links if l["url"].startswith("/d/sockstate-overview?")
                  and "var-instance=${__data.fields.instance}" in l["url"]
                  and "var-datasource=${datasource}" in l["url"]]
            if len(ok) != 1:
                errs.append(f"panel {p['id']} ({p['title']}): the instance column must link to /d/sockstate-overview with var-instance and var-datasource")
            if "destination" in cols and not all("var-destination=${__data.fields.destination}" in l["url"] for l in ok):
                errs.append(f"panel {p['id']} ({p['title']}): a row with a destination must preselect it (var-destination)")
if not any(l.get("type") == "dashboards" and "sockstate" in l.get("tags", []) for l in d.get("links", [])):
    errs.append("no dashboard link to the sockstate-tagged (node) dashboard")
for e in errs:
    print("test_dashboards: " + e, file=sys.stderr)
sys.exit(1 if errs else 0)
PY

echo "== fleet pods panel: the kube-state-metrics join, exact on a known population (promtool)"
python3 tests/dashboards/fleet_queries_test.py dashboards/sockstate-fleet.json "$tmp" || fail "fleet pods panel"

echo "== namespace variables and panel: exact results on a known population (promtool)"
python3 tests/dashboards/netns_queries_test.py dashboards/sockstate.json "$tmp" || fail "namespace queries"

echo "== --print-queries and PromQL syntax (promtool check rules on the concrete queries)"
python3 "$checker" --print-queries --var job=sockstate "${dashboards[@]}" >"$tmp/queries.jsonl" || fail "--print-queries"
python3 - "$tmp/queries.jsonl" "$tmp/queries-rules.yml" <<'PY' || fail "printed queries"
import json, re, sys
rules = []
n = 0
for line in open(sys.argv[1]):
    q = json.loads(line)
    assert set(q) == {"panel_id", "title", "refId", "expr"}, q
    # "$1" in label_replace() is PromQL's; a Grafana variable starts with a letter or _.
    assert not re.search(r"\$\{|\$[A-Za-z_]|\[\[", q["expr"]), f"variable left in {q}"
    # Panel ids repeat across dashboards: the line number keeps the names apart.
    rules.append({"record": f"dashboard_query:q{n}_panel_{q['panel_id']}_{q['refId']}", "expr": q["expr"]})
    n += 1
assert n > 0, "no queries printed"
json.dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}, open(sys.argv[2], "w"), indent=1)
print(f"{n} queries")
PY
promtool check rules "$tmp/queries-rules.yml" >/dev/null || {
  promtool check rules "$tmp/queries-rules.yml" || true
  fail "a dashboard query is not valid PromQL"
}

echo "== provisioning files"
python3 - <<'PY' || fail "provisioning files"
import sys, yaml
d = yaml.safe_load(open("dashboards/provisioning/dashboards.yml"))
assert d.get("apiVersion") == 1, "dashboards.yml: apiVersion 1"
ps = d.get("providers") or []
assert ps and all(p.get("type") == "file" and p.get("options", {}).get("path") for p in ps), \
    "dashboards.yml: providers of type file with options.path"
s = yaml.safe_load(open("dashboards/provisioning/datasources.yml"))
assert s.get("apiVersion") == 1, "datasources.yml: apiVersion 1"
dss = s.get("datasources") or []
assert any(x.get("type") == "prometheus" and x.get("url") for x in dss), "datasources.yml: a prometheus data source with url"
print("provisioning OK")
PY

echo "== the checker catches broken dashboards"
expect_fail() {  # name, python expression mutating d, expected message fragment
  python3 - dashboards/sockstate.json "$tmp/broken.json" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
panels = [p for p in d["panels"] if p["type"] != "row"]
exec(sys.argv[3])
json.dump(d, open(sys.argv[2], "w"))
PY
  if out="$(python3 "$checker" --spec docs/metrics-spec.md "${rules[@]}" "$tmp/broken.json" 2>&1)"; then
    fail "checker accepted a dashboard with $1"
  fi
  grep -qF -- "$3" <<<"$out" || fail "checker rejected $1 but without '$3': $out"
  echo "rejects $1"
}
expect_fail "duplicate panel id" 'panels[1]["id"] = panels[0]["id"]' "duplicate panel id"
expect_fail "hard-coded datasource uid" 'panels[0]["datasource"] = {"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}' "is hard-coded"
expect_fail "undefined variable" 'panels[0]["targets"][0]["expr"] += " * on() group_left $nosuchvar"' "\$nosuchvar is not defined"
expect_fail "unknown metric" 'panels[0]["targets"][0]["expr"] = "sockstate_no_such_metric"' "sockstate_no_such_metric is not in the metrics spec"
expect_fail "gridPos beyond 24 columns" 'panels[0]["gridPos"]["x"] = 20' "columns"
expect_fail "missing gridPos" 'del panels[0]["gridPos"]' "gridPos missing"
expect_fail "empty expr" 'panels[0]["targets"][0]["expr"] = ""' "empty expr"
expect_fail "occupancy panel without 85% line" 'p = [p for p in panels if "sockstate_destination_occupancy_ratio" in p["targets"][0]["expr"]][0]; p["fieldConfig"]["defaults"]["thresholds"]["steps"] = p["fieldConfig"]["defaults"]["thresholds"]["steps"][:2]' "threshold at 0.85"
expect_fail "unstable uid" 'd["uid"] = None' "uid"
expect_fail "a recorded series no rule records" 'panels[0]["targets"][0]["expr"] = "instance:sockstate_no_such:max"' "is not recorded by any rule"

echo "test_dashboards: PASS"
