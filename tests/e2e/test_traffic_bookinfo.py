"""Istio's traffic-management tasks on Bookinfo, with real Envoy and real processes, one
``lateen up samples/bookinfo`` for the module: request routing (all v1, then jason -> v2),
fault injection (a 7 s delay and an HTTP 500 abort for jason) and request timeouts (ratings
delayed 2 s, reviews timeout 0.5 s). The outcomes are the ones istio.io promises."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from traffic_support import SAMPLES, Mesh, Response, poll, running_mesh

from lateen.testing.procs import wait_for

pytestmark = pytest.mark.e2e

BOOKINFO = SAMPLES / "bookinfo"
NET = BOOKINFO / "networking"

TIMEOUTS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v2}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings]
  http:
  - fault:
      delay:
        percentage: {value: 100}
        fixedDelay: 2s
    route:
    - destination: {host: ratings, subset: v1}
"""

REVIEWS_TIMEOUT = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v2}
    timeout: 0.5s
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    with running_mesh(tmp_path_factory, "bookinfo-traffic", BOOKINFO) as m:
        yield m


def login(mesh: Mesh, user: str) -> str:
    """``POST /login`` with the form field ``username``, as the page's sign-in form does;
    returns the session cookie to send."""
    resp = mesh.ingress(
        "/login",
        method="POST",
        body=urlencode({"username": user, "passwd": "password"}),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status == 302, resp
    cookie = resp.headers["set-cookie"].split(";", 1)[0]
    assert cookie == f"session={user}", cookie
    return cookie


def page(mesh: Mesh, cookie: str = "") -> Response:
    return mesh.ingress("/productpage", headers={"Cookie": cookie} if cookie else {}, timeout=20)


def stars(resp: Response) -> str:
    if resp.status != 200:
        return f"http-{resp.status}"
    if 'font color="red"' in resp.body:
        return "red"
    if 'font color="black"' in resp.body:
        return "black"
    if "Error fetching product reviews" in resp.body:
        return "reviews-error"
    if "Ratings service is currently unavailable" in resp.body:
        return "ratings-unavailable"
    return "none" if "Reviews served by" in resp.body else "error"


def pages(mesh: Mesh, n: int, cookie: str = "") -> Counter[str]:
    return Counter(stars(page(mesh, cookie)) for _ in range(n))


def test_request_routing_all_v1_no_stars(mesh: Mesh) -> None:
    assert set(pages(mesh, 12)) == {"none", "black", "red"}  # no VirtualService yet
    mesh.apply(NET / "destination-rule-all.yaml", NET / "virtual-service-all-v1.yaml")
    wait_for(lambda: pages(mesh, 6) == Counter(none=6), timeout=40, what="only reviews v1")
    assert pages(mesh, 20) == Counter(none=20)


def test_request_routing_jason_gets_v2(mesh: Mesh) -> None:
    jason = login(mesh, "jason")
    mesh.apply(NET / "virtual-service-reviews-test-v2.yaml")
    wait_for(lambda: stars(page(mesh, jason)) == "black", timeout=40, what="jason on v2")
    assert pages(mesh, 10, jason) == Counter(black=10)
    assert pages(mesh, 10) == Counter(none=10)
    assert pages(mesh, 5, login(mesh, "alice")) == Counter(none=5)


def test_fault_delay_for_jason(mesh: Mesh) -> None:
    """ratings delayed 7 s for jason: reviews v2 waits (10 s timeout), productpage gives up on
    reviews after 3 s and one retry, so the page comes in ~6 s with the reviews error."""
    jason = login(mesh, "jason")
    mesh.apply(NET / "virtual-service-ratings-test-delay.yaml")
    resp = poll(
        lambda: page(mesh, jason),
        lambda r: stars(r) == "reviews-error",
        timeout=60,
        what="the delay for jason",
    )
    assert 5.5 <= resp.elapsed <= 10.0, resp.elapsed
    other = page(mesh)
    assert stars(other) == "none" and other.elapsed < 3.0, (stars(other), other.elapsed)


def test_fault_abort_for_jason(mesh: Mesh) -> None:
    """ratings answers 500 for jason: the page shows at once that ratings are unavailable."""
    jason = login(mesh, "jason")
    mesh.apply(NET / "virtual-service-ratings-test-abort.yaml")
    wait_for(
        lambda: stars(page(mesh, jason)) == "ratings-unavailable",
        timeout=40,
        what="the abort for jason",
    )
    resp = page(mesh, jason)
    assert stars(resp) == "ratings-unavailable" and resp.elapsed < 3.0, resp.elapsed
    assert "Ratings service is currently unavailable" in resp.body
    assert pages(mesh, 5) == Counter(none=5)
    # the abort is the fault filter's (flag FI), not an upstream answer
    wait_for(
        lambda: " 500 FI fault_filter_abort " in mesh.log("reviews-v2", "istio-proxy"),
        timeout=10,
        what="the fault-injected 500 in reviews-v2's access log",
    )


def test_request_timeouts(mesh: Mesh) -> None:
    """ratings delayed 2 s: the page waits ~2 s and shows black stars; with a 0.5 s timeout on
    reviews the page comes back in ~1 s (0.5 s and productpage's one retry) without reviews."""
    mesh.apply(text=TIMEOUTS)
    slow = poll(lambda: page(mesh), lambda r: stars(r) == "black", what="everyone on reviews v2")
    assert 1.9 <= slow.elapsed <= 5.0, slow.elapsed
    mesh.apply(text=REVIEWS_TIMEOUT)
    wait_for(lambda: stars(page(mesh)) == "reviews-error", timeout=40, what="the reviews timeout")
    resp = page(mesh)
    assert stars(resp) == "reviews-error"
    assert "Sorry, product reviews are currently unavailable for this book." in resp.body
    assert 0.9 <= resp.elapsed <= 3.0, resp.elapsed
    # Envoy answered 504 (flag UT) to productpage twice: its call and its one retry
    wait_for(
        lambda: mesh.log("productpage-v1", "istio-proxy").count(" 504 UT ") >= 2,
        timeout=10,
        what="upstream timeouts in productpage's access log",
    )
