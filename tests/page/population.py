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

UDP (one budget for the namespace, docs/udp.md; usable = 100 - 10 reserved = 90):
  2 sockets with SO_REUSEADDR on 0.0.0.0:40080 (one port, shared by 2 sockets)
  10 sockets connected to 127.0.0.2:53 (each autobound to a port of the range)
  50 sockets bound to 0.0.0.0:0                  -> 61 ports of 90, 62 sockets

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
UDP_USABLE = 100 - 10  # a TCP listener holds no UDP port
UDP_SHARED, UDP_SHARED_PORT = 2, 40080
UDP_CONNECTED, UDP_PEER = 10, ("127.0.0.2", 53)
UDP_BOUND = 50
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

    # UDP: the shared port first (bind(0) then avoids it), then connected, then bound sockets.
    for _ in range(UDP_SHARED):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        u.bind(("0.0.0.0", UDP_SHARED_PORT))
        held.append(u)
    for _ in range(UDP_CONNECTED):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.connect(UDP_PEER)
        held.append(u)
    for _ in range(UDP_BOUND):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("0.0.0.0", 0))
        held.append(u)
    udp = {"usable": UDP_USABLE, "ports_used": 1 + UDP_CONNECTED + UDP_BOUND,
           "states": {"unconnected": UDP_SHARED + UDP_BOUND, "connected": UDP_CONNECTED},
           "sharing": UDP_SHARED - 1,
           "destinations": {f"{UDP_PEER[0]}:{UDP_PEER[1]}": UDP_CONNECTED}}

    # Let the last FINs arrive (CLOSE_WAIT and TIME_WAIT are reached on the peer's packet).
    time.sleep(0.2)
    tmp = a.ready_file + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"usable": USABLE, "range": RANGE, "reserved_in_range": 10, "bind_held": 1,
                   "destinations": expected, "time_wait_since": time_wait_since,
                   "udp": udp}, f)
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
