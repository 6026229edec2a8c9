"""Istio's secure-ingress task with ``credentialName`` (real Envoy, ``lateen up``): the
certificates are Kubernetes Secrets made with ``lateen create secret``, served by the control
plane over SDS (ADS) to the ingress gateway of their namespace.

* SIMPLE: ``GET /status/418`` over TLS with SNI httpbin.example.com -> 418, the Secret's cert;
* rotation: ``lateen delete secret`` + ``lateen create secret`` with a new certificate -> the
  new certificate is served, without restarting the gateway;
* MUTUAL from a ``generic`` Secret with its cacert: no client certificate -> the handshake
  fails; one signed by that CA -> 418;
* a Secret of another namespace is not served (the handshake fails);
* a client-forged ``x-forwarded-client-cert`` never reaches the app through the gateway
  (SANITIZE_SET), while the app's sidecar adds the gateway's real identity (APPEND_FORWARD);
* a proxy stream without the pod's token is refused the credential (logged);
* with Bookinfo, a frozen control plane (SIGSTOP; the CA lives in it) does not break
  established or new traffic.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import socket
import ssl
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lateen.testing.certs import Issued, issue, write_pem
from lateen.testing.localmesh import ROOT, Mesh, mesh_up
from lateen.testing.procs import free_port, wait_for

pytestmark = pytest.mark.e2e

GATEWAY_NS = "istio-system"
GATEWAY_SPIFFE = "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"
FORGED = "By=spiffe://cluster.local/ns/default/sa/forged;URI=spiffe://cluster.local/ns/default/sa/admin"

def _write(d: Path, name: str, issued: Issued) -> None:
    for f in write_pem(d, name, issued):
        f.chmod(stat.S_IRUSR | stat.S_IWUSR)  # only `lateen create` reads them


def _certs(d: Path) -> None:
    ca = issue("Lateen test CA", [], None, ca=True)
    client_ca = issue("Lateen test client CA", [], None, ca=True)
    _write(d, "ca", ca)
    _write(d, "client-ca", client_ca)
    _write(d, "httpbin", issue("httpbin", ["httpbin.example.com"], ca))
    _write(d, "httpbin-rotated", issue("httpbin-rotated", ["httpbin.example.com", "rotated.example.com"], ca))
    _write(d, "mtls", issue("mtls", ["httpbin-mtls.example.com"], ca))
    _write(d, "foreign", issue("foreign", ["foreign.example.com"], ca))
    _write(d, "client", issue("client.example.com", ["client.example.com"], client_ca, client=True))


def _server(name: str, host: str, mode: str, credential: str) -> dict[str, Any]:
    return {
        "port": {"number": 8443, "name": name, "protocol": "HTTPS"},
        "hosts": [host],
        "tls": {"mode": mode, "credentialName": credential},
    }


def _docs() -> list[dict[str, Any]]:
    hosts = ["httpbin.example.com", "httpbin-mtls.example.com", "foreign.example.com"]
    return [
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "httpbin-gateway"},
            "spec": {
                "selector": {"istio": "ingressgateway"},
                "servers": [
                    {"port": {"number": 8080, "name": "http", "protocol": "HTTP"},
                     "hosts": ["httpbin.example.com"]},
                    _server("https", "httpbin.example.com", "SIMPLE", "httpbin-credential"),
                    _server("https-mtls", "httpbin-mtls.example.com", "MUTUAL", "mtls-credential"),
                    _server("https-foreign", "foreign.example.com", "SIMPLE", "foreign-credential"),
                ],
            },
        },
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "httpbin"},
            "spec": {
                "hosts": hosts,
                "gateways": ["httpbin-gateway"],
                "http": [
                    {
                        "match": [{"uri": {"prefix": "/status"}}, {"uri": {"prefix": "/headers"}}],
                        "route": [{"destination": {"host": "httpbin", "port": {"number": 8000}}}],
                    }
                ],
            },
        },
    ]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("secure-ingress-certs")
    _certs(d)
    return d


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory, certs: Path) -> Iterator[Mesh]:
    src = tmp_path_factory.mktemp("secure-ingress-src")
    (src / "app.yaml").write_text("\n---\n".join(json.dumps(d) for d in _docs()))
    httpbin = ROOT / "samples" / "httpbin" / "httpbin.yaml"
    (src / "kustomization.yaml").write_text(f"resources:\n- {httpbin}\n- app.yaml\n")
    tls_port = free_port()
    with mesh_up(tmp_path_factory.mktemp("secure-ingress") / ".lateen", src, "transparent",
                 args=("--ingress-tls-port", str(tls_port))) as m:  # fmt: skip
        m.tls_port = tls_port  # type: ignore[attr-defined]
        c = str(certs)
        m.lateen("create", "secret", "tls", "httpbin-credential", "-n", GATEWAY_NS,
                 "--cert", f"{c}/httpbin.pem", "--key", f"{c}/httpbin-key.pem")  # fmt: skip
        m.lateen("create", "secret", "generic", "mtls-credential", "-n", GATEWAY_NS,
                 "--cert", f"{c}/mtls.pem", "--key", f"{c}/mtls-key.pem",
                 "--cacert", f"{c}/client-ca.pem")  # fmt: skip
        # the right name in the wrong namespace: the gateway (istio-system) may not have it
        m.lateen("create", "secret", "tls", "foreign-credential", "-n", "default",
                 "--cert", f"{c}/foreign.pem", "--key", f"{c}/foreign-key.pem")  # fmt: skip
        yield m


def _context(certs: Path, client: bool = False) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    if client:
        ctx.load_cert_chain(str(certs / "client.pem"), str(certs / "client-key.pem"))
    return ctx


def _https_get(port: int, host: str, path: str, ctx: ssl.SSLContext) -> tuple[int, str, Any]:
    """(status, body, server certificate); status 0 when the handshake (or the request)
    failed."""
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            ctx.wrap_socket(raw, server_hostname=host) as s,
        ):
            cert = s.getpeercert()
            s.sendall(request)
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    except (ssl.SSLError, ConnectionError, TimeoutError):
        return 0, "", None
    if not data:
        return 0, "", cert
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body.decode(errors="replace"), cert


def _sans(cert: Any) -> list[str]:
    return sorted(v for k, v in (cert or {}).get("subjectAltName", ()) if k == "DNS")


def _gateway_restarts(mesh: Mesh) -> int:
    pod = mesh.pod("istio-ingressgateway")
    return sum(int(c.get("restarts") or 0) for c in pod["containers"])


def test_simple_tls_from_a_tls_secret_returns_418(mesh: Mesh, certs: Path) -> None:
    port = mesh.tls_port  # type: ignore[attr-defined]
    wait_for(lambda: _https_get(port, "httpbin.example.com", "/status/418", _context(certs))[0] == 418,
             timeout=60, what="418 over TLS with the credential")  # fmt: skip
    status, body, cert = _https_get(port, "httpbin.example.com", "/status/418", _context(certs))
    assert status == 418, body
    assert _sans(cert) == ["httpbin.example.com"]


def test_rotating_the_secret_serves_the_new_certificate_without_restart(mesh: Mesh, certs: Path) -> None:
    port = mesh.tls_port  # type: ignore[attr-defined]
    host = "httpbin.example.com"
    wait_for(lambda: _https_get(port, host, "/status/418", _context(certs))[0] == 418, timeout=60,
             what="the first certificate")  # fmt: skip
    restarts = _gateway_restarts(mesh)
    mesh.lateen("delete", "secret", "httpbin-credential", "-n", GATEWAY_NS)
    mesh.lateen("create", "secret", "tls", "httpbin-credential", "-n", GATEWAY_NS,
                "--cert", f"{certs}/httpbin-rotated.pem", "--key", f"{certs}/httpbin-rotated-key.pem")  # fmt: skip
    wait_for(lambda: _sans(_https_get(port, host, "/status/418", _context(certs))[2])
             == ["httpbin.example.com", "rotated.example.com"], timeout=30, what="the rotated certificate")  # fmt: skip
    assert _https_get(port, host, "/status/418", _context(certs))[0] == 418
    assert _gateway_restarts(mesh) == restarts


def test_mutual_tls_from_a_generic_secret_with_its_cacert(mesh: Mesh, certs: Path) -> None:
    port = mesh.tls_port  # type: ignore[attr-defined]
    host = "httpbin-mtls.example.com"
    wait_for(lambda: _https_get(port, host, "/status/418", _context(certs, client=True))[0] == 418,
             timeout=60, what="418 with a client certificate")  # fmt: skip
    assert _https_get(port, host, "/status/418", _context(certs))[0] == 0  # no client cert


def test_a_secret_of_another_namespace_is_not_served(mesh: Mesh, certs: Path) -> None:
    port = mesh.tls_port  # type: ignore[attr-defined]
    # the other servers work (the listener is up), this one has no certificate
    wait_for(lambda: _https_get(port, "httpbin.example.com", "/status/418", _context(certs))[0] == 418,
             timeout=60, what="the listener")  # fmt: skip
    status, _, cert = _https_get(port, "foreign.example.com", "/status/418", _context(certs))
    assert (status, cert) == (0, None)
    assert "foreign-credential" in mesh.lateen("get", "secrets", "-n", "default").stdout


def test_secrets_are_listed_and_kept_in_private_files(mesh: Mesh) -> None:
    out = mesh.lateen("get", "secrets", "-n", GATEWAY_NS).stdout
    assert "httpbin-credential" in out and "kubernetes.io/tls" in out
    assert "mtls-credential" in out and "Opaque" in out
    files = list((mesh.state / "cluster").glob("Secret_*"))
    assert files
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert stat.S_IMODE((mesh.state / "config.json").stat().st_mode) == 0o600
    log = (mesh.state / "control-plane.log").read_text()
    assert "PRIVATE KEY" not in log


def test_a_bad_key_is_refused_naming_the_file(mesh: Mesh, certs: Path) -> None:
    proc = mesh.lateen("create", "secret", "tls", "bad", "-n", GATEWAY_NS,
                       "--cert", f"{certs}/httpbin.pem", "--key", f"{certs}/mtls-key.pem", check=False)  # fmt: skip
    assert proc.returncode == 1
    assert f"--key {certs}/mtls-key.pem: the private key does not match the certificate" in proc.stderr
    assert "PRIVATE KEY" not in proc.stderr + proc.stdout


def test_forged_xfcc_never_reaches_the_app_through_the_gateway(mesh: Mesh) -> None:
    def headers() -> dict[str, str]:
        conn = http.client.HTTPConnection("127.0.0.1", mesh.port, timeout=10)
        try:
            conn.request("GET", "/headers", headers={"Host": "httpbin.example.com",
                                                     "X-Forwarded-Client-Cert": FORGED})  # fmt: skip
            resp = conn.getresponse()
            body = resp.read().decode()
            assert resp.status == 200, body
        finally:
            conn.close()
        seen: dict[str, str] = json.loads(body)["headers"]
        return {k.lower(): v for k, v in seen.items()}

    wait_for(lambda: "x-forwarded-client-cert" in headers(), timeout=60, what="httpbin /headers")
    xfcc = headers()["x-forwarded-client-cert"]
    assert "forged" not in xfcc and "sa/admin" not in xfcc, xfcc
    # what the app's sidecar appends: the gateway's real (mTLS) identity
    assert f"URI={GATEWAY_SPIFFE}" in xfcc, xfcc


def test_a_stream_without_the_pods_token_gets_no_credential(mesh: Mesh) -> None:
    from lateen.testing.xds_client import XdsClient
    from lateen.xds.secret import SECRET_TYPE

    xds = mesh.status()["info"]["xds_address"]
    node = "router~198.18.250.9~impostor.istio-system~istio-system.svc.cluster.local"
    name = "kubernetes://httpbin-credential"

    async def ask() -> None:
        async with XdsClient(xds, node, {"NAMESPACE": GATEWAY_NS}) as client:
            await client.subscribe(SECRET_TYPE, [name])
            await client.expect_nothing(timeout=3)

    asyncio.run(ask())
    log = (mesh.state / "control-plane.log").read_text()
    assert f"sds {name!r} refused" in log and "not authenticated" in log


# -- the CA (control plane) frozen -------------------------------------------------------------


@pytest.fixture(scope="module")
def bookinfo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    with mesh_up(tmp_path_factory.mktemp("frozen-ca") / ".lateen", ROOT / "samples" / "bookinfo",
                 "explicit") as m:  # fmt: skip
        yield m


def test_a_stopped_ca_does_not_break_established_traffic(bookinfo: Mesh) -> None:
    wait_for(lambda: bookinfo.page()[0] == 200, timeout=60, what="the product page")
    pid = int(bookinfo.status()["control_plane"]["pid"])
    assert pid > 0
    kept = http.client.HTTPConnection("127.0.0.1", bookinfo.port, timeout=10)
    try:
        kept.request("GET", "/productpage")
        first = kept.getresponse()
        first.read()
        assert first.status == 200
        os.kill(pid, signal.SIGSTOP)  # the control plane and its CA stop answering
        try:
            for _ in range(5):
                assert bookinfo.page()[0] == 200  # new connections
                kept.request("GET", "/productpage")  # the established one
                resp = kept.getresponse()
                body = resp.read().decode()
                assert resp.status == 200
                assert "Error fetching product reviews" not in body
        finally:
            os.kill(pid, signal.SIGCONT)
    finally:
        kept.close()
    assert bookinfo.page()[0] == 200
