#!/usr/bin/env python3
"""The fleet test's fleet: 30 nodes, each its own network namespace with its own exporter and
its own socket population; what every fleet query must answer on it (python3 + yaml).

usage:
  fleet_spec.py setup --run-dir D --prefix P --exporter BIN --src SRC
      Creates the namespaces (hub P-hub with a bridge 198.18.0.1/24; node P-nNN at
      198.18.0.<10+NN> on a veth to the bridge; the pods), addresses, sysctls and NAT rules;
      writes D/netns.list (before each namespace is made, so teardown finds them all),
      D/plan.json (population.py), D/nodes.tsv (name netns listen config connect-failures),
      D/fleet.yml and D/fleet-pods.yml (exporter configs), D/targets.json.
  fleet_spec.py teardown --run-dir D
      Deletes every namespace of D/netns.list, newest first.

The population (one row per node; "agent" = i connections to a local listener 127.0.0.9:7000,
so every quiet node has its own small, distinct occupancy i / 28232):
  n01-n04  idle: no socket at all
  n05-n22  quiet: agent with i = node number connections
  n23, n24 share the database db = 198.18.0.1:5432 (a listener in the hub): 40-port range,
           40 connections each, then EADDRNOTAVAIL (connect() failures counted by the BPF
           source) -> 100% on two nodes at once
  n25      cache (127.0.0.2:6379, local): 36 of 40 ports -> 90%
  n26      api (127.0.0.3:8443, local): 40 of 40 and EADDRNOTAVAIL -> 100%, one node only
  n27      reads three pod namespaces (namespaces.mode list): pa holds queue (127.0.0.4:5672)
           at 32 of 40 ports (80%), pb 2 agent connections, pc nothing
  n28, n29 a pod behind the node's source NAT (snat to the node's address, ports
           41000-41019: 20 usable) holds 17 / 19 connections to objstore (198.18.0.1:9000) ->
           NAT 85% / 95% on two nodes at once; the nodes themselves hold 28 / 29 agent
           connections
  n30      search (127.0.0.5:9200, local): 12 of 40 ports -> 30%
"""
import argparse
import json
import os
import subprocess
import sys

import yaml

HUB_ADDR = "198.18.0.1"
DB = f"{HUB_ADDR}:5432"
OBJSTORE = f"{HUB_ADDR}:9000"
AGENT = "127.0.0.9:7000"
SMALL_RANGE = (40000, 40039)          # 40 ports
SNAT_RANGE = (41000, 41019)           # 20 NAT ports
DEFAULT_USABLE = 60999 - 32768 + 1    # 28232, the kernel default range
EXPORTER_PORT = 9798
NODES = 30
# Destination groups, the same on every node (one ConfigMap for the fleet).
GROUPS = [("db", DB), ("cache", "127.0.0.2:6379"), ("api", "127.0.0.3:8443"),
          ("queue", "127.0.0.4:5672"), ("search", "127.0.0.5:9200")]


def node_name(i):
    return f"n{i:02d}"


def node_addr(i):
    return f"198.18.0.{10 + i}"


def instance(i):
    return f"{node_addr(i)}:{EXPORTER_PORT}"


def population():
    """Per node: dict(range, connect=[(to, hold, exhaust)], listen=[...], pods={...},
    nat_pod=(hold) or None, connect_failures=bool). Pods: name -> same shape."""
    nodes = {}
    for i in range(1, NODES + 1):
        n = {"range": None, "listen": [], "connect": [], "pods": {}, "nat_pod": None,
             "connect_failures": False}
        if 5 <= i <= 22 or i in (28, 29):
            n["listen"] = [AGENT]
            n["connect"] = [(AGENT, i, False)]
        if i in (23, 24):
            n.update(range=SMALL_RANGE, connect=[(DB, 40, True)], connect_failures=True)
        if i == 25:
            n.update(range=SMALL_RANGE, listen=["127.0.0.2:6379"], connect=[("127.0.0.2:6379", 36, False)])
        if i == 26:
            n.update(range=SMALL_RANGE, listen=["127.0.0.3:8443"],
                     connect=[("127.0.0.3:8443", 40, True)], connect_failures=True)
        if i == 27:
            n["pods"] = {
                "pa": {"range": SMALL_RANGE, "listen": ["127.0.0.4:5672"], "connect": [("127.0.0.4:5672", 32, False)]},
                "pb": {"range": None, "listen": [AGENT], "connect": [(AGENT, 2, False)]},
                "pc": {"range": None, "listen": [], "connect": []},
            }
        if i in (28, 29):
            n["nat_pod"] = {28: 17, 29: 19}[i]
        if i == 30:
            n.update(range=SMALL_RANGE, listen=["127.0.0.5:9200"], connect=[("127.0.0.5:9200", 12, False)])
        nodes[i] = n
    return nodes


def sh(*args, check=True):
    r = subprocess.run(args, capture_output=True, text=True)
    if check and r.returncode != 0:
        sys.exit(f"fleet_spec: {' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


class Namespaces:
    """Makes namespaces with a private established hash (a namespace made from one whose
    net.ipv4.tcp_child_ehash_entries is set gets its own table, 6.1+; each "node" then dumps
    only its own sockets, as a real node does), else plain `ip netns add`."""

    def __init__(self, run_dir, prefix):
        self.list = os.path.join(run_dir, "netns.list")
        self.parent = f"{prefix}-p"
        self.private = False
        self.add_plain(self.parent)
        self.private = sh("ip", "netns", "exec", self.parent, "sysctl", "-qw",
                          "net.ipv4.tcp_child_ehash_entries=1024", check=False).returncode == 0

    def record(self, name):
        with open(self.list, "a") as f:
            f.write(name + "\n")

    def add_plain(self, name):
        self.record(name)
        sh("ip", "netns", "add", name)

    def add(self, name, private=True):
        if not (private and self.private):
            self.add_plain(name)
        else:
            self.record(name)
            path = f"/var/run/netns/{name}"
            open(path, "a").close()
            sh("nsenter", f"--net=/var/run/netns/{self.parent}", "unshare", f"--net={path}", "true")
        sh("ip", "-n", name, "link", "set", "lo", "up")
        return name


def sysctl(ns, *settings):
    sh("ip", "netns", "exec", ns, "sysctl", "-qw", *settings)


def set_range(ns, rng):
    if rng:
        # tcp_tw_reuse 0: the namespace default 2 lets connect() take over loopback TIME_WAIT.
        sysctl(ns, f"net.ipv4.ip_local_port_range={rng[0]} {rng[1]}", "net.ipv4.tcp_tw_reuse=0")


def exporter_config(pods_prefix=None):
    cfg = {
        "destinations": {"groups": [
            {"name": g, "cidrs": [a.rsplit(":", 1)[0] + "/32"], "ports": [int(a.rsplit(":", 1)[1])]}
            for g, a in GROUPS]},
        "nat": {"groups": [{"name": "objstore", "cidrs": [f"{HUB_ADDR}/32"], "ports": [9000],
                            "protocol": "tcp", "usable_ports": f"{SNAT_RANGE[0]}-{SNAT_RANGE[1]}"}]},
    }
    if pods_prefix:
        cfg["namespaces"] = {"mode": "list", "names": [f"{pods_prefix}-{p}" for p in ("pa", "pb", "pc")]}
    return cfg


def cmd_setup(a):
    os.makedirs(a.run_dir, exist_ok=True)
    open(os.path.join(a.run_dir, "netns.list"), "w").close()
    nss = Namespaces(a.run_dir, a.prefix)
    hub = nss.add(f"{a.prefix}-hub")
    sh("ip", "-n", hub, "link", "add", "br0", "type", "bridge")
    sh("ip", "-n", hub, "addr", "add", f"{HUB_ADDR}/24", "dev", "br0")
    sh("ip", "-n", hub, "link", "set", "br0", "up")
    plan = [{"netns": f"/var/run/netns/{hub}", "listen": [DB, OBJSTORE], "connect": []}]
    rows = []
    pop = population()
    for i, n in pop.items():
        ns = nss.add(f"{a.prefix}-{node_name(i)}")
        veth = f"v{i:02d}"
        sh("ip", "-n", hub, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "-n", hub, "link", "set", veth, "master", "br0", "up")
        sh("ip", "-n", ns, "addr", "add", f"{node_addr(i)}/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        set_range(ns, n["range"])
        plan.append({"netns": f"/var/run/netns/{ns}", "listen": n["listen"],
                     "connect": [{"to": t, "hold": h, "exhaust": e} for t, h, e in n["connect"]]})
        # Pods are made like a container runtime makes them: from a namespace without
        # tcp_child_ehash_entries, so they share the host-wide established hash (and are
        # detailed only above namespaces.detail_threshold, as on a real node).
        for p, pod in n["pods"].items():
            pns = nss.add(f"{ns}-{p}", private=False)
            set_range(pns, pod["range"])
            plan.append({"netns": f"/var/run/netns/{pns}", "listen": pod["listen"],
                         "connect": [{"to": t, "hold": h, "exhaust": e} for t, h, e in pod["connect"]]})
        if n["nat_pod"]:
            pns = nss.add(f"{ns}-pod", private=False)
            sh("ip", "-n", ns, "link", "add", "p0", "type", "veth", "peer", "name", "eth0", "netns", pns)
            sh("ip", "-n", ns, "addr", "add", f"198.19.{i}.1/30", "dev", "p0")
            sh("ip", "-n", ns, "link", "set", "p0", "up")
            sh("ip", "-n", pns, "addr", "add", f"198.19.{i}.2/30", "dev", "eth0")
            sh("ip", "-n", pns, "link", "set", "eth0", "up")
            sh("ip", "-n", pns, "route", "add", "default", "via", f"198.19.{i}.1")
            sysctl(ns, "net.ipv4.ip_forward=1")
            rules = (f"table ip sst_fleet_nat {{\n chain post {{\n"
                     f"  type nat hook postrouting priority srcnat;\n"
                     f"  oifname \"eth0\" ip daddr {HUB_ADDR} tcp dport 9000 "
                     f"snat to {node_addr(i)}:{SNAT_RANGE[0]}-{SNAT_RANGE[1]}\n }}\n}}\n")
            r = subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=rules,
                               capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"fleet_spec: nft in {ns}: {r.stderr.strip()}")
            plan.append({"netns": f"/var/run/netns/{pns}", "listen": [],
                         "connect": [{"to": OBJSTORE, "hold": n["nat_pod"], "exhaust": False}]})
        config = "fleet-pods.yml" if n["pods"] else "fleet.yml"
        rows.append([node_name(i), ns, f"{node_addr(i)}:{EXPORTER_PORT}", config,
                     "on" if n["connect_failures"] else "off"])
    with open(os.path.join(a.run_dir, "fleet.yml"), "w") as f:
        yaml.safe_dump(exporter_config(), f, sort_keys=False)
    with open(os.path.join(a.run_dir, "fleet-pods.yml"), "w") as f:
        yaml.safe_dump(exporter_config(f"{a.prefix}-{node_name(27)}"), f, sort_keys=False)
    with open(os.path.join(a.run_dir, "plan.json"), "w") as f:
        json.dump({"namespaces": plan}, f, indent=1)
    with open(os.path.join(a.run_dir, "nodes.tsv"), "w") as f:
        for r in rows:
            f.write("\t".join(r) + "\n")
    print(f"fleet_spec: {len(rows)} nodes, {sum(1 for _ in open(nss.list))} namespaces "
          f"(established hash: {'private' if nss.private else 'shared with the host'})")


def cmd_teardown(a):
    path = os.path.join(a.run_dir, "netns.list")
    if not os.path.exists(path):
        return
    names = [l.strip() for l in open(path) if l.strip()]
    for name in reversed(names):
        if subprocess.run(["ip", "netns", "del", name], capture_output=True).returncode != 0:
            try:
                os.unlink(f"/var/run/netns/{name}")
            except FileNotFoundError:
                pass


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--run-dir", required=True)
    s.add_argument("--prefix", required=True)
    t = sub.add_parser("teardown")
    t.add_argument("--run-dir", required=True)
    a = ap.parse_args()
    {"setup": cmd_setup, "teardown": cmd_teardown}[a.cmd](a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
