#!/usr/bin/env python3
"""Checks of the live chain test against a running Prometheus and webhook receiver
(python3 stdlib only). Every wait is bounded by --timeout.

usage:
  live_checks.py wait-query --prom URL --expr EXPR [--timeout S]
      Wait until the instant query EXPR returns at least one series; print them.
  live_checks.py value --prom URL --expr EXPR
      Print the first value of the instant query EXPR, or "none".
  live_checks.py wait-payload FILE --alertname NAME [--label K=V]... [--mention TEXT]...
                 [--path /RECEIVER] [--timeout S]
      Wait until the webhook receiver's FILE (JSON lines {"path", "body"}) holds a payload
      with status "firing" containing an alert with status "firing", labels alertname=NAME
      and every K=V, whose summary and description annotations each contain every TEXT.
      With --path, the payload must have been POSTed to that path (= receiver name).
      Prints the matching payload.
  live_checks.py queries --prom URL [--allow-empty PANEL_ID:REFID]... [--range-seconds N]
                 [--step 1s] < print-queries.jsonl
      Evaluate every query printed by check_dashboard.py --print-queries as an instant query
      (and with --range-seconds also as a range query over the last N seconds, as Grafana's
      time series panels do).
      Fails on any non-success status, and on an empty result unless PANEL_ID:REFID is
      allowed to be empty (an empty instant result is retried --empty-retries times, 1 s
      apart: a failed scrape leaves the target's series stale until the next one). Prints one line per query.
  live_checks.py variables --prom URL --dashboard JSON --var NAME=VALUE... --expect NAME=VALUE...
      Evaluate the dashboard's label_values(SELECTOR, LABEL) template variables through
      /api/v1/series and its query_result(EXPR) ones as instant queries (with the variable's
      regex applied as Grafana does), with earlier variables substituted by --var, and check
      each --expect value is offered.
"""
import argparse
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def api(prom, path, params):
    url = prom.rstrip("/") + path + "?" + urllib.parse.urlencode(params, doseq=True)
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:  # 400/422 carry a JSON error body
        try:
            return json.load(e)
        except ValueError:
            return {"status": "error", "error": f"HTTP {e.code}"}
    except (OSError, ValueError) as e:
        return {"status": "error", "error": str(e)}


def instant(prom, expr):
    return api(prom, "/api/v1/query", {"query": expr})


def cmd_wait_query(a):
    deadline = time.monotonic() + a.timeout
    last = None
    while True:
        last = instant(a.prom, a.expr)
        if last.get("status") == "success" and last["data"]["result"]:
            for s in last["data"]["result"]:
                print(json.dumps(s))
            return 0
        if time.monotonic() >= deadline:
            print(f"live_checks: no result for {a.expr} within {a.timeout}s; last: "
                  f"{json.dumps(last)[:500]}", file=sys.stderr)
            return 1
        time.sleep(0.5)


def matching_alert(body, a, want):
    if not isinstance(body, dict) or body.get("status") != "firing":
        return None
    for al in body.get("alerts", []):
        labels = al.get("labels", {})
        if al.get("status") != "firing" or labels.get("alertname") != a.alertname:
            continue
        if any(labels.get(k) != v for k, v in want.items()):
            continue
        ann = al.get("annotations", {})
        if all(t in ann.get("summary", "") and t in ann.get("description", "")
               for t in a.mention):
            return al
    return None


def cmd_value(a):
    r = instant(a.prom, a.expr)
    if r.get("status") != "success":
        print(f"error: {r.get('error')}")
        return 1
    res = r["data"]["result"]
    print(res[0]["value"][1] if res else "none")
    return 0


def cmd_wait_payload(a):
    want = dict(kv.split("=", 1) for kv in a.label)
    deadline = time.monotonic() + a.timeout
    seen = 0
    while True:
        try:
            with open(a.file, encoding="utf-8") as f:
                lines = f.readlines()
        except FileNotFoundError:
            lines = []
        for line in lines:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if a.path and rec.get("path") != a.path:
                continue
            if matching_alert(rec.get("body"), a, want):
                print(json.dumps(rec, indent=2))
                return 0
        if len(lines) != seen:
            seen = len(lines)
        if time.monotonic() >= deadline:
            print(f"live_checks: no firing {a.alertname} with {want} mentioning {a.mention} "
                  f"at path {a.path or '(any)'} within {a.timeout}s; {seen} payload(s) "
                  "received:", file=sys.stderr)
            for line in lines[-5:]:
                print("  " + line.strip()[:2000], file=sys.stderr)
            return 1
        time.sleep(0.5)


def short_value(result):
    vals = []
    for s in result[:3]:
        v = s.get("value", [None, None])[1]
        m = s.get("metric", {})
        tag = ",".join(f"{k}={m[k]}" for k in ("destination", "state", "le", "source")
                       if k in m)
        vals.append(f"{tag + '=' if tag else ''}{v}")
    more = f" ... (+{len(result) - 3})" if len(result) > 3 else ""
    return " ".join(vals) + more


def cmd_queries(a):
    allowed = set(a.allow_empty)
    rc = 0
    n = 0
    with_data = []
    empty_ok = []
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        q = json.loads(line)
        n += 1
        key = f"{q['panel_id']}:{q['refId']}"
        where = f"panel {key} {q['title']!r}"
        # A failed scrape (timeout on a loaded host) marks every series of the target stale
        # until the next good scrape, so an instant query can be empty for a second or two:
        # retry an empty result a few times before calling it empty, and say so.
        retries = 0
        while True:
            r = instant(a.prom, q["expr"])
            if (r.get("status") != "success" or r["data"]["result"] or key in allowed
                    or retries >= a.empty_retries):
                break
            retries += 1
            time.sleep(1)
        if retries and r.get("status") == "success" and r["data"]["result"]:
            print(f"note  {where}: empty for {retries} attempt(s) before data came back "
                  "(stale after a failed scrape?)")
        if r.get("status") != "success":
            print(f"FAIL  {where}: {r.get('errorType', '')} {r.get('error', r)}\n      {q['expr']}")
            rc = 1
            continue
        res = r["data"]["result"]
        if r["data"].get("resultType") == "scalar":
            res = [{"metric": {}, "value": res}]
        if not res:
            if key in allowed:
                print(f"empty {where} (allowed)")
                empty_ok.append(key)
            else:
                print(f"FAIL  {where}: empty result\n      {q['expr']}")
                rc = 1
            continue
        if a.range_seconds > 0:
            # Grafana draws time series panels with range queries: evaluate that too.
            end = time.time()
            rr = api(a.prom, "/api/v1/query_range",
                     {"query": q["expr"], "start": f"{end - a.range_seconds:.3f}",
                      "end": f"{end:.3f}", "step": a.step})
            if rr.get("status") != "success":
                print(f"FAIL  {where}: range query: {rr.get('errorType', '')} "
                      f"{rr.get('error', rr)}\n      {q['expr']}")
                rc = 1
                continue
            if not rr["data"]["result"] and key not in allowed:
                print(f"FAIL  {where}: range query over {a.range_seconds:g}s: empty result"
                      f"\n      {q['expr']}")
                rc = 1
                continue
        with_data.append(key)
        print(f"ok    {where}: {len(res)} series: {short_value(res)}")
    if n == 0:
        print("FAIL  no queries on stdin")
        return 1
    print(f"live_checks: {n} queries, {len(with_data)} with data, {len(empty_ok)} allowed empty"
          f"{', FAILED' if rc else ''}")
    return rc


LABEL_VALUES_RE = re.compile(r"^\s*label_values\(\s*(.*)\s*,\s*([A-Za-z_]\w*)\s*\)\s*$", re.S)


QUERY_RESULT_RE = re.compile(r"^\s*query_result\((.*)\)\s*$", re.S)


def query_result_variable(prom, v, expr, values, expect):
    """A query_result(EXPR) variable: the instant query, each series printed as Grafana prints
    it, then the variable's regex (named groups text/value, else group 1, else the line)."""
    expr = re.sub(r"\$\{?([A-Za-z_]\w*)\}?", lambda mm: values.get(mm.group(1), mm.group(0)), expr)
    r = api(prom, "/api/v1/query", {"query": expr})
    if r.get("status") != "success":
        print(f"FAIL  variable {v['name']}: query_result({expr}): {r.get('error', r)}")
        return 1
    rx = None
    js = v.get("regex") or ""
    if js:
        rx = re.compile(re.sub(r"\(\?<(\w+)>", r"(?P<\1>", js.strip("/")))
    offered = set()
    for s in r["data"]["result"]:
        labels = {k: val for k, val in s["metric"].items() if k != "__name__"}
        line = (s["metric"].get("__name__", "") + "{" +
                ",".join(f'{k}="{val}"' for k, val in sorted(labels.items())) + "}" +
                f" {s['value'][1]} {int(float(s['value'][0]) * 1000)}")
        if rx is None:
            offered.add(line)
            continue
        mm = rx.search(line)
        if not mm:
            continue
        gd = mm.groupdict()
        offered.add(gd.get("value") or gd.get("text") or (mm.group(1) if mm.groups() else mm.group(0)))
    ok = v["name"] not in expect or expect[v["name"]] in offered
    print(f"{'ok   ' if ok else 'FAIL '} variable {v['name']} = query_result({expr}) -> "
          f"{sorted(offered)}")
    if not ok:
        print(f"      expected {expect[v['name']]!r} among the values")
    return 0 if ok else 1


def cmd_variables(a):
    with open(a.dashboard, encoding="utf-8") as f:
        dash = json.load(f)
    values = dict(kv.split("=", 1) for kv in a.var)
    expect = dict(kv.split("=", 1) for kv in a.expect)
    rc = 0
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        qr = QUERY_RESULT_RE.match(q or "")
        if qr:
            rc |= query_result_variable(a.prom, v, qr.group(1), values, expect)
            continue
        m = LABEL_VALUES_RE.match(q or "")
        if not m:
            print(f"FAIL  variable {v['name']}: query {q!r} is neither label_values(selector, "
                  "label) nor query_result(expr)")
            rc = 1
            continue
        selector = re.sub(r"\$\{?(\w+)\}?", lambda mm: values.get(mm.group(1), mm.group(0)),
                          m.group(1))
        r = api(a.prom, "/api/v1/series", {"match[]": selector})
        if r.get("status") != "success":
            print(f"FAIL  variable {v['name']}: {selector}: {r.get('error', r)}")
            rc = 1
            continue
        offered = sorted({s.get(m.group(2)) for s in r["data"] if m.group(2) in s})
        ok = v["name"] not in expect or expect[v["name"]] in offered
        print(f"{'ok   ' if ok else 'FAIL '} variable {v['name']} = label_values({selector}, "
              f"{m.group(2)}) -> {offered}")
        if not ok:
            print(f"      expected {expect[v['name']]!r} among the values")
            rc = 1
    return rc


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("wait-query")
    w.add_argument("--prom", required=True)
    w.add_argument("--expr", required=True)
    w.add_argument("--timeout", type=float, default=30)
    p = sub.add_parser("wait-payload")
    p.add_argument("file")
    p.add_argument("--alertname", required=True)
    p.add_argument("--label", action="append", default=[])
    p.add_argument("--mention", action="append", default=[])
    p.add_argument("--path")
    p.add_argument("--timeout", type=float, default=120)
    q = sub.add_parser("queries")
    q.add_argument("--prom", required=True)
    q.add_argument("--allow-empty", action="append", default=[])
    q.add_argument("--range-seconds", type=float, default=0,
                   help="also evaluate each query as a range query over the last N seconds")
    q.add_argument("--step", default="1s")
    q.add_argument("--empty-retries", type=int, default=4,
                   help="retry an empty instant result this many times, 1 s apart")
    v = sub.add_parser("variables")
    v.add_argument("--prom", required=True)
    v.add_argument("--dashboard", required=True)
    v.add_argument("--var", action="append", default=[])
    v.add_argument("--expect", action="append", default=[])
    x = sub.add_parser("value")
    x.add_argument("--prom", required=True)
    x.add_argument("--expr", required=True)
    a = ap.parse_args()
    return {"value": cmd_value, "wait-query": cmd_wait_query, "wait-payload": cmd_wait_payload,
            "queries": cmd_queries, "variables": cmd_variables}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
