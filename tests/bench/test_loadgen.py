"""The open-loop generator (bench/_native/loadgen.c) against real servers: it keeps its
schedule (requested rate within 2%) and charges a stall to every request queued behind it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from bench._loadgen import run_open_loop, start_server
from bench._procs import ProcGroup

from lateen.testing.procs import free_port

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def c_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    logs = tmp_path_factory.mktemp("loadgen")
    port = free_port()
    with ProcGroup(Path(logs)) as group:
        start_server(group, "server", "127.0.0.1", port, size=1024, threads=1)
        yield "127.0.0.1", port


@pytest.mark.parametrize(
    ("rate", "connections"),
    [(200, 1), (1000, 1), (1000, 4), (1000, 16), (2000, 16)],
    ids=["200rps-1conn", "1000rps-1conn", "1000rps-4conns", "1000rps-16conns", "2000rps-16conns"],
)
def test_generator_hits_the_requested_rate(
    c_server: tuple[str, int], rate: int, connections: int
) -> None:
    duration = 2.0
    res = run_open_loop(*c_server, rate=rate, connections=connections, duration=duration,
                        warmup=0.2)  # fmt: skip
    s = res.summary
    assert s["scheduled"] == s["sent"] == s["ok"] == round(rate * duration), s
    assert res.failed == 0, s
    assert abs(res.send_rate - rate) <= 0.02 * rate, s
    # every response came within the schedule (plus a little): no backlog at the end
    assert s["last_response_s"] <= duration * 1.02 + 0.25, s
    assert len(res.latencies_us) == s["ok"]
    assert all(v > 0 for v in res.latencies_us)


class _StallOnce(BaseHTTPRequestHandler):
    """200 with 1 KB; the STALL_AT-th request of the server's life waits STALL_S first."""

    protocol_version = "HTTP/1.1"
    count = 0
    lock = threading.Lock()
    STALL_AT, STALL_S = 50, 0.2

    def do_GET(self) -> None:
        with self.lock:
            type(self).count += 1
            n = type(self).count
        if n == self.STALL_AT:
            threading.Event().wait(self.STALL_S)
        body = b"x" * 1024
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_stall_is_charged_to_the_requests_scheduled_behind_it() -> None:
    """One 200 ms stall at 100 rps on one connection: the ~20 requests scheduled during it
    wait, and their latencies (from the schedule) show it. A generator that timed from the
    actual send (coordinated omission) would report one slow request."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StallOnce)
    server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        host, port = server.server_address[:2]
        res = run_open_loop(str(host), int(port), rate=100, connections=1, duration=1.5,
                            warmup=0)  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert res.failed == 0, res.summary
    slow = [v for v in res.latencies_us if v >= 100_000]
    assert 10 <= len(slow) <= 25, sorted(res.latencies_us)[-30:]
    # the send lag shows the queue behind the stalled response too
    assert max(res.send_lags_us) >= 150_000
