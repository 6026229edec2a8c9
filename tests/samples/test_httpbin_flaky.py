"""httpbin's retry-demo failure mode: FAIL_FIRST_ATTEMPTS=N fails the first N attempts of a
request (counted by the sidecar's x-envoy-attempt-count header) with 503."""

from __future__ import annotations

import http.client
import sys
from collections.abc import Iterator

import pytest
from samples_support import NO_PROXY_ENV, SAMPLES

from lateen.testing.procs import Processes, free_port, http_get, wait_for

SCRIPT = SAMPLES / "httpbin" / "src" / "httpbin.py"


@pytest.fixture(scope="module")
def flaky(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port()
    with Processes(tmp_path_factory.mktemp("httpbin-flaky")) as procs:
        env = {**NO_PROXY_ENV, "PORT": str(port), "FAIL_FIRST_ATTEMPTS": "2"}
        procs.start("httpbin", [sys.executable, str(SCRIPT)], env)
        wait_for(
            lambda: http_get(f"http://127.0.0.1:{port}/get", timeout=1)[0] in (200, 503),
            what="httpbin up",
        )
        yield port


@pytest.mark.parametrize(
    ("attempt", "status"),
    [(None, 503), ("1", 503), ("2", 503), ("3", 200), ("7", 200), ("x", 503)],
    ids=["no-header", "first", "second", "third", "later", "garbage-counts-as-first"],
)
def test_fail_first_attempts(flaky: int, attempt: str | None, status: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", flaky, timeout=10)
    try:
        conn.request(
            "GET", "/status/200", headers={"x-envoy-attempt-count": attempt} if attempt else {}
        )
        assert conn.getresponse().status == status
    finally:
        conn.close()
