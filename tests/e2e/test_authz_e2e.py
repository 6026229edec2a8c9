"""AuthorizationPolicy end to end (transparent mode, ``lateen up``), Istio's security tasks with
real Envoy and the real sample apps: authorization for HTTP traffic on Bookinfo (allow-nothing,
then one ALLOW policy per service), for TCP traffic on tcp-echo (ports, HTTP-only fields fail
closed), explicit deny on httpbin (DENY before ALLOW), and CUSTOM with the ext-authz sample as
an ``envoyExtAuthzHttp`` provider. Calls from inside the mesh run in the curl pod
(``lateen exec``), several per exec."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from lateen.testing.localmesh import ROOT, Mesh, mesh_up
from lateen.testing.procs import wait_for

pytestmark = pytest.mark.e2e

SAMPLES = ROOT / "samples"

MESH_CONFIG = """
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    accessLogFile: /dev/stdout
    extensionProviders:
    - name: sample-ext-authz-http
      envoyExtAuthzHttp:
        service: ext-authz.default.svc.cluster.local
        port: 8000
        includeRequestHeadersInCheck: [x-ext-authz]
        headersToUpstreamOnAllow: [x-ext-authz-check-result]
        headersToDownstreamOnDeny: [x-ext-authz-check-result]
"""

# one exec, many calls: argv[1] is a JSON list of ["http", url, method, headers] or
# ["tcp", host, port, line]; prints a JSON list of [status, body] / reply line ("" = closed)
CALLS = r"""
import json, socket, sys, urllib.error, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
out = []
for call in json.loads(sys.argv[1]):
    if call[0] == "http":
        _, url, method, headers = call
        req = urllib.request.Request(url, method=method, headers=headers)
        try:
            with opener.open(req, timeout=10) as r:
                out.append([r.status, r.read().decode(errors="replace")[:3000]])
        except urllib.error.HTTPError as e:
            out.append([e.code, e.read().decode(errors="replace")[:3000]])
        except OSError as e:
            out.append([0, str(e)])
    else:
        _, host, port, line = call
        try:
            with socket.create_connection((host, port), timeout=5) as s:
                s.settimeout(5)
                s.sendall(line.encode() + b"\n")
                out.append(s.recv(1024).decode(errors="replace").strip())
        except OSError:
            out.append("")
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    src = tmp_path_factory.mktemp("authz-src")
    (src / "mesh.yaml").write_text(MESH_CONFIG)
    resources = [
        SAMPLES / "bookinfo" / "platform" / "bookinfo.yaml",
        SAMPLES / "bookinfo" / "networking" / "bookinfo-gateway.yaml",
        SAMPLES / "curl" / "curl.yaml",
        SAMPLES / "tcp-echo" / "tcp-echo-services.yaml",
        SAMPLES / "httpbin" / "httpbin.yaml",
        SAMPLES / "extauthz" / "ext-authz.yaml",
    ]
    (src / "kustomization.yaml").write_text(
        "resources:\n" + "".join(f"- {p}\n" for p in resources) + "- mesh.yaml\n"
    )
    with mesh_up(tmp_path_factory.mktemp("authz") / ".lateen", src, "transparent", timeout=240) as m:
        yield m


def calls(mesh: Mesh, *requests: list[Any]) -> list[Any]:
    out = mesh.lateen("exec", "deploy/curl", "--", sys.executable, "-c", CALLS, json.dumps(list(requests)))
    result: list[Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def http(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> list[Any]:
    return ["http", url, method, headers or {}]


def tcp(host: str, port: int) -> list[Any]:
    return ["tcp", host, port, f"port {port}"]


class Policies:
    """``lateen apply`` of policies, all deleted again at the end of the block."""

    def __init__(self, mesh: Mesh) -> None:
        self.mesh = mesh
        self.applied: dict[str, str] = {}

    def apply(self, name: str, namespace: str = "default", **spec: Any) -> None:
        doc = json.dumps({
            "apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec,
        })  # fmt: skip
        self.mesh.lateen("apply", "-f", "-", stdin=doc)
        self.applied[name] = doc

    def __enter__(self) -> Policies:
        return self

    def __exit__(self, *exc: object) -> None:
        for doc in self.applied.values():
            self.mesh.lateen("delete", "-f", "-", stdin=doc, check=False)


def until(what: str, check: Any, timeout: float = 60) -> Any:
    return wait_for(lambda: check() or None, timeout=timeout, interval=1.0, what=what)


def until_steady(what: str, check: Any, times: int = 10, timeout: float = 90) -> Any:
    """``check`` true ``times`` calls in a row. After a listener update Envoy drains the old
    filter chains: a connection a client pooled before the update is served once more by
    the old chain (then closed, ``--drain-strategy immediate``), as in Istio. A denial is
    only settled once no pooled connection is left to slip one request through."""
    streak: list[Any] = []

    def steady() -> Any:
        r = check()
        streak[:] = [*streak, r] if r else []
        return streak[-1] if len(streak) >= times else None

    return wait_for(steady, timeout=timeout, interval=0.2, what=what)


# ---------------------------------------------------------------------------- HTTP (Bookinfo)


def _page(mesh: Mesh) -> tuple[int, str]:
    return mesh.page()


def test_bookinfo_http_authorization_task(mesh: Mesh) -> None:
    """Istio's "Authorization for HTTP traffic" task, step by step."""
    until("Bookinfo page before any policy", lambda: _page(mesh)[0] == 200)
    with Policies(mesh) as p:
        p.apply("allow-nothing")  # spec: {}
        code, body = until("allow-nothing denies the page", lambda: (r := _page(mesh))[0] == 403 and r)
        assert body == "RBAC: access denied"

        p.apply("productpage-viewer", selector={"matchLabels": {"app": "productpage"}},
                action="ALLOW", rules=[{"to": [{"operation": {"methods": ["GET"]}}]}])  # fmt: skip
        # every sidecar applies allow-nothing on its own push: wait until details and
        # reviews both refuse productpage (a proxy that lags is not a pass)
        code, body = until_steady(
            "productpage allowed, details and reviews denied",
            lambda: (r := _page(mesh))[0] == 200
            and "Error fetching product details!" in r[1]
            and "Error fetching product reviews!" in r[1]
            and r,
        )

        def viewer(app: str, sa: str) -> dict[str, Any]:
            return {
                "selector": {"matchLabels": {"app": app}},
                "action": "ALLOW",
                "rules": [{
                    "from": [{"source": {"principals": [f"cluster.local/ns/default/sa/{sa}"]}}],
                    "to": [{"operation": {"methods": ["GET"]}}],
                }],
            }  # fmt: skip

        p.apply("details-viewer", **viewer("details", "bookinfo-productpage"))
        code, body = until("details back", lambda: "Book Details" in (r := _page(mesh))[1] and r)
        assert "Error fetching product reviews!" in body

        p.apply("reviews-viewer", **viewer("reviews", "bookinfo-productpage"))
        until("reviews back, ratings unavailable (reviews v2/v3)",
              lambda: "Ratings service is currently unavailable" in _page(mesh)[1])  # fmt: skip
        code, body = _page(mesh)
        assert code == 200 and "Book Reviews" in body and "Error fetching" not in body
        # a caller that is not productpage still gets nothing from details (mTLS principal)
        (denied,) = calls(mesh, http("http://details:9080/details/0"))
        assert denied == [403, "RBAC: access denied"]

        p.apply("ratings-viewer", **viewer("ratings", "bookinfo-reviews"))
        until("stars back", lambda: "glyphicon-star" in _page(mesh)[1])
    until("page open again once the policies are gone", lambda: _page(mesh)[0] == 200)


# ---------------------------------------------------------------------------- TCP (tcp-echo)


def _tcp_echo(mesh: Mesh) -> list[str]:
    ip = mesh.pod("tcp-echo-v1")["ip"]
    return calls(mesh, tcp("tcp-echo", 9000), tcp("tcp-echo", 9001), tcp(ip, 9002))


def _served(reply: str, port: int) -> bool:
    return reply.endswith(f"port {port}") and reply.split()[0] in ("one", "two")


def test_tcp_echo_authorization_task(mesh: Mesh) -> None:
    """Istio's "Authorization for TCP traffic" task (9002 is not in the Service: passthrough)."""
    until("tcp-echo on 9000, 9001, 9002", lambda: all(_served(r, p) for r, p in zip(_tcp_echo(mesh), (9000, 9001, 9002), strict=True)))
    sel = {"matchLabels": {"app": "tcp-echo"}}
    with Policies(mesh) as p:
        p.apply("tcp-policy", selector=sel, action="ALLOW",
                rules=[{"to": [{"operation": {"ports": ["9000", "9001"]}}]}])  # fmt: skip
        r9000, r9001, r9002 = until("9002 denied", lambda: (r := _tcp_echo(mesh))[2] == "" and r)
        assert _served(r9000, 9000) and _served(r9001, 9001)

        # an HTTP-only field in an ALLOW rule: the rule matches nothing on TCP
        p.apply("tcp-policy", selector=sel, action="ALLOW",
                rules=[{"to": [{"operation": {"methods": ["GET"], "ports": ["9000"]}}]}])  # fmt: skip
        r9000, r9001, r9002 = until("9000 denied (ALLOW fails closed)", lambda: (r := _tcp_echo(mesh))[0] == "" and r)
        assert r9001 == "" and r9002 == ""

        # an HTTP-only field in a DENY rule is dropped: the rule denies all of port 9000
        p.apply("tcp-policy", selector=sel, action="DENY",
                rules=[{"to": [{"operation": {"methods": ["GET"], "ports": ["9000"]}}]}])  # fmt: skip
        r9000, r9001, r9002 = until("9001 allowed again", lambda: _served((r := _tcp_echo(mesh))[1], 9001) and r)
        assert r9000 == "" and _served(r9002, 9002)


# ---------------------------------------------------------------------------- explicit deny (httpbin)


def test_httpbin_explicit_deny_task(mesh: Mesh) -> None:
    """Istio's "Explicit deny" task: DENY GET; then DENY GET unless x-token: admin; then an
    ALLOW on /ip that the DENY still overrides."""
    sel = {"matchLabels": {"app": "httpbin", "version": "v1"}}
    get = http("http://httpbin:8000/get")
    until("httpbin before any policy", lambda: calls(mesh, get)[0][0] == 200)
    with Policies(mesh) as p:
        p.apply("deny-method-get", selector=sel, action="DENY",
                rules=[{"to": [{"operation": {"methods": ["GET"]}}]}])  # fmt: skip
        until("GET denied", lambda: calls(mesh, get)[0] == [403, "RBAC: access denied"])
        (post,) = calls(mesh, http("http://httpbin:8000/post", "POST"))
        assert post[0] == 200

        p.apply("deny-method-get", selector=sel, action="DENY", rules=[{
            "to": [{"operation": {"methods": ["GET"]}}],
            "when": [{"key": "request.headers[x-token]", "notValues": ["admin"]}],
        }])  # fmt: skip
        admin = {"x-token": "admin"}
        until("GET with x-token: admin allowed", lambda: calls(mesh, http("http://httpbin:8000/get", headers=admin))[0][0] == 200)
        (guest,) = calls(mesh, http("http://httpbin:8000/get", headers={"x-token": "guest"}))
        assert guest[0] == 403

        p.apply("allow-path-ip", selector=sel, action="ALLOW",
                rules=[{"to": [{"operation": {"paths": ["/ip"]}}]}])  # fmt: skip
        until("/get no longer allowed (an ALLOW policy selects httpbin)",
              lambda: calls(mesh, http("http://httpbin:8000/get", headers=admin))[0][0] == 403)  # fmt: skip
        ip_guest, ip_admin = calls(
            mesh,
            http("http://httpbin:8000/ip", headers={"x-token": "guest"}),
            http("http://httpbin:8000/ip", headers=admin),
        )
        assert ip_guest[0] == 403  # DENY comes before ALLOW
        assert ip_admin[0] == 200


# ---------------------------------------------------------------------------- CUSTOM (ext-authz)


def test_custom_ext_authz(mesh: Mesh) -> None:
    """CUSTOM with the ext-authz sample: only requests the rule matches are checked; those
    pass with ``x-ext-authz: allow`` and get the sample's 403 otherwise."""
    headers = http("http://httpbin:8000/headers", headers={"x-ext-authz": "allow"})
    until("httpbin before any policy", lambda: calls(mesh, headers)[0][0] == 200)
    with Policies(mesh) as p:
        p.apply("ext-authz", selector={"matchLabels": {"app": "httpbin"}}, action="CUSTOM",
                provider={"name": "sample-ext-authz-http"},
                rules=[{"to": [{"operation": {"paths": ["/headers"]}}]}])  # fmt: skip
        denied_body = "denied by ext_authz for not found header `x-ext-authz: allow` in the request"
        until_steady("the ext-authz check denies /headers without the header",
                     lambda: calls(mesh, http("http://httpbin:8000/headers", headers={"x-ext-authz": "deny"}))[0] == [403, denied_body],
                     times=4)  # fmt: skip
        allowed, missing, unchecked = calls(
            mesh, headers, http("http://httpbin:8000/headers"), http("http://httpbin:8000/ip")
        )
        assert allowed[0] == 200
        # the check's result header went upstream (headersToUpstreamOnAllow)
        assert json.loads(allowed[1])["headers"].get("X-Ext-Authz-Check-Result") == "allowed"
        assert missing == [403, denied_body]
        assert unchecked[0] == 200  # /ip matches no CUSTOM rule: ext-authz is not asked
