#!/usr/bin/env python3
"""Exact results of the dashboard's namespace queries on a known population (promtool).

usage: netns_queries_test.py DASHBOARD.json OUT_DIR

Builds synthetic series for two exporters (instances node1 and node2) reading 25 and 2
network namespaces, and kube-state-metrics' kube_pod_info (two replicas, so every pod is there
twice), then evaluates with `promtool test rules`, each against the exact series expected:

- panel "Namespaces by occupancy bound" as check_dashboard.py --print-queries prints it for
  $netns/$pod = All, a $netns selection, a $pod selection and instance node2: the 20
  namespaces of the instance with the highest bound, each with its detail reason, and the
  Kubernetes namespace and pod where kube_pod_info knows the pod (only those, and no
  duplicate from the second replica);
- the $pod variable's query (inside query_result()); its regex is then applied, as Grafana
  does, to each expected series printed as Grafana prints query_result() lines, and must give
  text "<k8s namespace>/<pod>" and value = the pod's netns label.
"""

import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PANEL_TITLE = "Namespaces by occupancy bound"


def fail(msg):
    print(f"netns_queries_test: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


# --- the population: (netns, bound, reason, pod_uid, k8s namespace, pod)
NODE1 = [
    ("4026531840", 0.95, "own", "", "", ""),  # the host's own namespace: no pod
    ("cni-aaa", 0.70, "threshold", "0b1e0000-0000-4000-8000-000000000001", "shop", "web-0"),
    ("blue", 0.30, "own_hash", "", "", ""),  # named, no process: no pod
    ("cni-bbb", 0.22, "hysteresis", "0b1e0000-0000-4000-8000-000000000002", "shop", "db-0"),
    # A pod that kube-state-metrics does not know (yet): no namespace/pod, still listed.
    ("cni-ccc", 0.21, "below_threshold", "0b1e0000-0000-4000-8000-000000000003", "", ""),
]
for i in range(1, 21):  # 20 quiet pods, bounds 0.001 .. 0.020
    NODE1.append((f"cni-f{i:02d}", round(0.001 * i, 3), "below_threshold",
                  f"0b1e0000-0000-4000-8000-0000000001{i:02d}", "batch", f"job-{i:02d}"))
NODE2 = [
    ("4026531840", 0.10, "own", "", "", ""),
    ("cni-aaa", 0.50, "threshold", "0b1e0000-0000-4000-8000-000000000201", "shop", "web-1"),
]
INSTANCES = {"node1:9798": NODE1, "node2:9798": NODE2}


def sel(labels):
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def input_series():
    out = []
    for inst, rows in INSTANCES.items():
        base = {"instance": inst, "job": "sockstate"}
        for netns, bound, reason, uid, k8s_ns, pod in rows:
            b = dict(base, netns=netns)
            out.append({"series": "sockstate_netns_occupancy_bound_ratio" + sel(b),
                        "values": f"{bound}x10"})
            detailed = 0 if reason == "below_threshold" else 1
            out.append({"series": "sockstate_netns_detailed" + sel(dict(b, reason=reason)),
                        "values": f"{detailed}x10"})
            info = dict(b, container_id="")
            if uid:
                info["pod_uid"] = uid
            out.append({"series": "sockstate_netns_info" + sel(info), "values": "1x10"})
            if pod:
                for ksm in ("ksm-0:8080", "ksm-1:8080"):  # two replicas
                    out.append({"series": "kube_pod_info" + sel({
                        "instance": ksm, "job": "kube-state-metrics", "namespace": k8s_ns,
                        "pod": pod, "uid": uid, "node": inst.split(":")[0],
                        "host_ip": "198.18.0.1", "created_by_kind": "ReplicaSet"}),
                        "values": "1x10"})
    return out


def expected_panel(inst, netns_re=".*", pod_re=".*"):
    rows = [r for r in INSTANCES[inst]
            if re.fullmatch(netns_re, r[0]) and re.fullmatch(pod_re, r[0])]
    rows.sort(key=lambda r: -r[1])
    out = []
    for netns, bound, reason, uid, k8s_ns, pod in rows[:20]:
        labels = {"instance": inst, "job": "sockstate", "netns": netns, "reason": reason}
        if uid:
            labels["pod_uid"] = uid
        if pod:
            labels.update(namespace=k8s_ns, pod=pod)
        out.append({"labels": sel(labels), "value": bound})
    return out


def expected_pod_variable(inst):
    out = []
    for netns, _, _, uid, k8s_ns, pod in INSTANCES[inst]:
        if not pod:
            continue
        labels = {"instance": inst, "job": "sockstate", "netns": netns, "container_id": "",
                  "pod_uid": uid, "namespace": k8s_ns, "pod": pod, "k8s_pod": f"{k8s_ns}/{pod}"}
        labels.pop("container_id")  # empty labels do not exist in Prometheus
        out.append({"labels": sel(labels), "value": 1})
    return out


def printed_queries(dash, **values):
    args = [sys.executable, os.path.join(HERE, "check_dashboard.py"), "--print-queries"]
    for k, v in values.items():
        args += [f"--{k}", v]
    out = subprocess.run(args + [dash], check=True, capture_output=True, text=True).stdout
    qs = [json.loads(line) for line in out.splitlines()]
    panel = [q for q in qs if q["title"] == PANEL_TITLE]
    if len(panel) != 1:
        fail(f"expected one query in panel {PANEL_TITLE!r}, found {len(panel)}")
    return panel[0]["expr"]


def grafana_text(labels_sel, value):
    """A query_result() line as Grafana's Prometheus data source prints it (no __name__)."""
    inner = labels_sel[1:-1]
    pairs = re.findall(r'(\w+)="([^"]*)"', inner)
    return "{" + ",".join(f'{k}="{v}"' for k, v in pairs) + f"}} {value} 1700000000000"


def main():
    dash, out_dir = sys.argv[1], sys.argv[2]
    d = json.load(open(dash))
    variables = {v["name"]: v for v in d["templating"]["list"]}
    for name in ("netns", "pod"):
        if name not in variables:
            fail(f"variable ${name} missing")
        v = variables[name]
        if not (v.get("multi") and v.get("includeAll") and v.get("allValue") == ".*"):
            fail(f"variable ${name} must be multi-value with All = .*")
    if "sockstate_netns_info" not in variables["netns"]["query"]["query"]:
        fail("$netns must come from sockstate_netns_info")
    pod_q = variables["pod"]["query"]["query"]
    m = re.fullmatch(r"query_result\((.*)\)", pod_q, re.S)
    if not m or "kube_pod_info" not in pod_q:
        fail(f"$pod must be query_result() of the join with kube_pod_info, is {pod_q!r}")
    pod_expr = m.group(1).replace("$instance", "node1:9798")

    cases = [
        ("all, node1", printed_queries(dash, instance="node1:9798"),
         expected_panel("node1:9798")),
        ("netns cni-aaa|blue|cni-f01", printed_queries(dash, instance="node1:9798",
                                                       netns="cni-aaa|blue|cni-f01"),
         expected_panel("node1:9798", netns_re="cni-aaa|blue|cni-f01")),
        ("pod shop/web-0 (value cni-aaa)", printed_queries(dash, instance="node1:9798",
                                                          pod="cni-aaa"),
         expected_panel("node1:9798", pod_re="cni-aaa")),
        ("netns and pod disjoint", printed_queries(dash, instance="node1:9798", netns="blue",
                                                   pod="cni-aaa"), []),
        ("all, node2", printed_queries(dash, instance="node2:9798"),
         expected_panel("node2:9798")),
    ]
    # Sanity of the expectations themselves (so that a broken fixture cannot pass silently).
    assert len(cases[0][2]) == 20 and cases[0][2][0]["value"] == 0.95, cases[0][2][:1]
    assert not any("f01" in s["labels"] or "f05" in s["labels"] for s in cases[0][2])
    assert 'pod="web-0"' in cases[2][2][0]["labels"] and len(cases[2][2]) == 1

    tests = {"rule_files": [], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": input_series(),
        "promql_expr_test": [{"expr": q, "eval_time": "5m", "exp_samples": exp}
                              for _, q, exp in cases] + [
            {"expr": pod_expr, "eval_time": "5m", "exp_samples": expected_pod_variable("node1:9798")},
        ]}]}
    path = os.path.join(out_dir, "netns_queries_test.yml")
    with open(path, "w") as f:
        json.dump(tests, f, indent=1)  # YAML is a superset of JSON
    r = subprocess.run(["promtool", "test", "rules", path], capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout + r.stderr, file=sys.stderr)
        fail("promtool test rules: a namespace query does not return the expected series "
             f"(cases: {[c[0] for c in cases] + ['$pod variable']})")

    # The $pod regex on the (now verified) series, as Grafana applies it.
    js = variables["pod"]["regex"]
    if not (js.startswith("/") and js.endswith("/")):
        fail(f"$pod regex {js!r} is not /.../")
    rx = re.compile(re.sub(r"\(\?<(\w+)>", r"(?P<\1>", js[1:-1]))
    got = {}
    for s in expected_pod_variable("node1:9798"):
        mm = rx.search(grafana_text(s["labels"], s["value"]))
        if not mm:
            fail(f"$pod regex does not match {grafana_text(s['labels'], s['value'])}")
        got[mm.group("text")] = mm.group("value")
    want = {f"{r[4]}/{r[5]}": r[0] for r in NODE1 if r[5]}
    if got != want:
        fail(f"$pod options {got} != {want}")
    print(f"netns queries: {len(cases)} panel cases and the $pod variable exact "
          f"({len(want)} pods -> their netns)")


if __name__ == "__main__":
    main()
