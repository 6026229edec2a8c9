"""The ext-authz sample as a real process: allow with ``x-ext-authz: allow``, 403 otherwise."""

from __future__ import annotations

import http.client
import sys
from collections.abc import Iterator

import pytest
from samples_support import NO_PROXY_ENV, SAMPLES

from lateen.testing.procs import Processes, free_port, wait_for

SCRIPT = SAMPLES / "extauthz" / "src" / "ext_authz.py"


def _get(port: int, path: str, headers: dict[str, str]) -> tuple[int, str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.getheader("x-ext-authz-check-result") or "", resp.read().decode()
    finally:
        conn.close()


def _up(port: int) -> bool:
    try:
        return _get(port, "/", {})[0] == 403
    except OSError:
        return False


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    p = free_port()
    with Processes(tmp_path_factory.mktemp("ext-authz")) as procs:
        procs.start("ext-authz", [sys.executable, str(SCRIPT), str(p)], NO_PROXY_ENV)
        wait_for(lambda: _up(p), what="ext-authz listening")
        yield p


@pytest.mark.parametrize(
    ("path", "headers", "status", "result"),
    [
        ("/headers", {"x-ext-authz": "allow"}, 200, "allowed"),
        ("/check/any/path?q=1", {"x-ext-authz": "allow"}, 200, "allowed"),
        ("/headers", {"x-ext-authz": "deny"}, 403, "denied"),
        ("/headers", {"x-ext-authz": "Allow"}, 403, "denied"),
        ("/headers", {}, 403, "denied"),
    ],
    ids=["allow", "allow-any-path", "other-value", "case-sensitive-value", "no-header"],
)
def test_ext_authz_decision(port: int, path: str, headers: dict[str, str], status: int, result: str) -> None:
    got_status, got_result, body = _get(port, path, headers)
    assert (got_status, got_result) == (status, result)
    if status == 403:
        assert body == "denied by ext_authz for not found header `x-ext-authz: allow` in the request"
