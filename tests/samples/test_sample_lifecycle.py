"""Each sample app starts on $LISTEN_ADDRESS:$PORT, logs a line per request to stdout and
exits promptly on SIGTERM."""

from __future__ import annotations

import signal
import socket
import sys
import time
from pathlib import Path

import pytest
from samples_support import NO_PROXY_ENV, SAMPLES

from lateen.testing.procs import Processes, free_port, http_get, wait_for

APPS = [
    ("productpage", SAMPLES / "bookinfo" / "src" / "productpage.py", "/health", "GET /health"),
    ("details", SAMPLES / "bookinfo" / "src" / "details.py", "/details/0", "GET /details/0"),
    ("reviews", SAMPLES / "bookinfo" / "src" / "reviews.py", "/reviews/0", "GET /reviews/0"),
    ("ratings", SAMPLES / "bookinfo" / "src" / "ratings.py", "/ratings/0", "GET /ratings/0"),
    ("httpbin", SAMPLES / "httpbin" / "src" / "httpbin.py", "/status/200", "GET /status/200"),
    ("tcp-echo", SAMPLES / "tcp-echo" / "src" / "tcp_echo.py", None, "request: b'ping\\n'"),
]


def _hit(port: int, path: str | None) -> bool:
    if path is not None:
        return http_get(f"http://127.0.0.1:{port}{path}", timeout=1)[0] == 200
    with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
        s.sendall(b"ping\n")
        return s.recv(100).endswith(b"ping\n")


@pytest.mark.parametrize(("name", "script", "path", "logged"), APPS, ids=[a[0] for a in APPS])
def test_serves_logs_and_stops_on_sigterm(
    tmp_path: Path, name: str, script: Path, path: str | None, logged: str
) -> None:
    port = free_port()
    with Processes(tmp_path) as procs:
        proc = procs.start(name, [sys.executable, str(script)], {**NO_PROXY_ENV, "PORT": str(port)})
        wait_for(lambda: _hit(port, path), timeout=15, what=f"{name} serving")
        wait_for(lambda: logged in procs.log(name), timeout=5, what=f"{name} request log line")
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(5)
        assert time.monotonic() - start < 3
        assert rc in (0, -signal.SIGTERM)
