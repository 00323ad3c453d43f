#!/usr/bin/env python3
"""Drive one destination to ephemeral port exhaustion and hold it (python3 stdlib only).

Run INSIDE the test's network namespace (ip netns exec NS python3 hold_connections.py ...):
it writes that namespace's sysctls. Never run it in the host namespace.

usage: hold_connections.py --status-file FILE [--range 40000-40039] [--listen 127.0.0.2:5432]
                           [--time-wait N] [--step-delay S] [--max-seconds N]

1. Sets net.ipv4.ip_local_port_range to --range and net.ipv4.tcp_tw_reuse to 0 (the namespace
   default is 2 = reuse on loopback, which would let connect() take over TIME_WAIT ports and
   never fail).
2. Listens on --listen (a port outside the range, so the listener holds no ephemeral port).
3. Makes --time-wait connections and closes them client side first, leaving that many
   TIME_WAIT sockets (each still holds its port for 60 s).
4. Connects again and again (one every --step-delay seconds, so Prometheus sees the ramp),
   accepting and holding both ends, until connect() fails with EADDRNOTAVAIL; any other error,
   or no failure within range size + 16 attempts, is a failure (exit 1).
5. Writes {"ok": true, "time_wait": N, "held": M, "range": R, "errno": "EADDRNOTAVAIL",
   "ramp_seconds": T} to --status-file (atomically) and holds the sockets until SIGTERM/SIGINT
   or --max-seconds, re-taking (every 0.5 s) any port freed when a TIME_WAIT socket expires,
   so the destination stays at 100%.
"""
import argparse
import errno
import json
import os
import signal
import socket
import sys
import time


def write_sysctl(name, value):
    with open("/proc/sys/" + name.replace(".", "/"), "w") as f:
        f.write(value + "\n")


def write_status(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
        f.write("\n")
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--status-file", required=True)
    ap.add_argument("--range", default="40000-40039")
    ap.add_argument("--listen", default="127.0.0.2:5432")
    ap.add_argument("--time-wait", type=int, default=8)
    ap.add_argument("--step-delay", type=float, default=0.1)
    ap.add_argument("--max-seconds", type=float, default=600)
    a = ap.parse_args()

    lo, hi = (int(x) for x in a.range.split("-"))
    size = hi - lo + 1
    host, port = a.listen.rsplit(":", 1)
    port = int(port)
    if lo <= port <= hi:
        sys.exit("hold_connections: listen port must be outside the range")

    stop = {"flag": False}

    def on_signal(signum, frame):
        stop["flag"] = True
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    write_sysctl("net.ipv4.ip_local_port_range", f"{lo} {hi}")
    write_sysctl("net.ipv4.tcp_tw_reuse", "0")

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(4096)
    srv.settimeout(5)

    def connect_once():
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.settimeout(5)
        try:
            c.connect((host, port))
        except OSError:
            c.close()
            raise
        s, _ = srv.accept()
        return c, s

    # TIME_WAIT sockets: client closes first, then the server side; the client ends in
    # TIME_WAIT once it gets the server's FIN.
    for _ in range(a.time_wait):
        c, s = connect_once()
        c.close()
        time.sleep(0.01)
        s.close()
    time.sleep(0.2)

    held = []
    t0 = time.monotonic()
    result = None
    for _ in range(size + 16):
        if stop["flag"]:
            sys.exit("hold_connections: interrupted during the ramp")
        try:
            held.append(connect_once())
        except OSError as e:
            result = e
            break
        time.sleep(a.step_delay)
    ramp = time.monotonic() - t0
    if result is None:
        print(f"hold_connections: no connect() failure after {len(held)} connections "
              f"(range {size} ports)", file=sys.stderr)
        return 1
    if result.errno != errno.EADDRNOTAVAIL:
        print(f"hold_connections: connect() failed with {result!r}, expected EADDRNOTAVAIL",
              file=sys.stderr)
        return 1
    status = {"ok": True, "time_wait": a.time_wait, "held": len(held), "range": size,
              "errno": errno.errorcode[result.errno], "ramp_seconds": round(ramp, 2)}
    write_status(a.status_file, status)
    print("hold_connections: " + json.dumps(status), file=sys.stderr)

    # Keep the destination exhausted: the TIME_WAIT sockets expire after 60 s and free their
    # ports, which would drop the occupancy to (range - time_wait) / range and resolve the
    # critical alert on a slow run. Every 0.5 s, take any freed port with a held connection.
    deadline = time.monotonic() + a.max_seconds
    refilled = 0
    next_try = 0.0
    while not stop["flag"] and time.monotonic() < deadline:
        if time.monotonic() >= next_try and refilled < size:
            next_try = time.monotonic() + 0.5
            try:
                held.append(connect_once())
                refilled += 1
                continue
            except OSError:
                pass
        time.sleep(0.1)
    if refilled:
        print(f"hold_connections: re-took {refilled} port(s) freed by expired TIME_WAIT",
              file=sys.stderr)
    for c, s in held:
        c.close()
        s.close()
    srv.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
