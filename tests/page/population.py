#!/usr/bin/env python3
"""A known socket population for the incident-view tests (python3 stdlib only).

Run INSIDE the test's network namespace (ip netns exec NS python3 population.py ...): it writes
that namespace's sysctls. Never run it in the host namespace.

usage: population.py --ready-file FILE [--max-seconds N]

Port budget: ip_local_port_range 40000-40099 (100 ports), ip_local_reserved_ports 40090-40099
(10 inside the range), one listener on 127.0.0.1:40050 (bind-held): usable = 100 - 10 - 1 = 89.
tcp_tw_reuse = 0, so TIME_WAIT ports are not taken over.

Outgoing destinations (listeners on ports outside the range, so the accepted ends are inbound):
  127.0.0.2:5432  60 ESTABLISHED + 20 TIME_WAIT  -> 80 ports, occupancy 80/89
  127.0.0.3:443   50 ESTABLISHED                 -> 50 ports
  127.0.0.4:8080  5 TIME_WAIT                    -> 5 ports
  127.0.0.5:6379  3 CLOSE_WAIT (the server closed, the client did not) -> 3 ports

Writes the expected figures as JSON to --ready-file once every socket is in place, then holds
the sockets until SIGTERM/SIGINT or --max-seconds. TIME_WAIT sockets expire 60 s after they
were made: the ready file says when ("time_wait_since", time.time()).
"""
import argparse
import json
import os
import signal
import socket
import sys
import time

RANGE = (40000, 40099)
RESERVED = "40090-40099"
BIND_HELD = ("127.0.0.1", 40050)
USABLE = 100 - 10 - 1
PLAN = [  # (address, port, established, time_wait, close_wait)
    ("127.0.0.2", 5432, 60, 20, 0),
    ("127.0.0.3", 443, 50, 0, 0),
    ("127.0.0.4", 8080, 0, 5, 0),
    ("127.0.0.5", 6379, 0, 0, 3),
]


def write_sysctl(name, value):
    with open("/proc/sys/" + name.replace(".", "/"), "w") as f:
        f.write(value + "\n")


def listen(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(512)
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--max-seconds", type=float, default=300)
    a = ap.parse_args()

    write_sysctl("net.ipv4.ip_local_port_range", f"{RANGE[0]} {RANGE[1]}")
    write_sysctl("net.ipv4.ip_local_reserved_ports", RESERVED)
    write_sysctl("net.ipv4.tcp_tw_reuse", "0")

    held = [listen(*BIND_HELD)]
    expected = []
    time_wait_since = None
    for addr, port, est, tw, cw in PLAN:
        server = listen(addr, port)
        held.append(server)
        # TIME_WAIT first: connect, accept, close the client end first (it keeps TIME_WAIT).
        for _ in range(tw):
            c = socket.create_connection((addr, port), timeout=5)
            s, _ = server.accept()
            c.close()
            s.close()
        if tw and time_wait_since is None:
            time_wait_since = time.time()
        for _ in range(est):
            c = socket.create_connection((addr, port), timeout=5)
            s, _ = server.accept()
            held += [c, s]
        for _ in range(cw):
            c = socket.create_connection((addr, port), timeout=5)
            s, _ = server.accept()
            s.close()  # the server closes: the client end waits in CLOSE_WAIT
            held.append(c)
        states = {}
        if est:
            states["established"] = est
        if tw:
            states["time_wait"] = tw
        if cw:
            states["close_wait"] = cw
        expected.append({"destination": f"{addr}:{port}", "ports_used": est + tw + cw,
                         "states": states})

    # Let the last FINs arrive (CLOSE_WAIT and TIME_WAIT are reached on the peer's packet).
    time.sleep(0.2)
    tmp = a.ready_file + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"usable": USABLE, "range": RANGE, "reserved_in_range": 10, "bind_held": 1,
                   "destinations": expected, "time_wait_since": time_wait_since}, f)
        f.write("\n")
    os.replace(tmp, a.ready_file)

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    deadline = time.time() + a.max_seconds
    while not stop and time.time() < deadline:
        time.sleep(0.2)
    for s in held:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
