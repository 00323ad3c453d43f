#!/usr/bin/env python3
"""Writes a container seccomp profile that lets CAP_BPF / CAP_PERFMON do what they grant.

Older default profiles of podman, buildah and CRI-O (containers-common, e.g. Debian 12's) and
of Docker before 23.0 allow the bpf() and perf_event_open() syscalls only to a container with
CAP_SYS_ADMIN: a container given just CAP_BPF + CAP_PERFMON (what the connect-failures source
needs, docs/connect-failures.md) gets EPERM from bpf(). This reads such a profile (JSON) and
prints it with the change newer profiles made (Docker 23.0, containerd 1.7): bpf() also with
CAP_BPF, perf_event_open() also with CAP_PERFMON. Nothing else changes; a profile that already
allows them comes out the same.

  python3 deploy/seccomp/allow-bpf.py /usr/share/containers/seccomp.json > sockstate-seccomp.json
  podman run --security-opt seccomp=sockstate-seccomp.json --cap-add=BPF --cap-add=PERFMON ...
"""
import json
import sys

GATES = {"bpf": "CAP_BPF", "perf_event_open": "CAP_PERFMON"}


def caps(rule, key):
    return list((rule.get(key) or {}).get("caps") or [])


def allow_with(profile):
    out = []
    for rule in profile.get("syscalls") or []:
        names = rule.get("names") or ([rule["name"]] if "name" in rule else [])
        gated = [n for n in names if n in GATES]
        excl = caps(rule, "excludes")
        # A rule that denies these syscalls unless CAP_SYS_ADMIN: deny them only when neither
        # CAP_SYS_ADMIN nor the specific capability is there.
        if gated and rule.get("action") != "SCMP_ACT_ALLOW" and "CAP_SYS_ADMIN" in excl \
                and not rule.get("args"):
            rest = [n for n in names if n not in GATES]
            if rest:
                out.append(dict(rule, names=rest))
            for n in gated:
                denied = dict(rule, names=[n])
                denied["excludes"] = dict(rule.get("excludes") or {}, caps=excl + [GATES[n]])
                out.append(denied)
            continue
        out.append(rule)
    for name, cap in GATES.items():
        if not any(name in (r.get("names") or []) and r.get("action") == "SCMP_ACT_ALLOW"
                   and caps(r, "includes") == [cap] and not r.get("args") for r in out):
            out.append({"names": [name], "action": "SCMP_ACT_ALLOW", "args": [],
                        "comment": "sockstate: %s grants it" % cap,
                        "includes": {"caps": [cap]}, "excludes": {}})
    profile["syscalls"] = out
    return profile


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: allow-bpf.py PROFILE.json > NEW.json")
    with open(sys.argv[1]) as f:
        profile = json.load(f)
    json.dump(allow_with(profile), sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
