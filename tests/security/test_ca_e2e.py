"""End to end: ``lateen discovery --ca-dir`` (a real process) signs certificates for pods
holding runtime-issued tokens over TLS on its CA port, and real Envoy uses them for mTLS,
checking the client's SPIFFE id; the root survives a restart; the citadel metrics count."""

from __future__ import annotations

import asyncio
import http.client
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest

from lateen.security import (
    CertificateRequestError,
    TokenIssuer,
    new_key_and_csr,
    request_certificate,
)
from lateen.testing.procs import Processes, free_port, http_get, start_envoy, wait_for

pytestmark = pytest.mark.e2e

TD = "cluster.local"
SLEEP_ID = f"spiffe://{TD}/ns/default/sa/sleep"


def _discovery(procs: Processes, tmp: Path, ports: dict[str, int]) -> Any:
    return procs.python(
        "discovery", "-m", "lateen", "discovery", "--config-dir", str(tmp / "config"),
        "--xds-port", str(ports["xds"]), "--monitoring-port", str(ports["mon"]),
        "--ca-dir", str(tmp / "ca"), "--ca-port", str(ports["ca"]),
        "--ca-tokens", str(tmp / "state" / "ca-tokens.json"),
    )


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _issue(tmp: Path, root: str, port: int, token: str) -> tuple[Path, Path]:
    """An agent's part: make a key and CSR, get the chain, write both for Envoy."""
    key_pem, csr = new_key_and_csr("rsa", "spiffe://cluster.local/ns/istio-system/sa/istiod")
    chain = asyncio.run(request_certificate(f"127.0.0.1:{port}", root, token, csr))
    name = token[:8]
    key, crt = tmp / f"{name}.key", tmp / f"{name}.crt"
    key.write_bytes(key_pem)
    crt.write_text("".join(chain[:-1]))  # the leaf (and intermediates), not the root
    return key, crt


def _envoy_bootstrap(port: int, admin: int, key: Path, crt: Path, root: Path) -> dict[str, Any]:
    tls = {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
        "require_client_certificate": True,
        "common_tls_context": {
            "tls_certificates": [{"certificate_chain": {"filename": str(crt)},
                                  "private_key": {"filename": str(key)}}],
            "validation_context": {
                "trusted_ca": {"filename": str(root)},
                "match_typed_subject_alt_names": [{"san_type": "URI", "matcher": {"exact": SLEEP_ID}}],
            },
        },
    }
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "in",
        "route_config": {"virtual_hosts": [{
            "name": "all", "domains": ["*"],
            "routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "ok"}}}],
            "response_headers_to_add": [{"header": {"key": "x-peer", "value": "%DOWNSTREAM_PEER_URI_SAN%"}}],
        }]},
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
    }
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        "static_resources": {"listeners": [{
            "name": "mtls",
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
            "filter_chains": [{
                "transport_socket": {"name": "envoy.transport_sockets.tls", "typed_config": tls},
                "filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}],
            }],
        }]},
    }


def _get(port: int, root: Path, cert: tuple[Path, Path] | None) -> tuple[int, str]:
    ctx = ssl.create_default_context(cafile=str(root))
    ctx.check_hostname = False  # the workload cert names a SPIFFE id, not a host
    if cert is not None:
        ctx.load_cert_chain(str(cert[1]), str(cert[0]))
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.getheader("x-peer") or ""
    finally:
        conn.close()


def test_discovery_ca_issues_certificates_envoy_accepts(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "ns.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n")
    ports = {"xds": free_port(), "mon": free_port(), "ca": free_port()}
    issuer = TokenIssuer(tmp_path / "state" / "ca-tokens.json")
    tokens = {name: issuer.issue("default", name, f"{name}-1") for name in ("httpbin", "sleep", "other")}
    with Processes(tmp_path) as procs:
        cp = _discovery(procs, tmp_path, ports)
        wait_for(lambda: _listening(ports["ca"]), 30, what=f"CA port\n{procs.log('discovery')}")
        root_file = tmp_path / "ca" / "root-cert.pem"
        root = root_file.read_text()
        # the CA refuses a token it did not issue
        with pytest.raises(CertificateRequestError, match="UNAUTHENTICATED"):
            _issue(tmp_path, root, ports["ca"], "forged-token")
        server = _issue(tmp_path, root, ports["ca"], tokens["httpbin"])
        client = _issue(tmp_path, root, ports["ca"], tokens["sleep"])
        other = _issue(tmp_path, root, ports["ca"], tokens["other"])
        mtls, admin = free_port(), free_port()
        start_envoy(procs, "envoy", _envoy_bootstrap(mtls, admin, *server, root_file), tmp_path)
        wait_for(lambda: _listening(mtls), 30, what=f"Envoy listener\n{procs.log('envoy')}")
        assert _get(mtls, root_file, client) == (200, SLEEP_ID)
        for who in (None, other):  # no client certificate; a certificate of another identity
            with pytest.raises((ssl.SSLError, ConnectionError)):
                _get(mtls, root_file, who)
        status, metrics = http_get(f"http://127.0.0.1:{ports['mon']}/metrics")
        assert status == 200
        assert "citadel_server_success_cert_issuance_count 3.0" in metrics
        assert "citadel_server_authentication_failure_count 1.0" in metrics
        # a restart keeps the root: certificates already issued stay valid
        procs.stop(cp)
        _discovery(procs, tmp_path, ports)
        wait_for(lambda: _listening(ports["ca"]), 30, what="CA port after restart")
        assert root_file.read_text() == root
        _issue(tmp_path, root, ports["ca"], tokens["sleep"])
