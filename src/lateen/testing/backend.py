"""A tiny HTTP backend for tests: replies ``<name> <path>`` so a test can see who answered.

Run: ``python -m lateen.testing.backend --name v1 --address 127.0.0.2 --port 8000``.
"""

from __future__ import annotations

import argparse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["main"]


def _handler(name: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            body = f"{name} {self.path}\n".encode()
            self.send_response(200)
            self.send_header("content-type", "text/plain")
            self.send_header("content-length", str(len(body)))
            self.send_header("x-backend", name)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--name", required=True)
    p.add_argument("--address", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args(argv)
    server = ThreadingHTTPServer((args.address, args.port), _handler(args.name))
    server.daemon_threads = True
    print(f"listening {args.address}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
