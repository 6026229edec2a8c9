"""Istio's traffic-management tasks on httpbin, curl and tcp-echo, with real Envoy and real
processes, one ``lateen up`` for the module: ingress (Gateway + VirtualService for
httpbin.example.com), mirroring (v1 serves, v2 gets the copies), TCP traffic shifting through
the gateway (80/20), retries (Istio's default policy, a budget, none), CORS preflights, header
manipulation, redirect, rewrite and direct response. Mesh calls go from the curl pod through
its sidecar (explicit mode: the app's HTTP proxy)."""

from __future__ import annotations

import re
import socket
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from traffic_support import SAMPLES, Mesh, Response, poll, running_mesh

from lateen.testing.procs import wait_for

pytestmark = pytest.mark.e2e

HTTPBIN = SAMPLES / "httpbin"
TCP_ECHO = SAMPLES / "tcp-echo"

# httpbin v2 (mirroring task) and a flaky httpbin (its first 2 attempts of every request
# answer 503), beside the samples' httpbin v1, curl and tcp-echo v1/v2
EXTRA = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: httpbin-v2}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: httpbin, version: v2}}}}
  template:
    metadata: {{labels: {{app: httpbin, version: v2}}}}
    spec:
      serviceAccountName: httpbin
      containers:
      - name: httpbin
        image: docker.io/mccutchen/go-httpbin:v2.15.0
        command: ["python3", "src/httpbin.py"]
        workingDir: {httpbin}
        env: [{{name: PORT, value: "8080"}}]
        ports: [{{containerPort: 8080}}]
---
apiVersion: v1
kind: Service
metadata: {{name: flaky, labels: {{app: flaky}}}}
spec:
  ports: [{{name: http, port: 8000, targetPort: 8080}}]
  selector: {{app: flaky}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: flaky}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: flaky}}}}
  template:
    metadata: {{labels: {{app: flaky, version: v1}}}}
    spec:
      containers:
      - name: httpbin
        image: docker.io/mccutchen/go-httpbin:v2.15.0
        command: ["python3", "src/httpbin.py"]
        workingDir: {httpbin}
        env:
        - {{name: PORT, value: "8080"}}
        - {{name: FAIL_FIRST_ATTEMPTS, value: "2"}}
        ports: [{{containerPort: 8080}}]
"""

MIRROR = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin}
spec:
  host: httpbin
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin}
spec:
  hosts: [httpbin]
  http:
  - route:
    - destination: {host: httpbin, subset: v1}
      weight: 100
    mirror: {host: httpbin, subset: v2}
    mirrorPercentage: {value: 100.0}
"""

CORS_AND_HEADERS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin}
spec:
  hosts: [httpbin]
  http:
  - corsPolicy:
      allowOrigins: [{exact: "https://app.example.com"}, {prefix: "https://dev."}]
      allowMethods: [GET, POST]
      allowHeaders: [x-custom]
      exposeHeaders: [x-answer]
      maxAge: 24h
      allowCredentials: true
    headers:
      request:
        set: {x-lateen: "on"}
        add: {x-added: "1"}
        remove: [x-drop]
      response:
        add: {x-answer: "42"}
        remove: [x-more-info]
    route:
    - destination: {host: httpbin, subset: v1}
"""

GATEWAY_ROUTES = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: tasks-gateway}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: [tasks.example.com]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: tasks}
spec:
  hosts: [tasks.example.com]
  gateways: [tasks-gateway]
  http:
  - match: [{uri: {exact: /old}}]
    redirect: {uri: /new, redirectCode: 301}
  - match: [{uri: {prefix: /moved}}]
    redirect: {authority: httpbin.example.com, uri: /status/200, redirectCode: 307}
  - match: [{uri: {prefix: /api/}}]
    rewrite: {uri: /}
    route: [{destination: {host: httpbin, subset: v1, port: {number: 8000}}}]
  - match: [{uri: {exact: /teapot}}]
    directResponse: {status: 418, body: {string: "short and stout"}}
  - route: [{destination: {host: httpbin, port: {number: 8000}}}]
"""


def _retries(spec: str) -> str:
    return (
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: flaky}\n"
        "spec:\n  hosts: [flaky]\n  http:\n  - route: [{destination: {host: flaky}}]\n"
        f"    retries: {spec}\n"
    )


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    extra = tmp_path_factory.mktemp("manifests") / "extra.yaml"
    extra.write_text(EXTRA.format(httpbin=HTTPBIN))
    with running_mesh(
        tmp_path_factory,
        "httpbin-traffic",
        HTTPBIN / "httpbin.yaml",
        SAMPLES / "curl" / "curl.yaml",
        TCP_ECHO / "tcp-echo-services.yaml",
        extra,
    ) as m:
        yield m


def curl(mesh: Mesh, url: str, **kw: object) -> Response:
    return mesh.via_sidecar("curl", url, **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- ingress


def test_ingress_httpbin_example_com(mesh: Mesh) -> None:
    mesh.apply(HTTPBIN / "httpbin-ingress.yaml")
    wait_for(
        lambda: mesh.ingress("/status/200", host="httpbin.example.com").status == 200,
        timeout=40,
        what="httpbin.example.com through the gateway",
    )
    assert mesh.ingress("/status/418", host="httpbin.example.com").status == 418
    assert mesh.ingress("/delay/1", host="httpbin.example.com").status == 200
    assert mesh.ingress("/headers", host="httpbin.example.com").status == 404
    assert mesh.ingress("/status/200", host="other.example.com").status == 404


# ---------------------------------------------------------------------------- mirroring


def _marks(log: str, marker: str) -> int:
    return log.count(marker)


def test_mirroring_v1_serves_v2_gets_copies(mesh: Mesh) -> None:
    mesh.apply(text=MIRROR)
    probe = f"/anything/probe-{uuid.uuid4().hex}"

    def mirrored() -> bool:
        curl(mesh, f"http://httpbin:8000{probe}")
        return "httpbin-shadow:8000" in mesh.log("httpbin-v2", "istio-proxy")

    wait_for(mirrored, timeout=40, interval=0.5, what="a shadow request at httpbin v2")
    marker = f"mirror-{uuid.uuid4().hex}"
    for i in range(10):
        resp = curl(mesh, f"http://httpbin:8000/anything/{marker}-{i}")
        assert resp.status == 200 and f"{marker}-{i}" in resp.body, resp
    # Envoy flushes access logs once a second
    wait_for(
        lambda: _marks(mesh.log("httpbin-v2", "istio-proxy"), marker) == 10,
        timeout=10,
        what="10 copies in httpbin v2's sidecar log",
    )
    v1_app = mesh.log("httpbin", "httpbin")
    v2_app = mesh.log("httpbin-v2", "httpbin")
    assert _marks(v1_app, marker) == 10, "v1 served every request once"
    assert _marks(v2_app, marker) == 10, "v2 received a copy of every request"
    v2_lines = [ln for ln in mesh.log("httpbin-v2", "istio-proxy").splitlines() if marker in ln]
    assert all('"httpbin-shadow:8000"' in ln for ln in v2_lines), v2_lines[:2]


# ---------------------------------------------------------------------------- TCP shifting


def _echo(address: str, port: int) -> str:
    with socket.create_connection((address, port), timeout=5) as s:
        s.sendall(b"world\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(100)
            if not chunk:
                break
            data += chunk
    return data.decode().strip()


def test_tcp_traffic_shifting_80_20(mesh: Mesh) -> None:
    gateway_ip = mesh.pod("istio-ingressgateway")["ip"]

    def replies(n: int) -> Counter[str]:
        out: Counter[str] = Counter()
        for _ in range(n):
            try:
                out[_echo(gateway_ip, 31400)] += 1
            except OSError as e:
                out[f"error: {e}"] += 1
        return out

    mesh.apply(TCP_ECHO / "tcp-echo-all-v1.yaml")
    wait_for(
        lambda: replies(5) == Counter({"one world": 5}),
        timeout=40,
        interval=0.5,
        what="tcp-echo v1 through the gateway's port 31400",
    )
    assert replies(20) == Counter({"one world": 20})
    mesh.apply(TCP_ECHO / "tcp-echo-20-v2.yaml")
    wait_for(lambda: "two world" in replies(10), timeout=40, interval=0.5, what="some v2 replies")
    seen = replies(100)
    assert set(seen) == {"one world", "two world"}, seen
    assert 8 <= seen["two world"] <= 35, seen


# ---------------------------------------------------------------------------- retries


def _attempts(mesh: Mesh, request_id: str) -> int:
    return mesh.log("flaky", "httpbin").count(f"x-request-id={request_id}")


@pytest.mark.parametrize(
    ("retries", "status", "attempts"),
    [
        (None, 200, 3),
        ("{attempts: 1, retryOn: 5xx}", 503, 2),
        ("{attempts: 0}", 503, 1),
        ("{attempts: 4, retryOn: '503', perTryTimeout: 2s}", 200, 3),
    ],
    ids=["istio-default-2-retries", "budget-of-1", "disabled", "enough-retries"],
)
def test_retries(mesh: Mesh, retries: str | None, status: int, attempts: int) -> None:
    """flaky fails the first 2 attempts of every request: Istio's default (2 retries on 503)
    gets through on the 3rd; a budget of 1 retry stops at the 2nd; attempts 0 at the 1st."""
    if retries is not None:  # the first row runs before any VirtualService for flaky
        mesh.apply(text=_retries(retries))

    def result() -> tuple[int, str]:
        rid = uuid.uuid4().hex
        resp = curl(mesh, "http://flaky:8000/status/200", headers={"x-request-id": rid})
        return resp.status, rid

    def converged() -> tuple[int, str] | None:
        got, rid = result()
        if got != status:
            return None
        # the app logs each attempt (after the response): count them once they are written
        n = wait_for(lambda: _attempts(mesh, rid), timeout=5, what="the flaky access log")
        return (n, rid) if n == attempts else None

    n, rid = wait_for(converged, timeout=40, interval=0.5, what=f"status {status} in {attempts}")
    assert (n, _attempts(mesh, rid)) == (attempts, attempts)


# ---------------------------------------------------------------------------- CORS, headers


def test_cors_preflight_and_header_manipulation(mesh: Mesh) -> None:
    mesh.apply(text=CORS_AND_HEADERS)
    preflight = {
        "Origin": "https://app.example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-custom",
    }
    resp = poll(
        lambda: curl(mesh, "http://httpbin:8000/anything", method="OPTIONS", headers=preflight),
        lambda r: "access-control-allow-origin" in r.headers,
        what="a CORS preflight answered by Envoy",
    )
    assert resp.status == 200
    assert resp.headers["access-control-allow-origin"] == "https://app.example.com"
    assert resp.headers["access-control-allow-methods"] == "GET,POST"
    assert resp.headers["access-control-allow-headers"] == "x-custom"
    assert resp.headers["access-control-max-age"] == "86400"
    assert resp.headers["access-control-allow-credentials"] == "true"
    dev = curl(
        mesh,
        "http://httpbin:8000/anything",
        method="OPTIONS",
        headers={**preflight, "Origin": "https://dev.example.com"},
    )
    assert dev.headers.get("access-control-allow-origin") == "https://dev.example.com"
    denied = curl(
        mesh,
        "http://httpbin:8000/anything",
        method="OPTIONS",
        headers={**preflight, "Origin": "https://evil.example.net"},
    )
    assert "access-control-allow-origin" not in denied.headers
    simple = curl(
        mesh, "http://httpbin:8000/status/418", headers={"Origin": "https://app.example.com"}
    )
    assert simple.status == 418
    assert simple.headers["access-control-allow-origin"] == "https://app.example.com"
    assert simple.headers["access-control-expose-headers"] == "x-answer"
    # header manipulation on the same route: request set/add/remove, response add/remove
    echo = curl(
        mesh,
        "http://httpbin:8000/headers",
        headers={"x-lateen": "off", "x-drop": "secret", "x-added": "0"},
    )
    headers = echo.body
    assert echo.status == 200
    assert re.search(r'"X-Lateen": "on"', headers), headers
    assert re.search(r'"X-Added": "0,1"', headers), headers
    assert "X-Drop" not in headers and "secret" not in headers, headers
    assert echo.headers["x-answer"] == "42"
    assert "x-more-info" not in simple.headers  # httpbin's 418 sets it; the route removes it


# ---------------------------------------------------------------------------- redirect etc.


def test_redirect_rewrite_and_direct_response_at_the_gateway(mesh: Mesh) -> None:
    mesh.apply(text=GATEWAY_ROUTES)
    teapot = poll(
        lambda: mesh.ingress("/teapot", host="tasks.example.com"),
        lambda r: r.status == 418,
        what="the direct response",
    )
    assert teapot.body == "short and stout"
    old = mesh.ingress("/old?x=1", host="tasks.example.com")
    assert old.status == 301
    assert old.headers["location"] == "http://tasks.example.com/new?x=1"
    moved = mesh.ingress("/moved/anywhere", host="tasks.example.com")
    assert moved.status == 307
    assert moved.headers["location"] == "http://httpbin.example.com/status/200"
    rewritten = mesh.ingress("/api/anything/rewritten", host="tasks.example.com")
    assert rewritten.status == 200
    assert '"url": "http://tasks.example.com/anything/rewritten"' in rewritten.body, rewritten.body
    assert mesh.ingress("/status/202", host="tasks.example.com").status == 202
