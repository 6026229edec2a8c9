"""The httpbin sample as a real process: the httpbin.org subset Istio's tasks use."""

from __future__ import annotations

import http.client
import json
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from samples_support import NO_PROXY_ENV, SAMPLES

from lateen.testing.procs import Processes, free_port, http_get, wait_for

SCRIPT = SAMPLES / "httpbin" / "src" / "httpbin.py"


@pytest.fixture(scope="module")
def httpbin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port()
    with Processes(tmp_path_factory.mktemp("httpbin")) as procs:
        procs.start("httpbin", [sys.executable, str(SCRIPT)], {**NO_PROXY_ENV, "PORT": str(port)})
        wait_for(
            lambda: http_get(f"http://127.0.0.1:{port}/get", timeout=1)[0] == 200, what="httpbin up"
        )
        yield port


def call(
    port: int,
    method: str,
    path: str,
    body: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read().decode()
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/status/200", 200),
        ("GET", "/status/404", 404),
        ("GET", "/status/503", 503),
        ("POST", "/status/201", 201),
        ("GET", "/status/abc", 400),
        ("GET", "/status/200:1,503:0", 200),
        ("GET", "/nonexistent", 404),
    ],
    ids=["200", "404", "503", "post-201", "invalid", "weighted", "unknown-path"],
)
def test_status(httpbin: int, method: str, path: str, status: int) -> None:
    got, _, _ = call(httpbin, method, path)
    assert got == status


def test_teapot(httpbin: int) -> None:
    status, headers, body = call(httpbin, "GET", "/status/418")
    assert status == 418
    assert "-=[ teapot ]=-" in body and '`"""`' in body and '\\_;`"---"`|//' in body
    assert headers["x-more-info"] == "http://tools.ietf.org/html/rfc2324"


def test_headers_json_is_title_cased(httpbin: int) -> None:
    status, headers, body = call(
        httpbin,
        "GET",
        "/headers",
        headers={"end-user": "jason", "x-b3-traceid": "abc", "x-request-id": "r1"},
    )
    assert status == 200 and headers["content-type"].startswith("application/json")
    data = json.loads(body)
    assert list(data) == ["headers"]
    assert data["headers"]["End-User"] == "jason"
    assert data["headers"]["X-B3-Traceid"] == "abc"
    assert data["headers"]["X-Request-Id"] == "r1"
    assert data["headers"]["Host"] == f"127.0.0.1:{httpbin}"


@pytest.mark.parametrize(
    ("method", "path", "body", "ctype", "expect"),
    [
        ("GET", "/get?a=1&b=2&b=3", None, None, {"args": {"a": "1", "b": ["2", "3"]}}),
        ("POST", "/post", '{"x": 1}', "application/json", {"json": {"x": 1}, "data": '{"x": 1}'}),
        (
            "POST",
            "/post",
            "a=1&b=two",
            "application/x-www-form-urlencoded",
            {"form": {"a": "1", "b": "two"}},
        ),
        (
            "PUT",
            "/anything/some/path?q=1",
            "hi",
            "text/plain",
            {"method": "PUT", "data": "hi", "args": {"q": "1"}},
        ),
        ("DELETE", "/anything", None, None, {"method": "DELETE"}),
        ("GET", "/ip", None, None, {"origin": "127.0.0.1"}),
        ("GET", "/user-agent", None, None, {"user-agent": "lateen-test"}),
    ],
    ids=[
        "get-args",
        "post-json",
        "post-form",
        "anything-put",
        "anything-delete",
        "ip",
        "user-agent",
    ],
)
def test_json_endpoints(
    httpbin: int,
    method: str,
    path: str,
    body: str | None,
    ctype: str | None,
    expect: dict[str, Any],
) -> None:
    headers = {"User-Agent": "lateen-test"}
    if ctype:
        headers["Content-Type"] = ctype
    status, _, text = call(httpbin, method, path, body, headers)
    assert status == 200
    data = json.loads(text)
    for key, value in expect.items():
        assert data[key] == value, key
    if "url" in data:
        assert data["url"] == f"http://127.0.0.1:{httpbin}{path}"


def test_delay(httpbin: int) -> None:
    start = time.monotonic()
    status, _, body = call(httpbin, "GET", "/delay/1?x=y", headers={"end-user": "jason"})
    assert status == 200
    assert 0.9 < time.monotonic() - start < 3
    data = json.loads(body)
    assert data["args"] == {"x": "y"} and data["headers"]["End-User"] == "jason"
    assert data["url"].endswith("/delay/1?x=y")


def test_response_headers(httpbin: int) -> None:
    status, headers, _ = call(httpbin, "GET", "/response-headers?X-Custom=hello")
    assert status == 200 and headers["x-custom"] == "hello"
