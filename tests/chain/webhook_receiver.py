#!/usr/bin/env python3
"""Tiny Alertmanager webhook receiver for the live chain test (python3 stdlib only).

usage: webhook_receiver.py --port-file FILE --out FILE [--host 127.0.0.1] [--max-seconds N]

Binds host:0 (the kernel picks a free port) and writes the port to --port-file once it is
listening. Every POSTed body is appended to --out as one JSON line
{"path": <request path>, "body": <parsed JSON body, or the raw text if not JSON>}, flushed
immediately. Exits by itself after --max-seconds (a bound in case the test's trap is lost).
"""
import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-seconds", type=float, default=600)
    a = ap.parse_args()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n).decode("utf-8", "replace")
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
            with lock, open(a.out, "a", encoding="utf-8") as f:
                f.write(json.dumps({"path": self.path, "body": body}) + "\n")
                f.flush()
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):  # readiness probe
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, fmt, *args):
            sys.stderr.write("webhook_receiver: " + (fmt % args) + "\n")

    srv = HTTPServer((a.host, 0), Handler)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{srv.server_address[1]}\n")
    os.replace(tmp, a.port_file)
    timer = threading.Timer(a.max_seconds, srv.shutdown)
    timer.daemon = True
    timer.start()
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
