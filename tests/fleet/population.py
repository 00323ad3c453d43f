#!/usr/bin/env python3
"""The fleet test's socket populations, all made and held by this one process (python3 stdlib).

usage: population.py --plan PLAN.json --status-file FILE [--max-seconds N]

PLAN.json (written by fleet_spec.py plan) lists, per network namespace (a path under
/var/run/netns), listeners to open and connections to hold:
  {"namespaces": [{"netns": PATH, "listen": ["A:P", ...],
                   "connect": [{"to": "A:P", "hold": N, "exhaust": bool}, ...]}, ...]}
The process enters each namespace in turn (setns(2) on its own thread, through ctypes; a
socket stays in the namespace it was made in), opens the listeners, then makes the
connections, accepting each one when the listener is its own. A connection list with
"exhaust" must then fail with EADDRNOTAVAIL at the next connect() (its namespace's
ip_local_port_range holds exactly "hold" ports, set by the caller); afterwards every 0.5 s
one more connect() is tried there and must fail the same way, so connect() failures keep
counting while the test runs. Any other outcome is an error (exit 1).

When everything is held it writes {"held": {netns: N}, "failures": {netns: N}} to the status
file (atomically) and holds the sockets until SIGTERM/SIGINT or --max-seconds.
"""
import argparse
import ctypes
import errno
import json
import os
import signal
import socket
import sys
import time

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def enter(netns_path):
    fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"setns({netns_path}): {os.strerror(e)}")
    finally:
        os.close(fd)


def addr(spec):
    host, port = spec.rsplit(":", 1)
    return host, int(port)


def write_status(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
        f.write("\n")
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plan", required=True)
    ap.add_argument("--status-file", required=True)
    ap.add_argument("--max-seconds", type=float, default=900)
    a = ap.parse_args()
    plan = json.load(open(a.plan))

    stop = {"flag": False}

    def on_signal(signum, frame):
        stop["flag"] = True
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    home = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    held = []          # every socket, kept open
    listeners = {}     # (netns, "A:P") -> listening socket
    counts, failures, exhausting = {}, {}, []
    for ns in plan["namespaces"]:
        enter(ns["netns"])
        for spec in ns.get("listen", []):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(addr(spec))
            s.listen(4096)
            s.settimeout(5)
            listeners[(ns["netns"], spec)] = s
            held.append(s)
    # Remote listeners (another namespace's) accept at the end, from their backlog.
    for ns in plan["namespaces"]:
        enter(ns["netns"])
        n = 0
        for c in ns.get("connect", []):
            local = listeners.get((ns["netns"], c["to"]))
            for _ in range(c["hold"]):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.settimeout(5)
                s.connect(addr(c["to"]))
                held.append(s)
                if local is not None:
                    held.append(local.accept()[0])
                n += 1
            if c.get("exhaust"):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                try:
                    s.connect(addr(c["to"]))
                    sys.exit(f"population: {ns['netns']}: connect() to {c['to']} succeeded "
                             f"after {c['hold']} connections; expected EADDRNOTAVAIL")
                except OSError as e:
                    if e.errno != errno.EADDRNOTAVAIL:
                        sys.exit(f"population: {ns['netns']}: connect() to {c['to']}: {e!r}, "
                                 "expected EADDRNOTAVAIL")
                finally:
                    s.close()
                failures[ns["netns"]] = 1
                exhausting.append((ns["netns"], c["to"]))
        counts[ns["netns"]] = n
    for s in list(listeners.values()):
        s.setblocking(False)
        while True:
            try:
                held.append(s.accept()[0])
            except BlockingIOError:
                break
    write_status(a.status_file, {"held": counts, "failures": failures})
    print(f"population: holding {len(held)} sockets in {len(counts)} namespaces", file=sys.stderr)

    deadline = time.monotonic() + a.max_seconds
    while not stop["flag"] and time.monotonic() < deadline:
        for netns, to in exhausting:
            enter(netns)
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.connect(addr(to))
                sys.exit(f"population: {netns}: connect() to {to} succeeded while exhausted")
            except OSError as e:
                if e.errno != errno.EADDRNOTAVAIL:
                    sys.exit(f"population: {netns}: connect() to {to}: {e!r}")
            finally:
                s.close()
            failures[netns] += 1
        # Remote listeners keep accepting (nothing new arrives once the plan is held).
        for s in listeners.values():
            try:
                held.append(s.accept()[0])
            except (BlockingIOError, socket.timeout):
                pass
        time.sleep(0.5)
    _libc.setns(home, CLONE_NEWNET)
    print(f"population: connect() failures made: {failures}", file=sys.stderr)
    for s in held:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
