"""Istio's secure-ingress outcomes through the built-in ingress gateway (real Envoy,
``lateen up --mode transparent``), with certificates made by ``cryptography`` in the test:

* httpsRedirect: plain HTTP on 8080 gets a 301 to https;
* HTTPS SIMPLE: 418 from httpbin ``/status/418`` over TLS with SNI httpbin.example.com;
* HTTPS MUTUAL on the same port (another SNI name): no client certificate -> the handshake
  fails; with one signed by the client CA -> 418;
* TLS PASSTHROUGH on the same port: the app terminates TLS itself (its own certificate);
* a Gateway applied later for a host:port already served keeps nothing of it (first created
  wins, as Istio merges Gateways): the original certificate is still served while the later
  Gateway's other, non-conflicting server works, and the control plane logs the conflict."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lateen.testing.certs import issue, write_pem
from lateen.testing.localmesh import ROOT, Mesh, mesh_up
from lateen.testing.procs import free_port, wait_for

pytestmark = pytest.mark.e2e

TLS_ECHO = """
import os, socket, ssl, threading
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(os.environ["CERT"], os.environ["KEY"])
srv = socket.create_server(("0.0.0.0", 9443))
def serve(c):
    try:
        with ctx.wrap_socket(c, server_side=True) as s:
            s.sendall(b"tls-echo " + s.recv(1024))
    except OSError:
        pass
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


def _certs(d: Path) -> None:
    """ca (server CA), client-ca, httpbin (httpbin.example.com + httpbin-mtls), intruder (the
    later Gateway's certificate for the same host), tls-echo (the app's own), client."""
    ca = issue("Lateen test CA", [], None, ca=True)
    client_ca = issue("Lateen test client CA", [], None, ca=True)
    for name, c in (("ca", ca), ("client-ca", client_ca)):
        write_pem(d, name, c)
    write_pem(d, "httpbin", issue("httpbin", ["httpbin.example.com", "httpbin-mtls.example.com"], ca))
    write_pem(d, "intruder", issue("intruder", ["httpbin.example.com", "intruder.example.com"], ca))
    write_pem(d, "tls-echo", issue("tls-echo", ["tls-echo.example.com"], ca))
    write_pem(d, "client", issue("client.example.com", ["client.example.com"], client_ca, client=True))
    # the gateway's Envoy (uid 1337) and the app (uid 1000) read them
    d.chmod(0o755)
    for f in d.iterdir():
        f.chmod(stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)


def _docs(certs: Path) -> list[dict[str, Any]]:
    def simple(name: str, host: str, **tls: str) -> dict[str, Any]:
        return {
            "port": {"number": 8443, "name": name, "protocol": "HTTPS"},
            "hosts": [host],
            "tls": {
                "serverCertificate": str(certs / "httpbin.pem"),
                "privateKey": str(certs / "httpbin-key.pem"),
                **tls,
            },
        }

    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "tls-echo", "labels": {"app": "tls-echo"}},
            "spec": {"selector": {"app": "tls-echo"}, "ports": [{"name": "tls", "port": 9443}]},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "tls-echo"},
            "spec": {
                "selector": {"matchLabels": {"app": "tls-echo"}},
                "template": {
                    "metadata": {"labels": {"app": "tls-echo"}},
                    "spec": {
                        "terminationGracePeriodSeconds": 0,
                        "containers": [
                            {
                                "name": "tls-echo",
                                "command": ["python3", "-c", TLS_ECHO],
                                "env": [
                                    {"name": "CERT", "value": str(certs / "tls-echo.pem")},
                                    {"name": "KEY", "value": str(certs / "tls-echo-key.pem")},
                                ],
                            }
                        ],
                    },
                },
            },
        },
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "httpbin-gateway"},
            "spec": {
                "selector": {"istio": "ingressgateway"},
                "servers": [
                    {
                        "port": {"number": 8080, "name": "http", "protocol": "HTTP"},
                        "hosts": ["httpbin.example.com"],
                        "tls": {"httpsRedirect": True},
                    },
                    simple("https", "httpbin.example.com", mode="SIMPLE"),
                    simple(
                        "https-mtls",
                        "httpbin-mtls.example.com",
                        mode="MUTUAL",
                        caCertificates=str(certs / "client-ca.pem"),
                    ),
                    {
                        "port": {"number": 8443, "name": "tls", "protocol": "TLS"},
                        "hosts": ["tls-echo.example.com"],
                        "tls": {"mode": "PASSTHROUGH"},
                    },
                ],
            },
        },
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "httpbin"},
            "spec": {
                "hosts": ["httpbin.example.com", "httpbin-mtls.example.com"],
                "gateways": ["httpbin-gateway"],
                "http": [
                    {
                        "match": [{"uri": {"prefix": "/status"}}],
                        "route": [{"destination": {"host": "httpbin", "port": {"number": 8000}}}],
                    }
                ],
            },
        },
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "tls-echo"},
            "spec": {
                "hosts": ["tls-echo.example.com"],
                "gateways": ["httpbin-gateway"],
                "tls": [
                    {
                        "match": [{"sniHosts": ["tls-echo.example.com"], "port": 8443}],
                        "route": [{"destination": {"host": "tls-echo", "port": {"number": 9443}}}],
                    }
                ],
            },
        },
    ]


def _intruder(certs: Path) -> list[dict[str, Any]]:
    """A later Gateway: the same host:port as httpbin-gateway (dropped) and a new host."""
    tls = {
        "mode": "SIMPLE",
        "serverCertificate": str(certs / "intruder.pem"),
        "privateKey": str(certs / "intruder-key.pem"),
    }
    return [
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "intruder"},
            "spec": {
                "selector": {"istio": "ingressgateway"},
                "servers": [
                    {
                        "port": {"number": 8443, "name": "https", "protocol": "HTTPS"},
                        "hosts": ["httpbin.example.com"],
                        "tls": tls,
                    },
                    {
                        "port": {"number": 8443, "name": "https-new", "protocol": "HTTPS"},
                        "hosts": ["intruder.example.com"],
                        "tls": tls,
                    },
                ],
            },
        },
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "intruder"},
            "spec": {
                "hosts": ["httpbin.example.com", "intruder.example.com"],
                "gateways": ["intruder"],
                "http": [{"directResponse": {"status": 200, "body": {"string": "intruder"}}}],
            },
        },
    ]


@pytest.fixture(scope="module")
def certs() -> Iterator[Path]:
    # not under pytest's tmp dir (mode 0700, owned by root): uid 1337 and 1000 read these
    d = Path(tempfile.mkdtemp(prefix="lateen-gw-certs-"))
    try:
        _certs(d)
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory, certs: Path) -> Iterator[Mesh]:
    src = tmp_path_factory.mktemp("gateway-src")
    (src / "app.yaml").write_text("\n---\n".join(json.dumps(d) for d in _docs(certs)))
    httpbin = ROOT / "samples" / "httpbin" / "httpbin.yaml"
    (src / "kustomization.yaml").write_text(f"resources:\n- {httpbin}\n- app.yaml\n")
    tls_port = free_port()
    with mesh_up(tmp_path_factory.mktemp("gateway") / ".lateen", src, "transparent",
                 args=("--ingress-tls-port", str(tls_port))) as m:  # fmt: skip
        m.tls_port = tls_port  # type: ignore[attr-defined]
        yield m


def _context(certs: Path, client: bool = False) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    if client:
        ctx.load_cert_chain(str(certs / "client.pem"), str(certs / "client-key.pem"))
    return ctx


def _tls_exchange(port: int, sni: str, ctx: ssl.SSLContext, payload: bytes) -> tuple[bytes, Any]:
    """Send ``payload`` over TLS with SNI ``sni``: (everything read, the server certificate).
    A failed handshake or a connection the server ends without answering reads b""."""
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            ctx.wrap_socket(raw, server_hostname=sni) as s,
        ):
            cert = s.getpeercert()
            s.sendall(payload)
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            return data, cert
    except (ssl.SSLError, ConnectionError, TimeoutError):
        return b"", None


def _https_get(port: int, host: str, path: str, ctx: ssl.SSLContext) -> tuple[int, str, Any]:
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    data, cert = _tls_exchange(port, host, ctx, request)
    if not data:
        return 0, "", cert
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body.decode(errors="replace"), cert


def _http_get(port: int, host: str, path: str) -> tuple[int, dict[str, str]]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    lines = data.partition(b"\r\n\r\n")[0].decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split(" ", 2)[1]), {k.lower(): v for k, v in headers.items()}


def _san(cert: Any) -> list[str]:
    return sorted(v for k, v in cert.get("subjectAltName", ()) if k == "DNS")


def test_https_redirect_on_the_http_port(mesh: Mesh) -> None:
    status, headers = _http_get(mesh.port, "httpbin.example.com", "/status/200")
    assert status == 301
    assert headers["location"] == "https://httpbin.example.com/status/200"
    # a host no server of the port accepts
    assert _http_get(mesh.port, "other.example.com", "/status/200")[0] == 404


def test_simple_tls_termination_returns_418(mesh: Mesh, certs: Path) -> None:
    port = mesh.tls_port  # type: ignore[attr-defined]
    status, body, cert = _https_get(port, "httpbin.example.com", "/status/418", _context(certs))
    assert status == 418, body
    assert "teapot" in body.lower() or "-=[" in body  # httpbin's teapot
    assert _san(cert) == ["httpbin-mtls.example.com", "httpbin.example.com"]


def test_mutual_tls_requires_a_client_certificate(mesh: Mesh, certs: Path) -> None:
    port = mesh.tls_port  # type: ignore[attr-defined]
    host = "httpbin-mtls.example.com"
    assert _https_get(port, host, "/status/418", _context(certs))[0] == 0
    status, body, _ = _https_get(port, host, "/status/418", _context(certs, client=True))
    assert status == 418, body


def test_tls_passthrough_reaches_the_app_that_terminates_tls(mesh: Mesh, certs: Path) -> None:
    port = mesh.tls_port  # type: ignore[attr-defined]
    data, cert = _tls_exchange(port, "tls-echo.example.com", _context(certs), b"hello\n")
    assert data == b"tls-echo hello\n"
    assert _san(cert) == ["tls-echo.example.com"]  # the app's certificate, not the gateway's


def test_a_later_gateway_does_not_take_over_a_served_host(mesh: Mesh, certs: Path) -> None:
    port = mesh.tls_port  # type: ignore[attr-defined]
    mesh.lateen("apply", "-f", "-", stdin="\n---\n".join(json.dumps(d) for d in _intruder(certs)))
    # its non-conflicting server is in force: the config was pushed
    wait_for(
        lambda: _https_get(port, "intruder.example.com", "/", _context(certs))[:2]
        == (200, "intruder"),
        timeout=20,
        what="the later Gateway's new host",
    )
    status, _, cert = _https_get(port, "httpbin.example.com", "/status/418", _context(certs))
    assert status == 418
    assert _san(cert) == ["httpbin-mtls.example.com", "httpbin.example.com"]
    log = (mesh.state / "control-plane.log").read_text()
    assert "gateway default/intruder: duplicate host names ['httpbin.example.com']" in log
