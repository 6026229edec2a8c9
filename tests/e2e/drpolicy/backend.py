#!/usr/bin/env python3
"""A small HTTP backend for the DestinationRule end-to-end tests.

Every request gets its pod's name back (JSON body and ``x-pod`` header), so tests see which
endpoint served it; with ``FAIL_STATUS`` set (e.g. 503) every request but ``/healthz`` gets
that status instead: a broken replica next to healthy ones. One log line per request.
Environment: LISTEN_ADDRESS (0.0.0.0), PORT (8080), POD_NAME, FAIL_STATUS.
"""

from __future__ import annotations

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

POD = os.environ.get("POD_NAME", "unknown")
FAIL_STATUS = int(os.environ.get("FAIL_STATUS") or 0)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        status = 200 if self.path == "/healthz" or not FAIL_STATUS else FAIL_STATUS
        body = json.dumps({"pod": POD, "path": self.path, "user": self.headers.get("x-user")})
        data = (body + "\n").encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-pod", POD)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        if self.path != "/healthz":
            print(
                f"request {self.command} {self.path} -> {args[1] if len(args) > 1 else ''}",
                flush=True,
            )


def main() -> None:
    host = os.environ.get("LISTEN_ADDRESS", "0.0.0.0")
    port = int(os.environ.get("PORT", "8080"))
    print(f"backend {POD} listening on {host}:{port}", flush=True)
    ThreadingHTTPServer((host, port), Handler).serve_forever()


if __name__ == "__main__":
    main()
