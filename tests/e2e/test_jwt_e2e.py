"""Istio's JWT tasks ("authentication policy", "authorization with JWT", ingress JWT) on
``lateen up`` in transparent mode, with real Envoy: httpbin with a sidecar, a curl pod whose
requests go through its own sidecar (captured), the ingress gateway.

RequestAuthentication on httpbin: an invalid token is 401 (bad signature, expired, unknown
issuer, ``alg: none``, tampered; a wrong audience is 403, as Envoy answers it), no token 200,
a valid token 200; the payload and claims reach httpbin as headers. A ``jwksUri`` served on 127.0.0.1 by this test is
fetched by the control plane; an unreachable one fails closed (valid tokens 401). Then
AuthorizationPolicy: ``requestPrincipals: ["*"]`` makes a token required (no token 403) and
``request.auth.claims[groups]`` selects who passes."""

from __future__ import annotations

import base64
import http.client
import json
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from lateen.testing.jwt import (
    ISSUER,
    SUBJECT,
    alg_none,
    claims,
    jwks_json,
    make_ec_key,
    make_rsa_key,
    sign,
    tamper,
)
from lateen.testing.localmesh import ROOT, Mesh, mesh_up
from lateen.testing.procs import free_port, wait_for

pytestmark = pytest.mark.e2e

KEY = make_rsa_key("e2e-rsa")
OTHER_KEY = make_rsa_key("e2e-other")  # not in any key set
URI_KEY = make_ec_key("e2e-ec")  # served by the test's JWKS server
HTTPBIN = "http://httpbin:8000"

# the requests of one step, made by the curl pod's app (through its sidecar): JSON list of
# [url, headers] in argv[1]; prints a JSON list of [status, body]
CLIENT = """
import json, sys, urllib.error, urllib.request
out = []
for url, headers in json.loads(sys.argv[1]):
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            out.append([r.status, r.read().decode(errors="replace")])
    except urllib.error.HTTPError as e:
        out.append([e.code, e.read().decode(errors="replace")])
    except OSError as e:
        out.append([0, str(e)])
print(json.dumps(out))
"""


def _ra(name: str, namespace: str, labels: dict[str, str], rule: dict[str, Any]) -> str:
    return json.dumps(
        {
            "apiVersion": "security.istio.io/v1",
            "kind": "RequestAuthentication",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"matchLabels": labels}, "jwtRules": [rule]},
        }
    )


@dataclass
class JwksServer:
    port: int
    body: str
    hits: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def jwks_server() -> Iterator[JwksServer]:
    server_state = JwksServer(0, jwks_json(URI_KEY))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server_state.hits.append(self.path)
            body = server_state.body.encode()
            self.send_response(200 if self.path == "/jwks.json" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server_state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    src = tmp_path_factory.mktemp("jwt-src")
    samples = ROOT / "samples"
    resources = [samples / "httpbin" / "httpbin.yaml", samples / "curl" / "curl.yaml",
                 samples / "httpbin" / "httpbin-gateway.yaml"]  # fmt: skip
    (src / "kustomization.yaml").write_text(
        "resources:\n" + "".join(f"- {p}\n" for p in resources)
    )
    with mesh_up(tmp_path_factory.mktemp("jwt") / ".lateen", src, "transparent", timeout=120) as m:
        yield m


def _apply(mesh: Mesh, *docs: str) -> None:
    mesh.lateen("apply", "-f", "-", stdin="\n---\n".join(docs))


def _delete(mesh: Mesh, *docs: str) -> None:
    mesh.lateen("delete", "-f", "-", stdin="\n---\n".join(docs), check=False)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _calls(mesh: Mesh, requests: list[tuple[str, dict[str, str]]]) -> list[tuple[int, str]]:
    out = mesh.lateen("exec", "deploy/curl", "--", sys.executable, "-c", CLIENT,
                      json.dumps(requests), check=False)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    return [(int(s), b) for s, b in json.loads(out.stdout.strip().splitlines()[-1])]


def _codes(mesh: Mesh, tokens: dict[str, str | None], path: str = "/headers") -> dict[str, int]:
    names = list(tokens)
    reqs = [(f"{HTTPBIN}{path}", _bearer(t) if t is not None else {}) for t in tokens.values()]
    return {n: code for n, (code, _) in zip(names, _calls(mesh, reqs), strict=True)}


def _until(mesh: Mesh, tokens: dict[str, str | None], expected: dict[str, int], what: str) -> None:
    """Poll (config takes a push to arrive) until every request gets its expected status."""
    last: dict[str, int] = {}

    def check() -> bool:
        nonlocal last
        last = _codes(mesh, tokens)
        return last == expected

    try:
        wait_for(check, timeout=40, interval=1.0, what=what)
    except Exception as e:  # show what was seen, not only that time ran out
        raise AssertionError(f"{what}: got {last}, want {expected}") from e


AUDIENCE = "httpbin.default.svc.cluster.local"


def _token(issuer: str = ISSUER, key: Any = KEY, **kw: Any) -> str:
    return sign(key, claims(issuer, audience=kw.pop("audience", AUDIENCE), **kw))


VALID = _token(groups=["group1", "group2"], foo="bar", nested={"key": "v"})
BAD_TOKENS: dict[str, str | None] = {
    "no-token": None,
    "valid": VALID,
    "garbage": "deadbeef",
    "expired": _token(expires_in=-3600),
    "wrong-audience": _token(audience="other.example.com"),
    "unknown-issuer": _token("https://evil.example.com"),
    "wrong-key": _token(key=OTHER_KEY),
    "alg-none": alg_none(claims(ISSUER, audience=AUDIENCE)),
    "tampered": tamper(VALID, sub="admin@secure.istio.io"),
}
# Envoy (so Istio) answers 403 "Audiences in Jwt are not allowed" to a verified token for
# another audience; every other bad token is 401
BAD_EXPECTED = {name: 401 for name in BAD_TOKENS} | {"no-token": 200, "valid": 200, "wrong-audience": 403}

INLINE_RA = _ra(
    "jwt-example",
    "default",
    {"app": "httpbin"},
    {
        "issuer": ISSUER,
        "audiences": [AUDIENCE],
        "jwks": jwks_json(KEY),
        "outputPayloadToHeader": "x-jwt-payload",
        "outputClaimToHeaders": [
            {"header": "x-jwt-claim-foo", "claim": "foo"},
            {"header": "x-jwt-nested", "claim": "nested.key"},
        ],
    },
)


def test_invalid_token_401_missing_200_valid_200(mesh: Mesh) -> None:
    _apply(mesh, INLINE_RA)
    _until(mesh, BAD_TOKENS, BAD_EXPECTED, "jwt_authn on httpbin's inbound")


def test_payload_and_claims_reach_the_app_as_headers(mesh: Mesh) -> None:
    _apply(mesh, INLINE_RA)
    _until(mesh, {"valid": VALID, "garbage": "x"}, {"valid": 200, "garbage": 401}, "policy applied")
    ((code, body),) = _calls(mesh, [(f"{HTTPBIN}/headers", _bearer(VALID))])
    assert code == 200, body
    headers = {k.lower(): v for k, v in json.loads(body)["headers"].items()}
    payload = json.loads(base64.urlsafe_b64decode(headers["x-jwt-payload"] + "=="))
    assert payload["iss"] == ISSUER and payload["sub"] == SUBJECT and payload["groups"] == ["group1", "group2"]
    assert headers["x-jwt-claim-foo"] == "bar"
    assert headers["x-jwt-nested"] == "v"
    assert "authorization" not in headers  # forwardOriginalToken is false: the token is removed


def test_jwks_uri_is_fetched_by_the_control_plane(mesh: Mesh, jwks_server: JwksServer) -> None:
    uri_ra = _ra("jwt-example", "default", {"app": "httpbin"},
                 {"issuer": ISSUER, "jwksUri": f"http://127.0.0.1:{jwks_server.port}/jwks.json"})  # fmt: skip
    _apply(mesh, uri_ra)
    tokens = {"uri-key": sign(URI_KEY, claims(ISSUER)), "inline-key-only": VALID, "none": None}
    _until(mesh, tokens, {"uri-key": 200, "inline-key-only": 401, "none": 200}, "jwksUri keys")
    assert "/jwks.json" in jwks_server.hits  # fetched by the control plane, not by Envoy
    dump = mesh.lateen("proxy-config", "listener", "deploy/httpbin", "-o", "json").stdout
    assert "remote_jwks" not in dump and URI_KEY.jwk()["x"] in dump


def test_unreachable_jwks_uri_fails_closed(mesh: Mesh) -> None:
    dead = f"http://127.0.0.1:{free_port()}/jwks.json"  # nothing listens there
    _apply(mesh, _ra("jwt-example", "default", {"app": "httpbin"}, {"issuer": ISSUER, "jwksUri": dead}))
    tokens = {"valid": sign(URI_KEY, claims(ISSUER)), "none": None}
    _until(mesh, tokens, {"valid": 401, "none": 200}, "fail closed on an unreachable jwksUri")


def test_link_local_jwks_uri_is_refused_by_validation(mesh: Mesh) -> None:
    bad = _ra("metadata", "default", {"app": "httpbin"},
              {"issuer": ISSUER, "jwksUri": "http://169.254.169.254/latest/meta-data"})  # fmt: skip
    out = mesh.lateen("apply", "-f", "-", stdin=bad, check=False)
    assert out.returncode != 0
    assert "spec.jwtRules[0].jwksUri" in out.stdout + out.stderr
    assert "link-local" in out.stdout + out.stderr


ALLOW_ANY_PRINCIPAL = json.dumps(
    {
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": "require-jwt", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": "httpbin"}},
            "action": "ALLOW",
            "rules": [{"from": [{"source": {"requestPrincipals": [f"{ISSUER}/{SUBJECT}"]}}]}],
        },
    }
)
ALLOW_GROUP1 = json.dumps(
    {
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": "require-jwt", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": "httpbin"}},
            "action": "ALLOW",
            "rules": [
                {
                    "from": [{"source": {"requestPrincipals": ["*"]}}],
                    "when": [{"key": "request.auth.claims[groups]", "values": ["group1"]}],
                }
            ],
        },
    }
)


def test_authorization_requires_a_token_then_a_group(mesh: Mesh) -> None:
    _apply(mesh, INLINE_RA, ALLOW_ANY_PRINCIPAL)
    try:
        tokens: dict[str, str | None] = {"none": None, "valid": VALID, "invalid": "deadbeef"}
        # Istio's task: requestPrincipals testing@secure.istio.io/testing@secure.istio.io
        _until(mesh, tokens, {"none": 403, "valid": 200, "invalid": 401}, "token required")
        _apply(mesh, ALLOW_GROUP1)
        tokens = {
            "group1": VALID,
            "group2-only": _token(groups=["group2"]),
            "no-groups": _token(),
            "none": None,
        }
        expected = {"group1": 200, "group2-only": 403, "no-groups": 403, "none": 403}
        _until(mesh, tokens, expected, "request.auth.claims[groups]")
    finally:
        _delete(mesh, ALLOW_GROUP1)


def _ingress(mesh: Mesh, token: str | None) -> int:
    """GET /headers through the ingress gateway (httpbin-gateway routes * to httpbin)."""
    conn = http.client.HTTPConnection("127.0.0.1", mesh.port, timeout=10)
    try:
        conn.request("GET", "/headers", headers=_bearer(token) if token is not None else {})
        return conn.getresponse().status
    except OSError:
        return 0
    finally:
        conn.close()


def test_ingress_gateway_jwt(mesh: Mesh) -> None:
    gw_ra = _ra("ingress-jwt", "istio-system", {"istio": "ingressgateway"},
                {"issuer": ISSUER, "jwks": jwks_json(KEY)})  # fmt: skip
    _apply(mesh, gw_ra)
    try:
        tokens: dict[str, str | None] = {"none": None, "valid": VALID, "invalid": "deadbeef"}
        want = {"none": 200, "valid": 200, "invalid": 401}
        wait_for(lambda: {n: _ingress(mesh, t) for n, t in tokens.items()} == want,
                 timeout=40, interval=1.0, what="ingress JWT")  # fmt: skip
    finally:
        _delete(mesh, gw_ra)


def test_no_policy_no_filter(mesh: Mesh) -> None:
    _delete(mesh, INLINE_RA, ALLOW_ANY_PRINCIPAL)
    _until(mesh, {"garbage": "deadbeef"}, {"garbage": 200}, "policy removed: tokens not checked")
