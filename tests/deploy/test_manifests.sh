#!/usr/bin/env bash
# Tier "deploy": the Kubernetes manifests in deploy/kubernetes parse, carry what the exporter
# needs (host network, read-only host /proc, non-root, read-only root filesystem, resources),
# fit together (Service <- ServiceMonitor, ConfigMap <- DaemonSet, ports), and the generated
# files (prometheusrule.yaml, configmap.yaml) equal a fresh generation from config/.
# Offline: no cluster needed. kubectl, when installed, renders the kustomization; promtool,
# when installed, checks the PrometheusRule's rules.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src_dir=${SOCKSTATE_SOURCE_DIR:-$(cd "$script_dir/../.." && pwd)}
kdir=$src_dir/deploy/kubernetes
export SOCKSTATE_SOURCE_DIR=$src_dir

die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
python3 -c 'import yaml' 2>/dev/null \
  || die "tier deploy cannot run: python3 PyYAML missing — run scripts/install-deps.sh --test (python3-yaml)"
[[ -d "$kdir" ]] || die "no $kdir"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { printf 'FAIL: %s\n' "$*" >&2; fails=$((fails + 1)); }

# 1. Generated files are current: regenerate and diff. Never edit them by hand.
check_generated() {  # $1 = generator, $2 = committed file
  if ! "$src_dir/scripts/$1" >"$tmp/gen.yaml" 2>"$tmp/gen.err"; then
    cat "$tmp/gen.err" >&2
    fail "scripts/$1 failed"
    return
  fi
  [[ ! -s "$tmp/gen.err" ]] || sed "s/^/note: /" "$tmp/gen.err"
  if diff -u "$2" "$tmp/gen.yaml" >"$tmp/gen.diff"; then
    echo "ok: ${2#"$src_dir"/} equals the output of scripts/$1"
  else
    head -40 "$tmp/gen.diff" >&2
    fail "${2#"$src_dir"/} is stale: run scripts/$1 > ${2#"$src_dir"/}"
  fi
}
check_generated gen-prometheusrule.sh "$kdir/prometheusrule.yaml"
check_generated gen-configmap.sh "$kdir/configmap.yaml"

# 2. The generator itself, on a sample rules file (alerts with multi-line exprs and templates
#    plus a recording rule): the PrometheusRule's groups equal the file's groups.
mkdir -p "$tmp/rules"
cat >"$tmp/rules/sample-alerts.yml" <<'EOF'
groups:
  - name: sample.alerts
    rules:
      - alert: SampleLow
        expr: |
          sockstate_ephemeral_port_usable_ports
            / sockstate_ephemeral_port_range_ports < 0.1
        for: 10m
        labels: {severity: warning}
        annotations:
          summary: "low on {{ $labels.instance }}: {{ $value | humanizePercentage }}"
EOF
cat >"$tmp/rules/sample-rules.yml" <<'EOF'
groups:
  - name: sample.records
    rules:
      - record: "sockstate:tw:ratio"
        expr: sockstate_time_wait_bucket_usage_ratio
EOF
echo 'rule_files: [x]' >"$tmp/rules/ignored_test.yml"   # not a rules file: must be skipped
"$src_dir/scripts/gen-prometheusrule.sh" --rules-dir "$tmp/rules" >"$tmp/sample-pr.yaml" \
  || fail "gen-prometheusrule.sh failed on the sample rules"
python3 - "$tmp/rules" "$tmp/sample-pr.yaml" <<'EOF' || fail "gen-prometheusrule.sh: sample groups not carried over unchanged"
import sys, yaml
d, out = sys.argv[1], sys.argv[2]
want = yaml.safe_load(open(d + "/sample-alerts.yml"))["groups"] + yaml.safe_load(open(d + "/sample-rules.yml"))["groups"]
pr = yaml.safe_load(open(out))
assert pr["kind"] == "PrometheusRule" and pr["apiVersion"] == "monitoring.coreos.com/v1", pr
assert pr["spec"]["groups"] == want, (pr["spec"]["groups"], want)
print("ok: gen-prometheusrule.sh carries sample groups over unchanged")
EOF

# 3. Structure and consistency of every manifest.
python3 - "$kdir" "$src_dir" <<'EOF' || fail "manifest checks (above)"
import glob, os, re, sys, yaml

kdir, src = sys.argv[1], sys.argv[2]
errors = []
def check(cond, msg):
    if not cond:
        errors.append(msg)
    return cond

API = {"Namespace": "v1", "ConfigMap": "v1", "Service": "v1", "DaemonSet": "apps/v1",
       "ServiceMonitor": "monitoring.coreos.com/v1", "PrometheusRule": "monitoring.coreos.com/v1",
       "Kustomization": "kustomize.config.k8s.io/v1beta1"}
objs = {}
files = sorted(glob.glob(os.path.join(kdir, "*.yaml")) + glob.glob(os.path.join(kdir, "*.yml")))
for f in files:
    try:
        docs = [d for d in yaml.safe_load_all(open(f)) if d is not None]
    except yaml.YAMLError as e:
        errors.append(f"{os.path.basename(f)}: does not parse: {e}")
        continue
    for d in docs:
        name = os.path.basename(f)
        if not check(isinstance(d, dict) and "kind" in d and "apiVersion" in d,
                     f"{name}: a document without kind/apiVersion"):
            continue
        k = d["kind"]
        check(k in API, f"{name}: unexpected kind {k}")
        check(API.get(k) == d["apiVersion"], f"{name}: {k} apiVersion {d['apiVersion']}, want {API.get(k)}")
        if k != "Kustomization":
            check(bool(d.get("metadata", {}).get("name")), f"{name}: {k} without metadata.name")
        check(k not in objs, f"{name}: second {k}")
        objs[k] = d
        objs[k + "@file"] = name
missing = set(API) - {k for k in objs if "@" not in k}
check(not missing, f"missing kinds: {sorted(missing)}")
if missing:
    print("\n".join("  " + e for e in errors), file=sys.stderr); sys.exit(1)

kust, ns, ds, svc, sm, pr, cm = (objs[k] for k in ("Kustomization", "Namespace", "DaemonSet",
                                                   "Service", "ServiceMonitor", "PrometheusRule", "ConfigMap"))
# Kustomization lists exactly the other files, and deploys into the Namespace.
res = kust.get("resources", [])
others = sorted(os.path.basename(f) for f in files if objs["Kustomization@file"] != os.path.basename(f))
check(sorted(res) == others, f"kustomization resources {sorted(res)} != files {others}")
check(kust.get("namespace") == ns["metadata"]["name"], "kustomization namespace != Namespace")

# DaemonSet.
spec = ds["spec"]; pod = spec["template"]["spec"]
tl = spec["template"]["metadata"].get("labels", {})
check(all(tl.get(k) == v for k, v in spec["selector"]["matchLabels"].items()), "DaemonSet selector does not match its pod labels")
check(pod.get("hostNetwork") is True, "DaemonSet: hostNetwork must be true")
check(pod.get("dnsPolicy") == "ClusterFirstWithHostNet", "DaemonSet: dnsPolicy must be ClusterFirstWithHostNet")
check(not pod.get("hostPID"), "DaemonSet: hostPID not needed (yet)")
check(any(t.get("operator") == "Exists" and not t.get("key") for t in pod.get("tolerations", [])),
      "DaemonSet: must tolerate every taint")
psc = pod.get("securityContext", {})
check(len(pod["containers"]) == 1, "DaemonSet: one container")
c = pod["containers"][0]
sc = c.get("securityContext", {})
def eff(key):
    return sc.get(key, psc.get(key))
check(eff("runAsNonRoot") is True, "runAsNonRoot must be true")
check(eff("runAsUser") == 65534, "runAsUser must be 65534")
check(sc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem must be true")
check(sc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation must be false")
check(not sc.get("privileged"), "must not be privileged")
check(sc.get("capabilities", {}).get("drop") == ["ALL"], "capabilities must drop ALL")
check(not sc.get("capabilities", {}).get("add"), "no capability is needed (sock_diag of own netns)")
r = c.get("resources", {})
for kind in ("requests", "limits"):
    for res_ in ("cpu", "memory"):
        check(bool(r.get(kind, {}).get(res_)), f"resources.{kind}.{res_} must be set")
args = c.get("args", [])
argd = dict(a.split("=", 1) for a in args if a.startswith("--") and "=" in a)
ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
check(ports.get("metrics") == 9798, "container port 'metrics' must be 9798")
check(argd.get("--web.listen-address", ":9798").rsplit(":", 1)[-1] == "9798", "--web.listen-address must use port 9798")
mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
vols = {v["name"]: v for v in pod.get("volumes", [])}
procfs = argd.get("--path.procfs")
check(procfs is not None, "--path.procfs must point at the host /proc mount")
m = mounts.get(procfs or "")
if check(m is not None, f"nothing mounted at --path.procfs={procfs}"):
    check(m.get("readOnly") is True, "host /proc must be mounted readOnly")
    check(vols.get(m["name"], {}).get("hostPath", {}).get("path") == "/proc", "host /proc mount must be hostPath /proc")
hostpaths = [v for v in vols.values() if "hostPath" in v]
check(len(hostpaths) == 1, "only one hostPath volume (/proc)")
cfg = argd.get("--config.file")
if check(cfg is not None, "--config.file must be set"):
    cdir, cname = os.path.split(cfg)
    m = mounts.get(cdir)
    if check(m is not None, f"nothing mounted at {cdir}"):
        check(m.get("readOnly") is True, f"{cdir} must be mounted readOnly")
        cmv = vols.get(m["name"], {}).get("configMap", {})
        check(cmv.get("name") == cm["metadata"]["name"], "config volume must be the ConfigMap")
        check(cname in cm.get("data", {}), f"ConfigMap has no key {cname}")
for probe in ("livenessProbe", "readinessProbe"):
    hg = c.get(probe, {}).get("httpGet", {})
    check(hg.get("port") in ("metrics", 9798), f"{probe} must probe the metrics port")
check(pod.get("automountServiceAccountToken") is False, "no API access needed: automountServiceAccountToken false")

# Service.
sp = svc["spec"]
check(sp.get("clusterIP") == "None", "Service must be headless")
check(any(p.get("port") == 9798 and p.get("name") == "metrics" for p in sp.get("ports", [])), "Service port metrics/9798")
check(all(tl.get(k) == v for k, v in sp.get("selector", {}).items()) and sp.get("selector"),
      "Service selector must select the DaemonSet's pods")
# ServiceMonitor selects the Service by its labels and scrapes its port.
sl = svc["metadata"].get("labels", {})
sel = sm["spec"].get("selector", {}).get("matchLabels", {})
check(sel and all(sl.get(k) == v for k, v in sel.items()), "ServiceMonitor selector must match the Service's labels")
eps = sm["spec"].get("endpoints", [])
check(eps and all(e.get("port") == "metrics" for e in eps), "ServiceMonitor endpoints must use port 'metrics'")
check(all(e.get("path", "/metrics") == "/metrics" for e in eps), "ServiceMonitor path must be /metrics")
# The job label is the Service's name (no jobLabel set); SockstateExporterDown watches
# up{job=~".*sockstate.*"}.
job = svc["metadata"]["labels"].get(sm["spec"]["jobLabel"]) if sm["spec"].get("jobLabel") else svc["metadata"]["name"]
check(job is not None and "sockstate" in job, f"scrape job {job!r} must contain 'sockstate' (SockstateExporterDown)")
nsel = sm["spec"].get("namespaceSelector", {}).get("matchNames")
check(nsel is None or ns["metadata"]["name"] in nsel, "ServiceMonitor namespaceSelector must include the namespace")
# PrometheusRule carries exactly config/prometheus's groups (the diff above checks the text).
want = []
for f in sorted(set(glob.glob(os.path.join(src, "config/prometheus/*-alerts.y*ml")) +
                    glob.glob(os.path.join(src, "config/prometheus/*-rules.y*ml")))):
    want += yaml.safe_load(open(f))["groups"]
check(pr["spec"].get("groups") == want, "PrometheusRule groups differ from config/prometheus's")
# The image and the DaemonSet agree on user and port.
df = open(os.path.join(src, "Dockerfile")).read()
runtime = df.split("\nFROM ")[-1]
check(re.search(r"^USER 65534(:65534)?$", runtime, re.M) is not None, "Dockerfile runtime stage must be USER 65534")
check(re.search(r"^EXPOSE 9798$", runtime, re.M) is not None, "Dockerfile must EXPOSE 9798")

if errors:
    print("\n".join("  " + e for e in errors), file=sys.stderr)
    sys.exit(1)
print(f"ok: {len(files)} manifests parse; DaemonSet/Service/ServiceMonitor/ConfigMap/PrometheusRule consistent "
      f"({len(want)} rule groups)")
EOF

# 4. The ConfigMap's configuration loads in the exporter (when ctest built one).
bin=${SOCKSTATE_EXPORTER_BIN:-}
if [[ -n "$bin" && -x "$bin" ]]; then
  python3 -c 'import sys, yaml; d = yaml.safe_load(open(sys.argv[1]))["data"]
for k, v in d.items(): open(sys.argv[2] + "/" + k, "w").write(v)' "$kdir/configmap.yaml" "$tmp"
  if "$bin" --config.check --config.file="$tmp/sockstate.yml" >"$tmp/check.out" 2>&1; then
    echo "ok: the ConfigMap's sockstate.yml passes --config.check"
  else
    cat "$tmp/check.out" >&2
    fail "the ConfigMap's sockstate.yml fails sockstate_exporter --config.check"
  fi
else
  echo "note: SOCKSTATE_EXPORTER_BIN not set or not built: ConfigMap not checked with --config.check"
fi

# 5. Optional tools.
if command -v kubectl >/dev/null 2>&1; then
  if kubectl kustomize "$kdir" >"$tmp/rendered.yaml" 2>"$tmp/kubectl.err"; then
    n=$(grep -c '^kind:' "$tmp/rendered.yaml" || true)
    echo "ok: kubectl kustomize renders $n objects (offline; no cluster contacted)"
  else
    cat "$tmp/kubectl.err" >&2
    fail "kubectl kustomize $kdir failed"
  fi
else
  echo "note: kubectl not found: offline checks only (no kustomize rendering)"
fi
if command -v promtool >/dev/null 2>&1; then
  python3 -c 'import sys, yaml; print(yaml.safe_dump({"groups": yaml.safe_load(open(sys.argv[1]))["spec"]["groups"]}))' \
    "$kdir/prometheusrule.yaml" >"$tmp/rules.yml"
  if promtool check rules "$tmp/rules.yml" >"$tmp/promtool.out" 2>&1; then
    echo "ok: promtool check rules accepts the PrometheusRule's groups"
  else
    cat "$tmp/promtool.out" >&2
    fail "promtool check rules rejects the PrometheusRule's groups"
  fi
else
  echo "note: promtool not found: rules not checked with promtool"
fi

# The all-namespaces overlay: patches target the base objects by name and add exactly what
# namespace discovery needs; its exporter config is valid.
overlay="$kdir/../overlays/all-namespaces"
python3 - "$kdir" "$overlay" "$tmp" <<'PY' || fail "overlay all-namespaces"
import os, sys, yaml
kdir, ov, tmp = sys.argv[1:4]
k = yaml.safe_load(open(os.path.join(ov, "kustomization.yaml")))
assert k["resources"] == ["../../kubernetes"], k["resources"]
base = {}
for f in os.listdir(kdir):
    if f.endswith(".yaml"):
        for d in yaml.safe_load_all(open(os.path.join(kdir, f))):
            if d and "metadata" in d: base[(d["kind"], d["metadata"]["name"])] = d
patches = [yaml.safe_load(open(os.path.join(ov, p["path"]))) for p in k["patches"]]
for p in patches:
    assert (p["kind"], p["metadata"]["name"]) in base, f"patch targets no base object: {p['kind']}/{p['metadata']['name']}"
ds = next(p for p in patches if p["kind"] == "DaemonSet")["spec"]["template"]["spec"]
assert ds["hostPID"] is True
c = ds["containers"][0]
assert c["name"] == base[("DaemonSet", "sockstate-exporter")]["spec"]["template"]["spec"]["containers"][0]["name"]
assert sorted(c["securityContext"]["capabilities"]["add"]) == ["SYS_ADMIN", "SYS_PTRACE"]
assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
m = {v["name"]: v for v in c["volumeMounts"]}["netns"]
assert m["mountPath"] == "/var/run/netns" and m["mountPropagation"] == "HostToContainer" and m["readOnly"]
cm = next(p for p in patches if p["kind"] == "ConfigMap")
open(os.path.join(tmp, "overlay-sockstate.yml"), "w").write(cm["data"]["sockstate.yml"])
assert "mode: all" in cm["data"]["sockstate.yml"]
print("ok: overlay all-namespaces patches the base DaemonSet and ConfigMap")
PY
if command -v kubectl >/dev/null 2>&1; then
  kubectl kustomize "$overlay" >"$tmp/overlay.yaml" 2>"$tmp/overlay.err" \
    && grep -q 'hostPID: true' "$tmp/overlay.yaml" \
    || { cat "$tmp/overlay.err" >&2; fail "kubectl kustomize $overlay"; }
fi
if [[ -x ${SOCKSTATE_EXPORTER_BIN:-} ]]; then
  "$SOCKSTATE_EXPORTER_BIN" --config.check --config.file="$tmp/overlay-sockstate.yml" >/dev/null \
    || fail "the overlay's exporter config does not pass --config.check"
fi

# The connect-failures overlay (docs/connect-failures.md, docs/workloads.md): CAP_BPF +
# CAP_PERFMON as uid 0, --collector.connect-failures=on and --collector.time-wait-owners=on
# appended to the base args, the node's cgroup2 tree read-only at --path.cgroup2, no hostPID.
cf_overlay="$kdir/../overlays/connect-failures"
python3 - "$kdir" "$cf_overlay" <<'PY' || fail "overlay connect-failures"
import os, sys, yaml
kdir, ov = sys.argv[1:3]
k = yaml.safe_load(open(os.path.join(ov, "kustomization.yaml")))
assert k["resources"] == ["../../kubernetes"], k["resources"]
ds_patch = yaml.safe_load(open(os.path.join(ov, k["patches"][0]["path"])))
assert ds_patch["kind"] == "DaemonSet" and ds_patch["metadata"]["name"] == "sockstate-exporter"
pod = ds_patch["spec"]["template"]["spec"]
assert not pod.get("hostPID"), "hostPID is not needed for connect failures"
c = pod["containers"][0]
assert sorted(c["securityContext"]["capabilities"]["add"]) == ["BPF", "PERFMON"]
assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
assert c["securityContext"]["runAsUser"] == 0
ops = yaml.safe_load(k["patches"][1]["patch"])
assert ops == [{"op": "add", "path": "/spec/template/spec/containers/0/args/-", "value": v}
               for v in ("--collector.connect-failures=on", "--collector.time-wait-owners=on",
                         "--path.cgroup2=/host/sys/fs/cgroup")], ops
m = {v["name"]: v for v in c["volumeMounts"]}["cgroup2"]
assert m["mountPath"] == "/host/sys/fs/cgroup" and m["readOnly"] is True, m
v = {v["name"]: v for v in pod["volumes"]}["cgroup2"]
assert v["hostPath"]["path"] == "/sys/fs/cgroup", v
print("ok: overlay connect-failures adds CAP_BPF + CAP_PERFMON, the flags and the cgroup2 tree, no hostPID")
PY
if command -v kubectl >/dev/null 2>&1; then
  kubectl kustomize "$cf_overlay" >"$tmp/cf-overlay.yaml" 2>"$tmp/cf-overlay.err" \
    && grep -q -- '- --collector.connect-failures=on' "$tmp/cf-overlay.yaml" \
    && grep -q -- '- --collector.time-wait-owners=on' "$tmp/cf-overlay.yaml" \
    && grep -q -- 'mountPath: /host/sys/fs/cgroup' "$tmp/cf-overlay.yaml" \
    && grep -q -- '- PERFMON' "$tmp/cf-overlay.yaml" \
    && ! grep -q 'hostPID: true' "$tmp/cf-overlay.yaml" \
    || { cat "$tmp/cf-overlay.err" >&2; fail "kubectl kustomize $cf_overlay"; }
fi

((fails == 0)) || die "$fails check(s) failed"
echo "PASS"
