"""Bookinfo's four apps as real processes on loopback, wired to each other by the
``*_HOSTNAME`` / ``*_SERVICE_PORT`` environment (no Envoy): the page, the stars of each
reviews version, ``end-user`` and tracing header propagation, and the failure texts."""

from __future__ import annotations

import http.client
import importlib.util
import json
import re
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

import pytest
from samples_support import NO_PROXY_ENV, SAMPLES, FakeServer

from lateen.testing.procs import Processes, free_port, http_get, wait_for

SRC = SAMPLES / "bookinfo" / "src"
RATINGS_BODY = {"id": 0, "ratings": {"Reviewer1": 5, "Reviewer2": 4}}


def request(
    method: str,
    port: int,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], str]:
    """One request, redirects not followed: (status, lower-cased headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        hdrs = dict(headers or {})
        body = None
        if form is not None:
            body = urlencode(form)
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read().decode()
    finally:
        conn.close()


@dataclass
class Bookinfo:
    procs: Processes
    ports: dict[str, int]
    ratings_recorder: FakeServer
    reviews_503: FakeServer

    def page(self, name: str, headers: dict[str, str] | None = None) -> str:
        status, _, body = request("GET", self.ports[name], "/productpage", headers=headers)
        assert status == 200, body
        return body


def _start(procs: Processes, ports: dict[str, int], name: str, script: str, **env: str) -> None:
    ports[name] = free_port()
    procs.start(
        name,
        [sys.executable, str(SRC / f"{script}.py")],
        {**NO_PROXY_ENV, "PORT": str(ports[name]), **env},
    )


@pytest.fixture(scope="module")
def bookinfo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bookinfo]:
    recorder = FakeServer(body=RATINGS_BODY).start()
    slow_ratings = FakeServer(body=RATINGS_BODY, delay=4.0).start()
    reviews_503 = FakeServer(status=503, body={"error": "upstream"}).start()
    try:
        yield from _run_bookinfo(tmp_path_factory, recorder, slow_ratings, reviews_503)
    finally:
        for fake in (recorder, slow_ratings, reviews_503):
            fake.stop()


def _run_bookinfo(
    tmp_path_factory: pytest.TempPathFactory,
    recorder: FakeServer,
    slow_ratings: FakeServer,
    reviews_503: FakeServer,
) -> Iterator[Bookinfo]:
    closed = str(free_port())  # nothing listens there: connection refused
    ports: dict[str, int] = {}
    with Processes(tmp_path_factory.mktemp("bookinfo")) as procs:
        _start(procs, ports, "details", "details")
        _start(procs, ports, "ratings", "ratings")
        ratings = {"RATINGS_HOSTNAME": "127.0.0.1", "RATINGS_SERVICE_PORT": str(ports["ratings"])}
        _start(
            procs,
            ports,
            "reviews-v1",
            "reviews",
            SERVICE_VERSION="v1",
            HOSTNAME="reviews-v1-test",
            **ratings,
        )
        _start(
            procs,
            ports,
            "reviews-v2",
            "reviews",
            SERVICE_VERSION="v2",
            HOSTNAME="reviews-v2-test",
            RATINGS_HOSTNAME="127.0.0.1",
            RATINGS_SERVICE_PORT=str(recorder.port),
        )
        _start(
            procs,
            ports,
            "reviews-v3",
            "reviews",
            SERVICE_VERSION="v3",
            HOSTNAME="reviews-v3-test",
            **ratings,
        )
        _start(
            procs,
            ports,
            "reviews-v2-noratings",
            "reviews",
            SERVICE_VERSION="v2",
            RATINGS_HOSTNAME="127.0.0.1",
            RATINGS_SERVICE_PORT=closed,
        )
        _start(
            procs,
            ports,
            "reviews-v3-slowratings",
            "reviews",
            SERVICE_VERSION="v3",
            RATINGS_HOSTNAME="127.0.0.1",
            RATINGS_SERVICE_PORT=str(slow_ratings.port),
        )
        details = {"DETAILS_HOSTNAME": "127.0.0.1", "DETAILS_SERVICE_PORT": str(ports["details"])}

        def productpage(name: str, reviews_port: int | str, **extra: str) -> None:
            env = {
                **details,
                "REVIEWS_HOSTNAME": "127.0.0.1",
                "REVIEWS_SERVICE_PORT": str(reviews_port),
                **ratings,
            }
            _start(procs, ports, name, "productpage", **{**env, **extra})

        for v in ("v1", "v2", "v3"):
            productpage(f"productpage-{v}", ports[f"reviews-{v}"])
        productpage("productpage-noratings", ports["reviews-v2-noratings"])
        productpage("productpage-503", reviews_503.port)
        productpage("productpage-down", closed, DETAILS_SERVICE_PORT=closed)

        for name, port in ports.items():
            wait_for(
                lambda port=port: http_get(f"http://127.0.0.1:{port}/health", timeout=1)[0] == 200,
                timeout=20,
                what=f"{name} healthy (log: {procs.log(name)[-500:]})",
            )
        yield Bookinfo(procs, ports, recorder, reviews_503)


# ---------------------------------------------------------------- the page


@pytest.mark.parametrize(
    ("version", "full", "empty", "color"),
    [("v1", 0, 0, None), ("v2", 9, 1, "black"), ("v3", 9, 1, "red")],
    ids=["v1-no-stars", "v2-black-stars", "v3-red-stars"],
)
def test_productpage_stars(
    bookinfo: Bookinfo, version: str, full: int, empty: int, color: str | None
) -> None:
    page = bookinfo.page(f"productpage-{version}")
    assert "<title>Simple Bookstore App</title>" in page
    assert "The Comedy of Errors" in page
    assert (
        "Book Details" in page
        and "<dt>Type:</dt>paperback" in page
        and "<dt>ISBN-13:</dt>123-1234567890" in page
    )
    assert (
        "Book Reviews" in page
        and "<small>Reviewer1</small>" in page
        and "<small>Reviewer2</small>" in page
    )
    assert page.count('<span class="glyphicon glyphicon-star"></span>') == full
    assert page.count('<span class="glyphicon glyphicon-star-empty"></span>') == empty
    fonts = re.findall(r'<font color="(\w+)">', page)
    assert fonts == ([color, color] if color else [])
    assert f"<dt>Reviews served by:</dt>\n<u>reviews-{version}-test</u>" in page
    assert "Error fetching" not in page and "unavailable" not in page


@pytest.mark.parametrize(
    ("name", "texts", "absent"),
    [
        (
            "productpage-noratings",
            [
                "Book Reviews",
                "<p><i>Ratings service is currently unavailable</i></p>",
                "Book Details",
            ],
            ["glyphicon-star", "Error fetching"],
        ),
        (
            "productpage-503",
            [
                "Error fetching product reviews!",
                "Sorry, product reviews are currently unavailable for this book.",
                "Book Details",
            ],
            ["Book Reviews", "Reviews served by"],
        ),
        (
            "productpage-down",
            [
                "Error fetching product reviews!",
                "Sorry, product reviews are currently unavailable for this book.",
                "Error fetching product details!",
                "Sorry, product details are currently unavailable for this book.",
            ],
            ["Book Reviews", "Book Details"],
        ),
    ],
    ids=["ratings-down", "reviews-503", "reviews-and-details-down"],
)
def test_productpage_failures(
    bookinfo: Bookinfo, name: str, texts: list[str], absent: list[str]
) -> None:
    page = bookinfo.page(name)
    for text in texts:
        assert text in page
    for text in absent:
        assert text not in page


def test_productpage_retries_reviews_once(bookinfo: Bookinfo) -> None:
    before = len(bookinfo.reviews_503.requests)
    status, _, body = request(
        "GET", bookinfo.ports["productpage-503"], "/api/v1/products/0/reviews"
    )
    assert status == 503
    assert json.loads(body) == {
        "error": "Sorry, product reviews are currently unavailable for this book."
    }
    assert len(bookinfo.reviews_503.requests) - before == 2  # the first try and one retry
    assert {r.path for r in bookinfo.reviews_503.requests} == {"/reviews/0"}


def test_reviews_gives_up_on_slow_ratings(bookinfo: Bookinfo) -> None:
    """v3 waits 2.5 s for ratings, then answers without stars."""
    start = time.monotonic()
    status, _, body = request("GET", bookinfo.ports["reviews-v3-slowratings"], "/reviews/0")
    elapsed = time.monotonic() - start
    assert status == 200
    assert 2.3 < elapsed < 3.8
    ratings = [r["rating"] for r in json.loads(body)["reviews"]]
    assert ratings == [{"error": "Ratings service is currently unavailable"}] * 2


# ---------------------------------------------------------------- login and propagated headers

TRACING = {
    "x-request-id": "",  # filled per request
    "x-b3-traceid": "80f198ee56343ba864fe8b2a57d3eff7",
    "x-b3-spanid": "e457b5a2e4d86bd1",
    "x-b3-parentspanid": "05e3ac9a4f6e3b90",
    "x-b3-sampled": "1",
    "traceparent": "00-80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-01",
    "tracestate": "lateen=1",
    "authorization": "Bearer token-123",
}


def test_login_sets_session_and_redirects(bookinfo: Bookinfo) -> None:
    status, headers, _ = request(
        "POST", bookinfo.ports["productpage-v2"], "/login", form={"username": "jason"}
    )
    assert status == 302
    assert headers["location"] == "/productpage"
    assert headers["set-cookie"].startswith("session=jason")
    status, headers, _ = request(
        "GET", bookinfo.ports["productpage-v2"], "/logout", headers={"Cookie": "session=jason"}
    )
    assert status == 302
    assert headers["location"] == "/productpage"
    assert headers["set-cookie"].startswith('session=""') or "Max-Age=0" in headers["set-cookie"]


@pytest.fixture
def jason_request(bookinfo: Bookinfo) -> tuple[str, dict[str, str]]:
    """productpage-v2 called as the logged-in jason with tracing headers; what ratings received."""
    _, headers, _ = request(
        "POST", bookinfo.ports["productpage-v2"], "/login", form={"username": "jason"}
    )
    cookie = headers["set-cookie"].split(";")[0]
    rid = str(uuid.uuid4())
    page = bookinfo.page(
        "productpage-v2", headers={**TRACING, "x-request-id": rid, "Cookie": cookie}
    )
    assert 'jason ( <a href="logout">sign out</a> )' in page
    seen = [r for r in bookinfo.ratings_recorder.requests if r.headers.get("x-request-id") == rid]
    assert len(seen) == 1
    return rid, seen[0].headers


@pytest.mark.parametrize("header", ["end-user", *TRACING], ids=["end-user", *TRACING])
def test_headers_propagate_to_ratings(
    jason_request: tuple[str, dict[str, str]], header: str
) -> None:
    rid, received = jason_request
    expected = {**TRACING, "x-request-id": rid, "end-user": "jason"}[header]
    assert received.get(header) == expected


def test_anonymous_sends_no_end_user(bookinfo: Bookinfo) -> None:
    rid = str(uuid.uuid4())
    page = bookinfo.page("productpage-v2", headers={"x-request-id": rid})
    assert "Sign in" in page
    seen = [r for r in bookinfo.ratings_recorder.requests if r.headers.get("x-request-id") == rid]
    assert len(seen) == 1 and "end-user" not in seen[0].headers


def test_end_user_reaches_real_ratings_log(bookinfo: Bookinfo) -> None:
    """productpage -> reviews v3 -> ratings, all real: the ratings access log shows the user."""
    rid = str(uuid.uuid4())
    page = bookinfo.page("productpage-v3", headers={"x-request-id": rid, "Cookie": "session=jason"})
    assert '<font color="red">' in page
    line = wait_for(
        lambda: next((ln for ln in bookinfo.procs.log("ratings").splitlines() if rid in ln), None),
        timeout=5,
        what="ratings log line",
    )
    assert '"GET /ratings/0 HTTP/1.1" 200' in line and "end-user=jason" in line
    # reviews writes its access line after answering: wait for it as for ratings
    reviews_line = wait_for(
        lambda: next((ln for ln in bookinfo.procs.log("reviews-v3").splitlines() if rid in ln), None),
        timeout=5,
        what="reviews-v3 log line",
    )
    assert "end-user=jason" in reviews_line


# ---------------------------------------------------------------- the other endpoints

ENDPOINTS = [
    ("productpage-v3", "/", 200, "Hello! This is a simple bookstore application"),
    ("productpage-v3", "/health", 200, "Product page is healthy"),
    ("productpage-v3", "/static/css/bookinfo.css", 200, "glyphicon-star"),
    ("productpage-v3", "/api/v1/products", 200, '"title": "The Comedy of Errors"'),
    ("productpage-v3", "/api/v1/products/0", 200, '"ISBN-10": "1234567890"'),
    ("productpage-v3", "/api/v1/products/0/reviews", 200, '"color": "red"'),
    ("productpage-v3", "/api/v1/products/0/ratings", 200, '"Reviewer1": 5'),
    (
        "productpage-down",
        "/api/v1/products/0",
        500,
        "Sorry, product details are currently unavailable",
    ),
    ("details", "/details/0", 200, '"author": "William Shakespeare"'),
    ("details", "/details/abc", 400, "please provide numeric product id"),
    ("details", "/health", 200, "Details is healthy"),
    ("ratings", "/ratings/0", 200, '"ratings": {"Reviewer1": 5, "Reviewer2": 4}'),
    ("ratings", "/ratings/abc", 400, "please provide numeric product ID"),
    ("ratings", "/health", 200, "Ratings is healthy"),
    ("reviews-v1", "/reviews/0", 200, '"podname": "reviews-v1-test"'),
    ("reviews-v1", "/health", 200, "Reviews is healthy"),
]


@pytest.mark.parametrize(
    ("app", "path", "status", "check"), ENDPOINTS, ids=[f"{a}:{p}" for a, p, _, _ in ENDPOINTS]
)
def test_endpoints(bookinfo: Bookinfo, app: str, path: str, status: int, check: str) -> None:
    got, body = http_get(f"http://127.0.0.1:{bookinfo.ports[app]}{path}")
    assert got == status, body
    assert check in body


def test_details_json(bookinfo: Bookinfo) -> None:
    _, body = http_get(f"http://127.0.0.1:{bookinfo.ports['details']}/details/0")
    assert json.loads(body) == {
        "id": 0,
        "author": "William Shakespeare",
        "year": 1595,
        "type": "paperback",
        "pages": 200,
        "publisher": "PublisherA",
        "language": "English",
        "ISBN-10": "1234567890",
        "ISBN-13": "123-1234567890",
    }


def test_reviews_v1_json_has_no_rating(bookinfo: Bookinfo) -> None:
    _, body = http_get(f"http://127.0.0.1:{bookinfo.ports['reviews-v1']}/reviews/0")
    data = json.loads(body)
    assert data["id"] == "0" and data["clustername"] == "null"
    assert [sorted(r) for r in data["reviews"]] == [["reviewer", "text"]] * 2


# ---------------------------------------------------------------- pure parts, imported


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bookinfo_{name}", SRC / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("env", "enabled", "color", "timeout"),
    [
        ({}, False, "black", 10.0),
        ({"SERVICE_VERSION": "v1"}, False, "black", 10.0),
        ({"SERVICE_VERSION": "v2"}, True, "black", 10.0),
        ({"SERVICE_VERSION": "v3"}, True, "red", 2.5),
        ({"ENABLE_RATINGS": "true", "STAR_COLOR": "red"}, True, "red", 2.5),
    ],
    ids=["default", "v1", "v2", "v3", "explicit-env"],
)
def test_reviews_settings(env: dict[str, str], enabled: bool, color: str, timeout: float) -> None:
    settings: Any = _load("reviews").settings_from_env(env)
    assert (settings.ratings_enabled, settings.star_color, settings.ratings_timeout) == (
        enabled,
        color,
        timeout,
    )


@pytest.mark.parametrize(
    ("env", "url"),
    [
        ({}, "http://reviews:9080"),
        (
            {"REVIEWS_HOSTNAME": "198.18.0.1", "REVIEWS_SERVICE_PORT": "19080"},
            "http://198.18.0.1:19080",
        ),
        (
            {"SERVICES_DOMAIN": "default.svc.cluster.local"},
            "http://reviews.default.svc.cluster.local:9080",
        ),
    ],
    ids=["default", "overridden", "services-domain"],
)
def test_productpage_service_url(env: dict[str, str], url: str) -> None:
    assert _load("productpage").service_url("reviews", env) == url


def test_sources_exist() -> None:
    assert {p.name for p in SRC.glob("*.py")} >= {
        "productpage.py",
        "details.py",
        "reviews.py",
        "ratings.py",
    }
    assert Path(SRC / "static" / "css" / "bookinfo.css").is_file()


# ---------------------------------------------------------------- explicit mesh mode: HTTP_PROXY


def test_calls_go_through_http_proxy(tmp_path: Path) -> None:
    """With HTTP_PROXY set (the sidecar in explicit mode), productpage and reviews send their
    calls to the proxy in absolute form, addressed to the plain service names."""
    proxy = FakeServer(body={**RATINGS_BODY, "reviews": [], "podname": "via-proxy"}).start()
    proxy_env = {
        **NO_PROXY_ENV,
        "HTTP_PROXY": f"http://127.0.0.1:{proxy.port}",
        "http_proxy": f"http://127.0.0.1:{proxy.port}",
        "NO_PROXY": "",
        "no_proxy": "",
    }
    try:
        with Processes(tmp_path) as procs:
            pp, rv = free_port(), free_port()
            procs.start(
                "pp", [sys.executable, str(SRC / "productpage.py")], {**proxy_env, "PORT": str(pp)}
            )
            procs.start(
                "rv",
                [sys.executable, str(SRC / "reviews.py")],
                {**proxy_env, "PORT": str(rv), "SERVICE_VERSION": "v2"},
            )
            for port in (pp, rv):
                wait_for(
                    lambda port=port: (
                        http_get(f"http://127.0.0.1:{port}/health", timeout=1)[0] == 200
                    )
                )
            status, _, page = request(
                "GET", pp, "/productpage", headers={"Cookie": "session=jason"}
            )
            assert status == 200 and "<u>via-proxy</u>" in page
            status, _, _ = request("GET", rv, "/reviews/0", headers={"end-user": "jason"})
            assert status == 200
    finally:
        proxy.stop()
    seen = {(r.path, r.headers.get("host"), r.headers.get("end-user")) for r in proxy.requests}
    assert seen == {
        ("http://details:9080/details/0", "details:9080", "jason"),
        ("http://reviews:9080/reviews/0", "reviews:9080", "jason"),
        ("http://ratings:9080/ratings/0", "ratings:9080", "jason"),
    }
