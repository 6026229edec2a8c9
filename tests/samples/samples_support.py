"""Support for the sample-app tests: where the samples live, an environment without
proxies, and a recording HTTP server that stands in for a dependency (ratings, reviews)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[2] / "samples"

# Calls between the apps go straight to loopback in these tests, never through a proxy.
NO_PROXY_ENV = {
    "HTTP_PROXY": "",
    "http_proxy": "",
    "HTTPS_PROXY": "",
    "https_proxy": "",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
    "LISTEN_ADDRESS": "127.0.0.1",
    "PYTHONUNBUFFERED": "1",
}


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class FakeServer:
    """Answers every request with ``status``/``body`` after ``delay`` seconds and records it."""

    status: int = 200
    body: object = field(default_factory=dict)
    delay: float = 0.0
    requests: list[Recorded] = field(default_factory=list)
    port: int = 0
    _server: ThreadingHTTPServer | None = None

    def start(self) -> FakeServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                fake.requests.append(
                    Recorded(
                        self.command, self.path, {k.lower(): v for k, v in self.headers.items()}
                    )
                )
                if fake.delay:
                    time.sleep(fake.delay)
                data = json.dumps(fake.body).encode()
                try:
                    self.send_response(fake.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (timeout tests)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
