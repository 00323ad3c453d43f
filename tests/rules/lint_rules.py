#!/usr/bin/env python3
"""Checks on the alert rules that promtool does not make.

usage: lint_rules.py SOURCE_DIR RULES_FILE... -- TEST_FILE...

- every alert has `for`, severity warning|critical, summary, description, runbook_url;
- description mentions $labels.instance (and $labels.destination when the expression is on a
  per-destination metric) and the value ($value);
- runbook_url follows the pattern <base>#<alertname lowercased> and that heading exists in
  docs/runbook.md;
- every sockstate_* metric used exists in docs/metrics-spec.md;
- every alert has a unit test that expects it to fire (non-empty exp_alerts) and one that
  expects silence (empty exp_alerts);
- no alert aggregates with sum/max/min/avg/count ... by(...) (which would drop labels such
  as netns).
Fleet rules (group sockstate.fleet, config/prometheus/sockstate-fleet-rules.yml)
aggregate across instances by design, so instead:
- a recorded name is level:metric:operation and its outermost `by (...)` keeps exactly job
  and the level's labels (instance_netns -> job, instance, netns);
- a fleet alert's expression reads a fleet recording rule (no aggregation of its own) and its
  description names the job, the destination and the value, and lists the instances with a
  query (`.Labels.instance`) since the alert itself has no instance label.
"""
import os
import re
import sys

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from metrics_spec import base_name, metric_names_in_expr, spec_metric_names  # noqa: E402

RUNBOOK_BASE = "https://github.com/sockstate/sockstate_exporter/blob/main/docs/runbook.md#"
PER_DESTINATION = re.compile(r"sockstate_destination_|sockstate_tuple_")
FLEET_GROUP = re.compile(r"^sockstate\.fleet(\.|$)")
OUTER_BY = re.compile(r"\bby\s*\(([^)]*)\)")
AGGREGATION = re.compile(r"\b(sum|max|min|avg|count|topk|bottomk|group|stddev|quantile)\s*(by|without)?\s*\(")


def github_anchor(heading):
    a = heading.strip().lower()
    a = re.sub(r"[^\w\- ]", "", a)
    return a.replace(" ", "-")


def lint_fleet_record(rf, r):
    name, expr = r["record"], r.get("expr", "")
    parts = name.split(":")
    if len(parts) != 3 or not all(parts):
        return [f"{rf}: fleet record {name}: not level:metric:operation"]
    m = OUTER_BY.search(expr)
    if not m:
        return [f"{rf}: fleet record {name}: no `by (...)` aggregation"]
    kept = {x.strip() for x in m.group(1).split(",") if x.strip()}
    want = {"job"} | set(parts[0].split("_"))
    if kept != want:
        return [f"{rf}: fleet record {name}: keeps {sorted(kept)}, its level says {sorted(want)}"]
    return []


def lint_fleet_alert(where, expr, desc):
    errors = []
    if AGGREGATION.search(expr) or not re.search(r"\b[a-z_]+:sockstate_[a-z0-9_]+:[a-z0-9_]+\b", expr):
        errors.append(f"{where}: a fleet alert reads a fleet recording rule, without aggregating itself")
    for need in ("$labels.job", "$labels.destination", "$value", ".Labels.instance"):
        if need not in desc:
            errors.append(f"{where}: fleet alert description does not contain {need}")
    return errors


def main(argv):
    if "--" not in argv:
        print(__doc__)
        return 2
    sep = argv.index("--")
    src, rule_files, test_files = argv[0], argv[1:sep], argv[sep + 1:]
    spec = spec_metric_names(os.path.join(src, "docs", "metrics-spec.md"))
    runbook_path = os.path.join(src, "docs", "runbook.md")
    anchors = set()
    if os.path.exists(runbook_path):
        with open(runbook_path, encoding="utf-8") as f:
            for line in f:
                m = re.match(r"#{1,6}\s+(.*)", line)
                if m:
                    anchors.add(github_anchor(m.group(1)))
    errors = []
    alerts = []
    for rf in rule_files:
        with open(rf, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        for g in doc.get("groups", []):
            fleet = bool(FLEET_GROUP.match(g.get("name", "")))
            for r in g.get("rules", []):
                expr = r.get("expr", "")
                if fleet and "record" in r:
                    errors += lint_fleet_record(rf, r)
                for name in metric_names_in_expr(expr):
                    if base_name(name) not in spec and name not in spec:
                        errors.append(f"{rf}: {r.get('alert') or r.get('record')}: metric {name} not in docs/metrics-spec.md")
                if "alert" not in r:
                    continue
                name = r["alert"]
                alerts.append(name)
                where = f"{rf}: alert {name}"
                if not r.get("for"):
                    errors.append(f"{where}: no `for`")
                sev = r.get("labels", {}).get("severity")
                if sev not in ("warning", "critical"):
                    errors.append(f"{where}: severity {sev!r} is not warning|critical")
                ann = r.get("annotations", {})
                for key in ("summary", "description", "runbook_url"):
                    if not ann.get(key):
                        errors.append(f"{where}: annotation {key} missing")
                desc = ann.get("description", "")
                if fleet:
                    errors += lint_fleet_alert(where, expr, desc)
                elif "$labels.instance" not in desc:
                    errors.append(f"{where}: description does not name the instance")
                if PER_DESTINATION.search(expr) and "$labels.destination" not in desc:
                    errors.append(f"{where}: per-destination alert whose description does not name the destination")
                if not re.search(r"==\s*0\s*$", expr.strip()) and "$value" not in desc:
                    errors.append(f"{where}: description does not show the value")
                url = ann.get("runbook_url", "")
                if url != RUNBOOK_BASE + name.lower():
                    errors.append(f"{where}: runbook_url {url!r} is not {RUNBOOK_BASE + name.lower()!r}")
                elif name.lower() not in anchors:
                    errors.append(f"{where}: docs/runbook.md has no heading '{name}' for the runbook_url anchor")
                if AGGREGATION.search(expr) and not fleet:
                    errors.append(f"{where}: expression aggregates; keep instance/destination/netns labels")
    fired, quiet = set(), set()
    for tf in test_files:
        with open(tf, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        for t in doc.get("tests", []):
            for a in t.get("alert_rule_test", []) or []:
                (fired if a.get("exp_alerts") else quiet).add(a["alertname"])
    for name in alerts:
        if name not in fired:
            errors.append(f"alert {name}: no unit test expects it to fire")
        if name not in quiet:
            errors.append(f"alert {name}: no unit test expects it to stay quiet")
    if len(set(alerts)) != len(alerts):
        errors.append("duplicate alert names")
    for e in errors:
        print("lint_rules: " + e, file=sys.stderr)
    if errors:
        return 1
    print(f"lint_rules: {len(alerts)} alerts OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
