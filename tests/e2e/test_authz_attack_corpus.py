"""The authorization attack corpus: raw HTTP requests against real Envoy configured by our
control plane, under every mesh ``pathNormalization`` mode, with 0 bypasses.

Setup (``lateen up`` in transparent mode, as root with iptables, and in explicit mode): two echo workloads with sidecars that answer every
request with what they received (method, raw path, headers) and log it with the request's
``x-corpus-id``; ``attacker``, a pod WITHOUT a sidecar that writes raw bytes on a socket (so
the request reaches the echo's sidecar unmodified, in plaintext: PERMISSIVE); ``prod`` and
``proddot``, sidecar clients with service accounts ``bookinfo-prod`` and ``bookinfo.prod``
(their requests go through their own sidecar and mTLS: captured in transparent mode, sent to
it as an HTTP proxy in absolute form in explicit mode); the ingress gateway for Host cases.

Policies (``POLICIES``): ``echo-deny`` DENYs ``/admin*`` and host ``admin.example.com``;
``echo-allow`` ALLOWs only ``/public*`` (anyone), ``/principal*`` for principals
``cluster.local/ns/default/sa/bookinfo.prod*`` and ``/jwt*`` for request principals of the
corpus issuer.

Each case is one row of ``CASES``: id, client, target, raw request bytes and the expected
outcome per mode: ``403`` (RBAC), ``401`` (jwt_authn), ``400``/``404`` (Envoy rejects), or
``200 <path>`` (the app received exactly ``<path>``). A bypass is a request expected to be
refused that the app received (its id is in the app's log), or a request that reached the app
with another path than the expected normalized one (the one authorization checked). The
summary table (case x mode -> outcome) is printed and kept in docs/security.md.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lateen.cli._common import fetch_admin_json
from lateen.testing.jwt import ISSUER, alg_none, claims, jwks_json, make_rsa_key, sign, tamper
from lateen.testing.localmesh import Mesh, container_log, mesh_up
from lateen.testing.procs import wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(1200),  # the first case runs the whole corpus (4 modes) in its setup
]

MODES = ("NONE", "BASE", "MERGE_SLASHES", "DECODE_AND_MERGE_SLASHES")

# -- the apps --------------------------------------------------------------------------------

ECHO_APP = r'''
import json, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def handle_any(self):
        n = int(self.headers.get("content-length") or 0)
        if n:
            self.rfile.read(n)
        # the request-target as it came on the wire (http.server rewrites a leading "//")
        raw_target = self.raw_requestline.decode("latin-1").split(" ")[1]
        record = {"app": os.environ["APP"], "method": self.command, "path": raw_target,
                  "headers": [[k.lower(), v] for k, v in self.headers.items()]}
        line = json.dumps(record)
        print("CORPUS " + line, flush=True)
        body = line.encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = handle_any

    def log_message(self, *args):
        pass

ThreadingHTTPServer((os.environ.get("LISTEN_ADDRESS", "0.0.0.0"), 8080), Echo).serve_forever()
'''

# the sender: JSON [[id, host, port, base64 raw]] in argv[1] -> JSON {id: base64 response}
SEND = r'''
import base64, json, socket, sys
out = {}
for cid, host, port, raw in json.loads(sys.argv[1]):
    data = b""
    try:
        with socket.create_connection((host, port), timeout=5) as s:
            s.sendall(base64.b64decode(raw))
            s.settimeout(5)
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError as e:
        data = data or ("ERROR " + repr(e)).encode()
    out[cid] = base64.b64encode(data).decode()
print(json.dumps(out))
'''

SLEEP = 'import time\\nwhile True: time.sleep(3600)'


def _echo(name: str) -> str:
    return f"""
apiVersion: v1
kind: ServiceAccount
metadata: {{name: {name}}}
---
apiVersion: v1
kind: Service
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  selector: {{app: {name}}}
  ports: [{{name: http, port: 8000, targetPort: 8080}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 0
      serviceAccountName: {name}
      containers:
      - name: app
        command: ["python3", "echo.py"]
        env: [{{name: APP, value: {name}}}]
"""


def _client(name: str, sa: str, sidecar: bool) -> str:
    return f"""
apiVersion: v1
kind: ServiceAccount
metadata: {{name: {sa}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata:
      labels: {{app: {name}, sidecar.istio.io/inject: "{str(sidecar).lower()}"}}
    spec:
      terminationGracePeriodSeconds: 0
      serviceAccountName: {sa}
      containers:
      - name: client
        command: ["python3", "-c", "{SLEEP}"]
"""


GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: corpus-gateway}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: corpus}
spec:
  hosts: ["*"]
  gateways: [corpus-gateway]
  http:
  - route: [{destination: {host: echo-deny, port: {number: 8000}}}]
"""

POLICIES = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin}
spec:
  selector: {matchLabels: {app: echo-deny}}
  action: DENY
  rules:
  - to: [{operation: {paths: ["/admin*"]}}]
  - to: [{operation: {hosts: ["admin.example.com"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-some}
spec:
  selector: {matchLabels: {app: echo-allow}}
  action: ALLOW
  rules:
  - to: [{operation: {paths: ["/public*"]}}]
  - from: [{source: {principals: ["cluster.local/ns/default/sa/bookinfo.prod*"]}}]
    to: [{operation: {paths: ["/principal*"]}}]
  - from: [{source: {requestPrincipals: ["*"]}}]
    to: [{operation: {paths: ["/jwt*"]}}]
"""

KEY = make_rsa_key("corpus-rsa")
OTHER_KEY = make_rsa_key("corpus-other")  # in no key set
UNREACHABLE_ISSUER = "unreachable@corpus.example.com"  # its jwksUri cannot be fetched


def _request_authn() -> str:
    rules = [{"issuer": ISSUER, "audiences": ["corpus"], "jwks": jwks_json(KEY)},
             {"issuer": UNREACHABLE_ISSUER, "jwksUri": "http://127.0.0.1:1/jwks.json"}]  # fmt: skip
    ra = {"apiVersion": "security.istio.io/v1", "kind": "RequestAuthentication",
          "metadata": {"name": "corpus-jwt"},
          "spec": {"selector": {"matchLabels": {"app": "echo-allow"}}, "jwtRules": rules}}  # fmt: skip
    return json.dumps(ra)


def _bearer(token: str) -> str:
    return f"Authorization: Bearer {token}\r\n"


VALID = sign(KEY, claims(ISSUER, audience="corpus"))
TOKENS = {
    "valid": VALID,
    "unknown-issuer": sign(KEY, claims("evil@corpus.example.com", audience="corpus")),
    "expired": sign(KEY, claims(ISSUER, audience="corpus", expires_in=-600)),
    "wrong-audience": sign(KEY, claims(ISSUER, audience="other")),
    "alg-none": alg_none(claims(ISSUER, audience="corpus")),
    "tampered": tamper(VALID, sub="admin@corpus.example.com"),
    "wrong-key": sign(OTHER_KEY, claims(ISSUER, audience="corpus"), header={"kid": KEY.kid}),
    "jwks-unreachable": sign(KEY, claims(UNREACHABLE_ISSUER)),
}

MESH_CM = """
apiVersion: v1
kind: ConfigMap
metadata: {{name: istio, namespace: istio-system}}
data:
  mesh: |
    accessLogFile: /dev/stdout
    pathNormalization: {{normalization: {mode}}}
"""

# -- the corpus ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One row: ``raw`` is sent as is (``{host}`` is the target's Host, ``{id}`` the
    request's id header value); ``expect`` maps every mode to ``403``/``401``/``400``/``404``
    or ``200 <path the app must receive>``."""

    id: str
    raw: str
    expect: dict[str, str]
    target: str = "echo-deny"  # echo-deny | echo-allow | gateway
    client: str = "attacker"  # attacker (no sidecar) | prod | proddot (sidecar clients) | host
    needs: str = "authz"  # what the case exercises: "" (normalization only) | "authz" | "jwt"
    note: str = ""
    forbidden_headers: tuple[tuple[str, str], ...] = field(default=())  # must not reach the app


def per_mode(none: str, base: str | None = None, merge: str | None = None, decode: str | None = None) -> dict[str, str]:
    """Expected outcome per mode; a mode left out is like the previous one."""
    base = none if base is None else base
    merge = base if merge is None else merge
    decode = merge if decode is None else decode
    return {"NONE": none, "BASE": base, "MERGE_SLASHES": merge, "DECODE_AND_MERGE_SLASHES": decode}


def get(path: str, host: str = "{host}", extra: str = "") -> str:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nx-corpus-id: {{id}}\r\n{extra}Connection: close\r\n\r\n"


DENY = per_mode("403")

CASES: list[Case] = [
    # controls: the policy denies what it names, allows the rest
    Case("admin", get("/admin"), DENY),
    Case("public", get("/public/x"), per_mode("200 /public/x"), needs=""),
    Case("admin-sub", get("/admin/users"), DENY),
    # slashes
    Case("double-slash", get("//admin"), per_mode("200 //admin", "200 //admin", "403"),
         note="BASE keeps `//`: the app gets the path RBAC checked; use MERGE_SLASHES if the app merges"),
    Case("trailing-slash", get("/admin/"), DENY),
    Case("encoded-slash-dotdot", get("/admin%2F.."), per_mode("403", "403", "403", "200 /")),
    # encodings and dot segments
    Case("encoded-a", get("/%61dmin"), per_mode("200 /%61dmin", "403")),
    Case("dot-segment", get("/./admin"), per_mode("200 /./admin", "403")),
    Case("dotdot", get("/public/../admin"), per_mode("200 /public/../admin", "403")),
    Case("encoded-dotdot", get("/public/%2e%2e/admin"), per_mode("200 /public/%2e%2e/admin", "403")),
    Case("encoded-slashes-dotdot", get("/public%2F..%2Fadmin"),
         per_mode("200 /public%2F..%2Fadmin", decode="403")),
    Case("dotdot-encoded-slash", get("/public/..%2Fadmin"), per_mode("200 /public/..%2Fadmin", decode="403")),
    Case("backslash", get("\\admin"), per_mode("400"), note="Envoy's codec refuses a target without a leading /"),
    Case("backslash-inner", get("/public\\..\\admin"), per_mode("200 /public\\..\\admin", "403")),
    Case("dotdot-root", get("/../admin"), per_mode("200 /../admin", "403")),
    Case("double-encoded", get("/%2561dmin"), per_mode("200 /%2561dmin")),
    # fragments, queries, parameters, case
    Case("fragment", get("/admin#x"), DENY),
    Case("fragment-hides", get("/public#/../admin"), per_mode("200 /public")),
    Case("query", get("/admin?x=1"), DENY),
    Case("query-slash", get("/public?/admin"), per_mode("200 /public?/admin")),
    Case("path-param", get("/admin;x=1"), DENY),
    Case("upper-case", get("/ADMIN"), per_mode("200 /ADMIN"),
         note="Istio paths are case-sensitive (exact/prefix/suffix string match)"),
    Case("absolute-form", "GET http://echo-deny/admin HTTP/1.1\r\nHost: echo-deny\r\nx-corpus-id: {id}\r\nConnection: close\r\n\r\n", DENY),
    # hosts
    Case("host", get("/x", host="admin.example.com"), DENY),
    Case("host-case", get("/x", host="ADMIN.example.com"), DENY),
    Case("host-port", get("/x", host="admin.example.com:8000"), DENY),
    Case("host-trailing-dot", get("/x", host="admin.example.com."), DENY,
         note="a fully qualified name with its root dot is the same host"),
    Case("host-duplicate", "GET /x HTTP/1.1\r\nHost: other.example.com\r\nHost: admin.example.com\r\nx-corpus-id: {id}\r\nConnection: close\r\n\r\n", DENY,
         note="Envoy joins both Hosts into `other.example.com,admin.example.com`"),
    Case("gateway-host", get("/x", host="admin.example.com"), DENY, target="gateway", client="host"),
    Case("gateway-host-case", get("/x", host="Admin.Example.COM:80"), DENY, target="gateway", client="host"),
    Case("gateway-path", get("/public/../admin"), per_mode("200 /public/../admin", "403"), target="gateway", client="host"),
    # ALLOW only /public*: a request that does not match is denied
    Case("allow-public", get("/public/a"), per_mode("200 /public/a"), target="echo-allow"),
    Case("allow-other", get("/private"), DENY, target="echo-allow"),
    Case("allow-dotdot", get("/public/../private"), per_mode("200 /public/../private", "403"), target="echo-allow",
         note="NONE authorizes the raw path: the app gets it unnormalized, as in Istio"),
    Case("allow-upper", get("/PUBLIC"), DENY, target="echo-allow"),
    # principals (mTLS identity), XFCC
    Case("principal-plaintext", get("/principal"), DENY, target="echo-allow"),
    Case("principal-forged-xfcc", get("/principal", extra="x-forwarded-client-cert: By=spiffe://cluster.local/ns/default/sa/echo-allow;URI=spiffe://cluster.local/ns/default/sa/bookinfo.prod\r\n"),
         DENY, target="echo-allow"),
    Case("xfcc-stripped", get("/public/xfcc", extra="x-forwarded-client-cert: URI=spiffe://cluster.local/ns/default/sa/bookinfo.prod\r\n"),
         per_mode("200 /public/xfcc"), target="echo-allow", needs="",
         forbidden_headers=(("x-forwarded-client-cert", "URI=spiffe://cluster.local/ns/default/sa/bookinfo.prod"),)),
    Case("principal-prefix", get("/principal"), per_mode("200 /principal"), target="echo-allow", client="proddot"),
    Case("principal-regex-dot", get("/principal"), DENY, target="echo-allow", client="prod",
         note="bookinfo-prod must not match bookinfo.prod* (no regex metacharacters)"),
    Case("principal-mtls-xfcc", get("/principal/xfcc", extra="x-forwarded-client-cert: URI=spiffe://cluster.local/ns/default/sa/forged\r\n"),
         per_mode("200 /principal/xfcc"), target="echo-allow", client="proddot",
         forbidden_headers=(("x-forwarded-client-cert", "sa/forged"),)),
    # JWT (RequestAuthentication on echo-allow; /jwt* needs a request principal)
    Case("jwt-valid", get("/jwt", extra=_bearer(TOKENS["valid"])), per_mode("200 /jwt"), target="echo-allow", needs="jwt"),
    Case("jwt-missing", get("/jwt"), DENY, target="echo-allow", needs="jwt"),
    *[Case(f"jwt-{name}", get("/jwt", extra=_bearer(TOKENS[name])), per_mode("401"), target="echo-allow", needs="jwt")
      for name in ("unknown-issuer", "expired", "alg-none", "tampered", "wrong-key", "jwks-unreachable")],
    Case("jwt-wrong-audience", get("/jwt", extra=_bearer(TOKENS["wrong-audience"])), DENY, target="echo-allow",
         needs="jwt", note="Envoy's jwt_authn answers an audience mismatch with 403, as in Istio"),
    Case("jwt-valid-dotdot", get("/jwt/../admin", extra=_bearer(TOKENS["valid"])),
         per_mode("200 /jwt/../admin", "403"), target="echo-allow", needs="jwt"),
    Case("jwt-bad-in-query", get(f"/public/q?access_token={TOKENS['expired']}"), per_mode("401"), target="echo-allow",
         needs="jwt", note="Istio reads tokens from the access_token query parameter too"),
]


def _summary_outcome(result: dict[str, Any]) -> str:
    verdict = "ok" if not result["problems"] else "BYPASS"
    return f"{result['observed']} ({verdict})"


# -- running it ------------------------------------------------------------------------------


@dataclass
class Corpus:
    mesh: Mesh
    results: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # mode -> id -> result


def _pods(mesh: Mesh) -> dict[str, dict[str, Any]]:
    """Pod by app prefix (one ``lateen status``)."""
    pods = mesh.status()["pods"]
    return {p: next(x for x in pods if x["name"].startswith(p)) for p in (*PROXIES, "attacker")}


def _net_modes() -> list[str]:
    """transparent (as root with iptables) and explicit."""
    return ["transparent", "explicit"] if os.geteuid() == 0 and shutil.which("iptables") else ["explicit"]


def _hcm_modes(dump: Any) -> set[tuple[bool, bool, str]]:
    found: set[tuple[bool, bool, str]] = set()

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            if str(x.get("@type", "")).endswith("HttpConnectionManager"):
                found.add((bool(x.get("normalize_path", False)), bool(x.get("merge_slashes", False)),
                           str(x.get("path_with_escaped_slashes_action", ""))))  # fmt: skip
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(dump)
    return found


EXPECTED_HCM = {
    "NONE": (False, False, "KEEP_UNCHANGED"),
    "BASE": (True, False, "KEEP_UNCHANGED"),
    "MERGE_SLASHES": (True, True, "KEEP_UNCHANGED"),
    "DECODE_AND_MERGE_SLASHES": (True, True, "UNESCAPE_AND_FORWARD"),
}
PROXIES = ("echo-deny", "echo-allow", "prod", "proddot", "istio-ingressgateway")


def _switch_mode(mesh: Mesh, mode: str) -> None:
    """Apply the mesh ConfigMap and wait until every proxy's config_dump shows the mode."""
    mesh.lateen("apply", "-f", "-", stdin=MESH_CM.format(mode=mode))

    pods = _pods(mesh)

    def converged() -> bool:
        for prefix in PROXIES:
            dump = fetch_admin_json(pods[prefix], "/config_dump?resource=dynamic_listeners")
            if _hcm_modes(dump) != {EXPECTED_HCM[mode]}:
                return False
        return True

    wait_for(converged, timeout=60, interval=0.5, what=f"every proxy's listeners in mode {mode}")


def _target(pods: dict[str, dict[str, Any]], case: Case, mesh: Mesh) -> tuple[str, int, str, str]:
    """(address, port, Host, request-target prefix) the client sends to."""
    if case.target == "gateway":  # the published ingress port, from this host
        return "127.0.0.1", mesh.port, "echo.example.com", ""
    if case.client == "attacker":  # straight at the pod: its sidecar's inbound side
        return str(pods[case.target]["ip"]), 8080, case.target, ""
    if mesh.mode == "explicit":  # the client's sidecar is its HTTP proxy: absolute-form
        authority = f"{case.target}:8000"
        return str(pods[case.client]["ip"]), 15001, authority, f"http://{authority}"
    return case.target, 8000, case.target, ""  # captured by the client's sidecar (mTLS)


def _send(mesh: Mesh, client: str, batch: list[list[Any]]) -> dict[str, bytes]:
    if client == "host":
        proc = subprocess.run([sys.executable, "-c", SEND, json.dumps(batch)], capture_output=True,
                              text=True, timeout=300, check=True)  # fmt: skip
        stdout = proc.stdout
    else:
        stdout = mesh.lateen("exec", f"deploy/{client}", "--", sys.executable, "-c", SEND, json.dumps(batch)).stdout
    return {k: base64.b64decode(v) for k, v in json.loads(stdout).items()}


def _parse(resp: bytes) -> tuple[int, bytes]:
    head, _, body = resp.partition(b"\r\n\r\n")
    parts = head.split(b" ", 2)
    try:
        return int(parts[1]), body
    except (IndexError, ValueError):
        return 0, resp


def _app_records(pods: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every request the echo apps logged, by its x-corpus-id."""
    out: dict[str, dict[str, Any]] = {}
    for app in ("echo-deny", "echo-allow"):
        for line in container_log(pods[app], "app").splitlines():
            if line.startswith("CORPUS "):
                rec = json.loads(line[7:])
                cid = next((v for k, v in rec["headers"] if k == "x-corpus-id"), "")
                out[cid] = rec
    return out


def _judge(case: Case, mode: str, status: int, body: bytes, record: dict[str, Any] | None) -> dict[str, Any]:
    expected = case.expect[mode]
    problems: list[str] = []
    observed = f"{status}"
    if record is not None:
        observed = f"{status} {record['path']}"
    want_code, _, want_path = expected.partition(" ")
    if want_code == "200":
        if record is None:
            problems.append(f"expected the app to receive {want_path!r}, got {status} {body[:120]!r}")
        elif record["path"] != want_path:
            problems.append(f"the app received {record['path']!r}, not the path authorized {want_path!r}")
        for name, needle in case.forbidden_headers:
            if record is not None and any(k == name and needle in v for k, v in record["headers"]):
                problems.append(f"header {name} with {needle!r} reached the app")
    else:
        if record is not None:
            problems.append(f"BYPASS: expected {want_code}, the app received {record['path']!r}")
        elif str(status) != want_code:
            problems.append(f"expected {want_code}, got {status} {body[:120]!r}")
    return {"expected": expected, "observed": observed, "problems": problems}


def _run_mode(corpus: Corpus, mode: str) -> None:
    mesh = corpus.mesh
    _switch_mode(mesh, mode)
    pods = _pods(mesh)
    batches: dict[str, list[list[Any]]] = {}
    for case in CASES:
        cid = f"{case.id}.{mode}"
        addr, port, host, absolute = _target(pods, case, mesh)
        raw_text = case.raw
        if absolute:
            method, _, rest = raw_text.partition(" ")
            raw_text = f"{method} {absolute}{rest}"
        raw = raw_text.replace("{host}", host).replace("{id}", cid).encode()
        batches.setdefault(case.client, []).append([cid, addr, port, base64.b64encode(raw).decode()])
    responses: dict[str, bytes] = {}
    for client, batch in batches.items():
        responses.update(_send(mesh, client, batch))
    # a pooled upstream connection closed by the listener update of the mode switch answers
    # 503 (reset): such requests are sent once more, with the same id, so a first attempt
    # that reached the app is still judged from the app's log
    for client, batch in batches.items():
        again = [b for b in batch if _parse(responses[b[0]])[0] in (0, 503)]
        if again:
            time.sleep(1)
            responses.update(_send(mesh, client, again))
    time.sleep(0.5)  # the app's log is written before it answers; this is only for slow pipes
    records = _app_records(pods)
    results: dict[str, dict[str, Any]] = {}
    for case in CASES:
        cid = f"{case.id}.{mode}"
        status, body = _parse(responses[cid])
        results[case.id] = _judge(case, mode, status, body, records.get(cid))
    corpus.results[mode] = results


def _has_rbac(mesh: Mesh) -> bool:
    dump = fetch_admin_json(mesh.pod("echo-deny"), "/config_dump?resource=dynamic_listeners")
    return "envoy.filters.http.rbac" in json.dumps(dump)


@pytest.fixture(scope="module", params=_net_modes())
def corpus(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    src = tmp_path_factory.mktemp("corpus-src")
    (src / "echo.py").write_text(textwrap.dedent(ECHO_APP))
    manifests = [_echo("echo-deny"), _echo("echo-allow"), _client("attacker", "attacker", False),
                 _client("prod", "bookinfo-prod", True), _client("proddot", "bookinfo.prod", True), GATEWAY]  # fmt: skip
    (src / "corpus.yaml").write_text("\n---\n".join(manifests))
    with mesh_up(tmp_path_factory.mktemp("corpus") / ".lateen", src, request.param, timeout=150) as mesh:
        mesh.lateen("apply", "-f", "-", stdin=POLICIES)
        mesh.lateen("apply", "-f", "-", stdin=_request_authn())
        c = Corpus(mesh)
        wait_for(lambda: _has_rbac(mesh), timeout=30, interval=0.5, what="RBAC filter")
        yield c


@pytest.fixture(scope="module")
def results(corpus: Corpus, request: pytest.FixtureRequest) -> dict[str, dict[str, dict[str, Any]]]:
    try:
        for mode in MODES:
            _run_mode(corpus, mode)
    finally:
        _print_summary(corpus, request.config)
    return corpus.results


def summary_table(corpus: Corpus) -> str:
    lines = ["| case | request | " + " | ".join(MODES) + " |", "|---" * (len(MODES) + 2) + "|"]
    for case in CASES:
        first = case.raw.split("\r\n", 1)[0]
        if "Host:" in case.raw and "{host}" not in case.raw.split("\r\n")[1]:
            first += " Host: " + case.raw.split("\r\n")[1].removeprefix("Host: ")
        first = first if len(first) < 72 else first[:60] + "..."
        label = f"`{first.replace('|', '%7C')}`" + (f" ({case.client})" if case.client != "attacker" else "")
        if case.target == "gateway":
            label += " via gateway"
        cells = []
        for mode in MODES:
            r = corpus.results.get(mode, {}).get(case.id)
            cells.append("-" if r is None else _summary_outcome(r))
        lines.append(f"| {case.id} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _print_summary(corpus: Corpus, config: pytest.Config) -> None:
    """The table on the terminal (past output capture) and, with ``LATEEN_CORPUS_SUMMARY=FILE``,
    in ``FILE-<pod network mode>`` with every result as JSON next to it (``.json``)."""
    table = summary_table(corpus)
    if target := os.environ.get("LATEEN_CORPUS_SUMMARY"):
        Path(f"{target}-{corpus.mesh.mode}").write_text(table + "\n")
        Path(f"{target}-{corpus.mesh.mode}.json").write_text(json.dumps(corpus.results, indent=1))
    capture = config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(f"\n\nAuthorization attack corpus, {corpus.mesh.mode} mode (case x normalization -> outcome):\n{table}")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_corpus_case(results: dict[str, dict[str, dict[str, Any]]], corpus: Corpus, case: Case, mode: str) -> None:
    result = results[mode][case.id]
    assert not result["problems"], f"{case.id} under {mode}: {result['problems']}"


def test_corpus_is_big_enough() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)
    for case in CASES:
        assert set(case.expect) == set(MODES), case.id
