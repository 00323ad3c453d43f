#!/usr/bin/env python3
"""Take every UDP port of the namespace's range and hold them (python3 stdlib only).

Run INSIDE the test's network namespace, after hold_connections.py has set its
ip_local_port_range (UDP has its own ports: the TCP load holds none of them).

usage: hold_udp_ports.py --status-file FILE [--connect 127.0.0.2:5432] [--max-seconds N]

1. One socket connect()s to --connect: the kernel gives it a port of the range (autobind), so
   the destination group has one connected UDP socket.
2. bind(0.0.0.0, 0) again and again until it fails with EADDRINUSE: the range is full, for
   every destination and both families (docs/udp.md). No failure within 65,536 attempts, or
   another error, is a failure (exit 1).
3. One more socket sendto()s to --connect without a port: EAGAIN. So exactly two UDP
   port-allocation failures: bind(0) EADDRINUSE and the autobind's EAGAIN.
4. Writes {"ok": true, "held": N, "failures": 2, "bind_errno": "EADDRINUSE",
   "sendto_errno": "EAGAIN"} to --status-file (atomically) and holds the sockets until
   SIGTERM/SIGINT or --max-seconds.
"""
import argparse
import errno
import json
import os
import signal
import socket
import sys
import time


def write_status(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
        f.write("\n")
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--status-file", required=True)
    ap.add_argument("--connect", default="127.0.0.2:5432")
    ap.add_argument("--max-seconds", type=float, default=600)
    a = ap.parse_args()
    host, port = a.connect.rsplit(":", 1)
    dest = (host, int(port))

    stop = {"flag": False}

    def on_signal(signum, frame):
        stop["flag"] = True
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    held = []
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.connect(dest)
    held.append(c)
    bind_error = None
    for _ in range(65536):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind(("0.0.0.0", 0))
        except OSError as e:
            s.close()
            bind_error = e
            break
        held.append(s)
    if bind_error is None or bind_error.errno != errno.EADDRINUSE:
        print(f"hold_udp_ports: bind(0) after {len(held)} sockets: {bind_error!r}, "
              "expected EADDRINUSE", file=sys.stderr)
        return 1
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.sendto(b"x", dest)
        print("hold_udp_ports: sendto() of an unbound socket got a port in a full range",
              file=sys.stderr)
        return 1
    except OSError as e:
        send_error = e
    finally:
        s.close()
    if send_error.errno != errno.EAGAIN:
        print(f"hold_udp_ports: sendto() failed with {send_error!r}, expected EAGAIN",
              file=sys.stderr)
        return 1
    status = {"ok": True, "held": len(held), "failures": 2,
              "bind_errno": errno.errorcode[bind_error.errno],
              "sendto_errno": errno.errorcode[send_error.errno]}
    write_status(a.status_file, status)
    print("hold_udp_ports: " + json.dumps(status), file=sys.stderr)

    deadline = time.monotonic() + a.max_seconds
    while not stop["flag"] and time.monotonic() < deadline:
        time.sleep(0.1)
    for s in held:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
