#!/usr/bin/env python3
"""Exact result of the fleet dashboard's pods panel on a known population (promtool).

usage: fleet_queries_test.py DASHBOARD.json OUT_DIR

Series: the fleet rule instance_netns:sockstate_destination_occupancy_ratio:max for 24 pod
namespaces on two instances (distinct values, so topk(20) has one answer), their
sockstate_netns_info (pod_uid known for most), and kube-state-metrics' kube_pod_info from two
replicas (every pod twice) for some of them. The panel's query, as check_dashboard.py
--print-queries prints it for job=sockstate, must return the 20 fullest pods, each once, with
the Kubernetes namespace and pod where kube_pod_info knows the uid, with pod_uid alone where it
does not, and with neither for a namespace without a pod uid. Another job's pods stay out.
The live fleet test (tests/fleet) runs the same panel against real exporters; this test covers
the kube-state-metrics join, which needs kube_pod_info.
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PANEL_TITLE = "Pods by fullest destination"
RECORD = "instance_netns:sockstate_destination_occupancy_ratio:max"


def fail(msg):
    print(f"fleet_queries_test: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def sel(labels):
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


# (job, instance, netns, occupancy, pod_uid or "", (k8s namespace, pod) or None)
PODS = []
for i in range(1, 23):  # node1: 22 pods, 0.02 .. 0.44; every third unknown to kube-state-metrics
    uid = f"0b1e0000-0000-4000-8000-0000000001{i:02d}"
    PODS.append(("sockstate", "node1:9798", f"cni-{i:02d}", round(0.02 * i, 2), uid,
                 None if i % 3 == 0 else ("shop", f"web-{i:02d}")))
PODS.append(("sockstate", "node2:9798", "cni-01", 0.9, "0b1e0000-0000-4000-8000-000000000201",
             ("batch", "job-1")))
PODS.append(("sockstate", "node2:9798", "blue", 0.5, "", None))      # named netns, no pod
PODS.append(("other-job", "node9:9798", "cni-01", 0.99, "0b1e0000-0000-4000-8000-000000000901",
             ("shop", "web-x")))


def input_series():
    out = []
    for job, inst, netns, occ, uid, pod in PODS:
        base = {"job": job, "instance": inst, "netns": netns}
        out.append({"series": RECORD + sel(base), "values": f"{occ}x10"})
        info = dict(base)
        if uid:
            info["pod_uid"] = uid
        out.append({"series": "sockstate_netns_info" + sel(info), "values": "1x10"})
        if pod:
            for ksm in ("ksm-0:8080", "ksm-1:8080"):
                out.append({"series": "kube_pod_info" + sel({
                    "job": "kube-state-metrics", "instance": ksm, "namespace": pod[0],
                    "pod": pod[1], "uid": uid, "node": inst.split(":")[0]}), "values": "1x10"})
    return out


def expected():
    rows = sorted((p for p in PODS if p[0] == "sockstate"), key=lambda p: -p[3])[:20]
    out = []
    for job, inst, netns, occ, uid, pod in rows:
        labels = {"job": job, "instance": inst, "netns": netns}
        if uid:
            labels["pod_uid"] = uid
        if pod:
            labels.update(namespace=pod[0], pod=pod[1])
        out.append({"labels": sel(labels), "value": occ})
    return out


def main():
    dash, out_dir = sys.argv[1], sys.argv[2]
    out = subprocess.run([sys.executable, os.path.join(HERE, "check_dashboard.py"), "--print-queries",
                          "--var", "job=sockstate", dash], check=True, capture_output=True,
                         text=True).stdout
    qs = [json.loads(line) for line in out.splitlines()]
    panel = [q for q in qs if q["title"] == PANEL_TITLE]
    if len(panel) != 1:
        fail(f"expected one query in panel {PANEL_TITLE!r}, found {len(panel)}")
    exp = expected()
    # The expectation itself: 20 rows, node2's pod first, unknown and uid-less rows included.
    assert len(exp) == 20 and 'pod="job-1"' in exp[0]["labels"], exp[:1]
    assert any('netns="blue"' in e["labels"] and "pod_uid" not in e["labels"] for e in exp)
    assert any('netns="cni-21"' in e["labels"] and 'pod="' not in e["labels"] for e in exp)
    tests = {"rule_files": [], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": input_series(),
        "promql_expr_test": [{"expr": panel[0]["expr"], "eval_time": "5m", "exp_samples": exp}]}]}
    path = os.path.join(out_dir, "fleet_queries_test.yml")
    with open(path, "w") as f:
        json.dump(tests, f, indent=1)  # YAML is a superset of JSON
    r = subprocess.run(["promtool", "test", "rules", path], capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout + r.stderr, file=sys.stderr)
        fail("promtool test rules: the pods panel does not return the expected rows")
    print(f"fleet pods panel: {len(exp)} rows exact (kube_pod_info join, uid only, no uid, topk cut)")


if __name__ == "__main__":
    main()
