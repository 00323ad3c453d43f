#!/usr/bin/env python3
"""Structure checks for Grafana dashboard JSON (python3 stdlib only).

usage:
  check_dashboard.py [--spec docs/metrics-spec.md] [--rules RULES.yml]... [--require METRIC]...
                     DASHBOARD.json...
  check_dashboard.py --print-queries [--instance I] [--destination D] [--netns N] [--pod P]
                     [--var NAME=VALUE]... [--rate-interval 1m] [--interval 15s] [--range 1h]
                     DASHBOARD.json...

Checks: stable uid; unique panel ids; gridPos present, integral, inside 24 columns, no
overlaps; every $var / ${var} / [[var]] used is defined in templating (and defined before a
variable query that uses it); every datasource reference is the ${datasource} variable; every
panel except rows/text has targets with non-empty expr and unique refIds; every sockstate_*
metric used is in the metrics spec (_bucket/_sum/_count stripped); every recorded series
(level:sockstate_...:operation) used is recorded by a rule of the --rules files; panels plotting
sockstate_destination_occupancy_ratio, or a percentunit panel plotting a rule recorded from it,
have thresholds at 0.5 and 0.85.

--print-queries prints one JSON object per panel target,
{"panel_id", "title", "refId", "expr"}, with dashboard and Grafana variables replaced by
concrete values, for evaluation against a real Prometheus.
"""
import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from metrics_spec import base_name, metric_names_in_expr, spec_metric_names  # noqa: E402

GRID_COLUMNS = 24
NO_QUERY_TYPES = {"row", "text", "news", "dashlist", "welcome"}
DS_VAR_FORMS = {"${datasource}", "$datasource"}
VAR_RE = re.compile(r"\$\{([A-Za-z_]\w*)(?::[^}]*)?\}|\[\[([A-Za-z_]\w*)(?::[^\]]*)?\]\]|\$([A-Za-z_]\w*)")
UID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
OCCUPANCY_METRIC = "sockstate_destination_occupancy_ratio"
OCCUPANCY_RAW = re.compile(r"(?<![A-Za-z0-9_:])" + OCCUPANCY_METRIC + r"(?![A-Za-z0-9_:])")
OCCUPANCY_RECORDED = re.compile(r"[a-z_]+:" + OCCUPANCY_METRIC + r":[a-z0-9_]+")
RECORDED = re.compile(r"(?<![A-Za-z0-9_:])([a-z_]+:sockstate_[a-z0-9_]+:[a-z0-9_]+)")
OCCUPANCY_THRESHOLDS = (0.5, 0.85)


def all_panels(dash):
    """Top-level panels and panels nested in (collapsed) rows, with a flag for nesting."""
    for p in dash.get("panels", []):
        yield p, False
        for child in p.get("panels", []) or []:
            yield child, True


def strings(obj, path=""):
    """Every string in a JSON value, with its path."""
    if isinstance(obj, str):
        yield path, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from strings(v, f"{path}.{k}" if path else k)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from strings(v, f"{path}[{i}]")


def datasource_refs(obj, path=""):
    """Every value of a "datasource" key anywhere in the JSON."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            p = f"{path}.{k}" if path else k
            if k == "datasource":
                yield p, v
            yield from datasource_refs(v, p)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from datasource_refs(v, f"{path}[{i}]")


def used_vars(text):
    for m in VAR_RE.finditer(text):
        name = m.group(1) or m.group(2) or m.group(3)
        if not name.startswith("__"):
            yield name


def panel_exprs(panel):
    for t in panel.get("targets", []) or []:
        yield t, t.get("expr", "")


def recorded_names(rule_files):
    """Names recorded by the rules files (a line scan: stdlib only)."""
    names = set()
    for rf in rule_files:
        with open(rf, encoding="utf-8") as f:
            for line in f:
                m = re.match(r"\s*-?\s*record:\s*['\"]?([^'\"\s]+)", line)
                if m:
                    names.add(m.group(1))
    return names


def check(path, spec, required, recorded=None):
    errors = []
    try:
        with open(path, encoding="utf-8") as f:
            dash = json.load(f)
    except (OSError, ValueError) as e:
        return [f"{path}: cannot load JSON: {e}"]
    if "dashboard" in dash and "panels" not in dash:  # API export wrapper
        dash = dash["dashboard"]

    def err(msg):
        errors.append(f"{path}: {msg}")

    uid = dash.get("uid")
    if not isinstance(uid, str) or not UID_RE.match(uid):
        err(f"dashboard uid {uid!r} missing or not a stable uid (1-40 of [A-Za-z0-9_-])")
    if not dash.get("title"):
        err("dashboard title missing")
    if not isinstance(dash.get("schemaVersion"), int) or dash["schemaVersion"] < 36:
        err(f"schemaVersion {dash.get('schemaVersion')!r} < 36 (Grafana 9/10 expected)")
    if "id" in dash and dash["id"] is not None:
        err("dashboard has a numeric id; leave it null/absent so import and provisioning assign one")

    # --- templating
    variables = dash.get("templating", {}).get("list", [])
    defined = []
    for v in variables:
        name = v.get("name")
        if not name:
            err("template variable without name")
            continue
        if name in defined:
            err(f"template variable {name} defined twice")
        for _, s in strings({k: v.get(k) for k in ("query", "definition", "regex")}):
            for u in used_vars(s):
                if u not in defined:
                    err(f"variable {name} uses ${u}, which is not defined before it")
        defined.append(name)
    ds_vars = [v for v in variables if v.get("type") == "datasource"]
    if not any(v.get("name") == "datasource" and v.get("query") == "prometheus" for v in ds_vars):
        err("no template variable 'datasource' of type datasource with query 'prometheus'")

    # --- datasource references: only the variable
    for p, ref in datasource_refs(dash):
        if ref is None:
            continue
        if isinstance(ref, str):
            if ref not in DS_VAR_FORMS:
                err(f"{p}: datasource {ref!r} is hard-coded; use ${{datasource}}")
        elif isinstance(ref, dict):
            if ref.get("uid") not in DS_VAR_FORMS:
                err(f"{p}: datasource uid {ref.get('uid')!r} is hard-coded; use ${{datasource}}")
            if ref.get("type") not in (None, "prometheus"):
                err(f"{p}: datasource type {ref.get('type')!r} is not prometheus")
        else:
            err(f"{p}: datasource has unexpected form {ref!r}")

    # --- variables used anywhere (queries, titles, legends, descriptions, links)
    for p, s in strings({"panels": dash.get("panels", []), "title": dash.get("title", ""),
                         "links": dash.get("links", [])}):
        for u in used_vars(s):
            if u not in defined:
                err(f"{p}: ${u} is not defined in templating")

    # --- panels
    ids = {}
    cells = {}
    for panel, nested in all_panels(dash):
        pid = panel.get("id")
        title = panel.get("title", "")
        where = f"panel {pid} {title!r}"
        if not isinstance(pid, int):
            err(f"{where}: id missing or not an integer")
        elif pid in ids:
            err(f"{where}: duplicate panel id (also {ids[pid]!r})")
        else:
            ids[pid] = title
        if not title:
            err(f"{where}: no title")
        gp = panel.get("gridPos")
        if not isinstance(gp, dict) or not all(isinstance(gp.get(k), int) for k in "xywh"):
            err(f"{where}: gridPos missing or not integers x,y,w,h")
        else:
            if gp["x"] < 0 or gp["y"] < 0 or gp["w"] < 1 or gp["h"] < 1:
                err(f"{where}: gridPos {gp} has negative position or empty size")
            if gp["x"] + gp["w"] > GRID_COLUMNS:
                err(f"{where}: gridPos x+w = {gp['x'] + gp['w']} > {GRID_COLUMNS} columns")
            if not nested:
                for x in range(gp["x"], min(gp["x"] + gp["w"], GRID_COLUMNS)):
                    for y in range(gp["y"], gp["y"] + gp["h"]):
                        if (x, y) in cells:
                            err(f"{where}: overlaps panel {cells[(x, y)]} at x={x} y={y}")
                            break
                        cells[(x, y)] = pid
                    else:
                        continue
                    break
        ptype = panel.get("type")
        if not ptype:
            err(f"{where}: no type")
        if ptype in NO_QUERY_TYPES:
            continue
        targets = panel.get("targets") or []
        if not targets:
            err(f"{where}: no targets")
        refs = set()
        exprs = []
        for t, expr in panel_exprs(panel):
            ref = t.get("refId")
            if not ref:
                err(f"{where}: target without refId")
            elif ref in refs:
                err(f"{where}: duplicate refId {ref}")
            refs.add(ref)
            if not isinstance(expr, str) or not expr.strip():
                err(f"{where}: target {ref} has an empty expr")
                continue
            exprs.append(expr)
            if spec is not None:
                for m in metric_names_in_expr(expr):
                    if base_name(m) not in spec and m not in spec:
                        err(f"{where}: target {ref}: metric {m} is not in the metrics spec")
            if recorded is not None:
                for m in RECORDED.findall(expr):
                    if m not in recorded:
                        err(f"{where}: target {ref}: recorded series {m} is not recorded by any rule")
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
        if any(OCCUPANCY_RAW.search(e) or (unit == "percentunit" and OCCUPANCY_RECORDED.search(e))
               for e in exprs):
            steps = (panel.get("fieldConfig", {}).get("defaults", {})
                     .get("thresholds", {}).get("steps", []))
            values = {s.get("value") for s in steps}
            for th in OCCUPANCY_THRESHOLDS:
                if th not in values:
                    err(f"{where}: occupancy panel without a threshold at {th}")

    # --- variable queries use spec metrics too
    if spec is not None:
        for v in variables:
            for _, s in strings({k: v.get(k) for k in ("query", "definition")}):
                for m in metric_names_in_expr(s):
                    if base_name(m) not in spec and m not in spec:
                        err(f"variable {v.get('name')}: metric {m} is not in the metrics spec")

    # --- required metrics (panels the issue asks for)
    all_exprs = " ".join(e for p, _ in all_panels(dash) for _, e in panel_exprs(p))
    for r in required:
        if not re.search(r"(?<![A-Za-z0-9_:])" + re.escape(r) + r"(?![A-Za-z0-9_:])", all_exprs):
            err(f"no panel queries {r}")
    return errors


def substitute(expr, values):
    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in values:
            raise KeyError(name)
        return values[name]
    # Variable names start with a letter or _: "$1" in label_replace() is PromQL's, not Grafana's.
    return VAR_RE.sub(repl, expr)


def duration_seconds(d):
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d)", d)
    if not m:
        raise ValueError(f"bad duration {d}")
    n, u = int(m.group(1)), m.group(2)
    return n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[u]


def print_queries(paths, a):
    rng = duration_seconds(a.range)
    ivl = duration_seconds(a.interval)
    values = {
        "instance": a.instance, "destination": a.destination, "datasource": "prometheus",
        "netns": a.netns, "pod": a.pod,
        "__rate_interval": a.rate_interval, "__interval": a.interval,
        "__interval_ms": str(int(ivl * 1000)), "__range": a.range,
        "__range_s": str(int(rng)), "__range_ms": str(int(rng * 1000)),
    }
    for kv in a.var:
        name, _, value = kv.partition("=")
        values[name] = value
    rc = 0
    for path in paths:
        with open(path, encoding="utf-8") as f:
            dash = json.load(f)
        for panel, _ in all_panels(dash):
            for t, expr in panel_exprs(panel):
                if not expr:
                    continue
                try:
                    concrete = substitute(expr, values)
                except KeyError as e:
                    print(f"{path}: panel {panel.get('id')}: no value for variable ${e.args[0]}",
                          file=sys.stderr)
                    rc = 1
                    continue
                print(json.dumps({"panel_id": panel.get("id"), "title": panel.get("title"),
                                  "refId": t.get("refId"), "expr": concrete}))
    return rc


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dashboards", nargs="+")
    ap.add_argument("--spec", help="docs/metrics-spec.md (default: <SOCKSTATE_SOURCE_DIR or repo>/docs/metrics-spec.md)")
    ap.add_argument("--no-spec", action="store_true", help="skip the metric-name check")
    ap.add_argument("--require", action="append", default=[], metavar="METRIC",
                    help="fail unless some panel queries METRIC (repeatable)")
    ap.add_argument("--print-queries", action="store_true")
    ap.add_argument("--instance", default="localhost:9798")
    ap.add_argument("--destination", default=".*")
    ap.add_argument("--netns", default=".*", help="value of $netns (a regex, like Grafana's)")
    ap.add_argument("--pod", default=".*",
                    help="value of $pod: the netns label(s) of the selected pods, as a regex")
    ap.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                    help="value of any other variable, e.g. job=sockstate (repeatable)")
    ap.add_argument("--rules", action="append", default=[], metavar="RULES.yml",
                    help="rules files whose recorded series the dashboards may use (repeatable); "
                         "without it recorded names are not checked")
    ap.add_argument("--rate-interval", default="1m")
    ap.add_argument("--interval", default="15s")
    ap.add_argument("--range", default="1h")
    a = ap.parse_args()
    if a.print_queries:
        return print_queries(a.dashboards, a)
    spec = None
    if not a.no_spec:
        src = os.environ.get("SOCKSTATE_SOURCE_DIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
        spec_path = a.spec or os.path.join(src, "docs", "metrics-spec.md")
        spec = spec_metric_names(spec_path)
        if not spec:
            print(f"check_dashboard: no metric names found in {spec_path}", file=sys.stderr)
            return 1
    errors = []
    uids = {}
    for path in a.dashboards:
        errors += check(path, spec, a.require, recorded_names(a.rules) if a.rules else None)
        try:
            with open(path, encoding="utf-8") as f:
                uid = json.load(f).get("uid")
            if uid in uids:
                errors.append(f"{path}: uid {uid} also used by {uids[uid]}")
            uids[uid] = path
        except (OSError, ValueError):
            pass
    for e in errors:
        print("check_dashboard: " + e, file=sys.stderr)
    if errors:
        return 1
    print(f"check_dashboard: {len(a.dashboards)} dashboard(s) OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
