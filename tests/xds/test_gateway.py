"""Gateway merging (Istio's MergeGateways), route names, host forms and the downstream TLS
context of a server, as tables; the generated listeners/routes are in the 09 and 9N goldens."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lateen.api import load_yaml
from lateen.model import build_push_context, gateway_route_name, merge_gateways
from lateen.testing.golden import message_to_data
from lateen.xds.listener._gateway import downstream_tls_context

CERT = {"serverCertificate": "/certs/cert.pem", "privateKey": "/certs/key.pem"}


def _ads_secret(name: str) -> dict[str, Any]:
    return {"name": name, "sds_config": {"ads": {}, "resource_api_version": "V3"}}


def _gateways(*specs: tuple[str, list[dict[str, Any]]]) -> list[Any]:
    """Gateways created in the order given, each ``(name, servers)``, in namespace ``gw``."""
    docs = []
    for i, (name, servers) in enumerate(specs):
        docs.append(
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "Gateway",
                "metadata": {
                    "name": name,
                    "namespace": "gw",
                    "creationTimestamp": f"2025-01-0{i + 1}T00:00:00Z",
                },
                "spec": {"selector": {"istio": "ingressgateway"}, "servers": servers},
            }
        )
    result = load_yaml("\n---\n".join(json.dumps(d) for d in docs), "test")
    assert not result.errors, result.errors
    push = build_push_context(result.objects)
    return list(push.gateways)  # Istio's order: creation time, then namespace/name


def _http(port: int, hosts: list[str], name: str = "http", **tls: Any) -> dict[str, Any]:
    s: dict[str, Any] = {"port": {"number": port, "name": name, "protocol": "HTTP"}, "hosts": hosts}
    if tls:
        s["tls"] = tls
    return s


def _https(
    port: int, hosts: list[str], name: str = "https", mode: str = "SIMPLE"
) -> dict[str, Any]:
    tls: dict[str, Any] = {"mode": mode}
    if mode not in ("PASSTHROUGH", "AUTO_PASSTHROUGH"):
        tls.update(CERT)
    return {"port": {"number": port, "name": name, "protocol": "HTTPS"}, "hosts": hosts, "tls": tls}


def _tcp(port: int, name: str = "tcp") -> dict[str, Any]:
    return {"port": {"number": port, "name": name, "protocol": "TCP"}, "hosts": ["*"]}


def _tls(port: int, hosts: list[str], name: str = "tls") -> dict[str, Any]:
    return {
        "port": {"number": port, "name": name, "protocol": "TLS"},
        "hosts": hosts,
        "tls": {"mode": "PASSTHROUGH"},
    }


# (gateways, kept as {port: [(gateway name, port name)]}, dropped as [(gateway, index, port)])
MERGE_CASES: list[
    tuple[
        str,
        list[tuple[str, list[dict[str, Any]]]],
        dict[int, list[str]],
        list[tuple[str, int, int]],
    ]
] = [
    (
        "http-servers-merge",
        [("a", [_http(80, ["a.example.com"])]), ("b", [_http(80, ["b.example.com"])])],
        {80: ["a/http", "b/http"]},
        [],
    ),
    (
        "same-http-host-merges",
        [("a", [_http(80, ["a.example.com"])]), ("b", [_http(80, ["a.example.com"])])],
        {80: ["a/http", "b/http"]},
        [],
    ),
    (
        "https-on-http-port-dropped",
        [("a", [_http(80, ["*"])]), ("b", [_https(80, ["b.example.com"])])],
        {80: ["a/http"]},
        [("gw/b", 0, 80)],
    ),
    (
        "http-on-https-port-dropped",
        [("a", [_https(443, ["a.example.com"])]), ("b", [_http(443, ["b.example.com"])])],
        {443: ["a/https"]},
        [("gw/b", 0, 443)],
    ),
    (
        "same-https-host-first-wins",
        [("a", [_https(443, ["a.example.com"])]), ("b", [_https(443, ["a.example.com"])])],
        {443: ["a/https"]},
        [("gw/b", 0, 443)],
    ),
    (
        "https-hosts-by-sni",
        [("a", [_https(443, ["a.example.com"])]), ("b", [_https(443, ["b.example.com"])])],
        {443: ["a/https", "b/https"]},
        [],
    ),
    (
        "https-and-passthrough-share-port",
        [("a", [_https(443, ["a.example.com"]), _tls(443, ["t.example.com"])])],
        {443: ["a/https", "a/tls"]},
        [],
    ),
    (
        "second-tcp-dropped",
        [("a", [_tcp(31400)]), ("b", [_tcp(31400), _tcp(31401, "tcp-2")])],
        {31400: ["a/tcp"], 31401: ["b/tcp-2"]},
        [("gw/b", 0, 31400)],
    ),
    (
        "tcp-on-tls-port-dropped",
        [("a", [_tls(443, ["t.example.com"])]), ("b", [_tcp(443)])],
        {443: ["a/tls"]},
        [("gw/b", 0, 443)],
    ),
    (
        "redirect-host-duplicate-on-port",
        [
            ("a", [_http(80, ["a.example.com"], httpsRedirect=True)]),
            ("b", [_http(80, ["a.example.com"], httpsRedirect=True)]),
        ],
        {80: ["a/http"]},
        [("gw/b", 0, 80)],
    ),
    (
        "ns-host-forms-compared-sanitized",
        [("a", [_https(443, ["./a.example.com"])]), ("b", [_https(443, ["gw/a.example.com"])])],
        {443: ["a/https"]},
        [("gw/b", 0, 443)],
    ),
]


@pytest.mark.parametrize(
    ("specs", "kept", "dropped"),
    [c[1:] for c in MERGE_CASES],
    ids=[c[0] for c in MERGE_CASES],
)
def test_merge_gateways(
    specs: list[tuple[str, list[dict[str, Any]]]],
    kept: dict[int, list[str]],
    dropped: list[tuple[str, int, int]],
) -> None:
    merged = merge_gateways(_gateways(*specs))
    got = {
        port: [f"{s.gateway.split('/')[1]}/{s.port_name}" for s in servers]
        for port, servers in merged.servers.items()
    }
    assert got == kept
    assert [(c.gateway, c.server_index, c.port) for c in merged.conflicts] == dropped
    assert all(c.message().startswith("skipping server") for c in merged.conflicts)


ROUTE_NAME_CASES = [
    ("http", _http(8080, ["*"]), "http.8080"),
    ("http-redirect", _http(8080, ["*"], httpsRedirect=True), "http.8080"),
    ("https-simple", _https(8443, ["*"], "https-x"), "https.8443.https-x.gw1.ns1"),
    ("https-passthrough", _https(8443, ["*"], mode="PASSTHROUGH"), ""),
    ("tls-passthrough", _tls(8443, ["*"]), ""),
    ("tcp", _tcp(31400), ""),
]


@pytest.mark.parametrize(
    ("server", "expected"),
    [c[1:] for c in ROUTE_NAME_CASES],
    ids=[c[0] for c in ROUTE_NAME_CASES],
)
def test_gateway_route_name(server: dict[str, Any], expected: str) -> None:
    gw = _gateways(("gw1", [server]))[0]
    assert gateway_route_name(gw.spec.servers[0], "gw1", "ns1") == expected


HOST_CASES = [
    ("plain", ["a.example.com"], [("*", "a.example.com")], ("a.example.com",)),
    ("dot", ["./a.example.com"], [("gw", "a.example.com")], ("a.example.com",)),
    ("other-ns", ["apps/a.example.com"], [("apps", "a.example.com")], ("a.example.com",)),
    ("star-ns", ["*/a.example.com"], [("*", "a.example.com")], ("a.example.com",)),
    ("star-star", ["a.example.com", "*/*"], [("*", "*")], ("*",)),
]


@pytest.mark.parametrize(
    ("hosts", "pairs", "sni"),
    [c[1:] for c in HOST_CASES],
    ids=[c[0] for c in HOST_CASES],
)
def test_server_hosts(hosts: list[str], pairs: list[tuple[str, str]], sni: tuple[str, ...]) -> None:
    merged = merge_gateways(_gateways(("a", [_https(443, hosts)])))
    (server,) = merged.servers[443]
    assert server.hosts() == pairs
    assert server.sni_hosts == sni


TLS_CASES: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = [
    (
        "simple",
        {"mode": "SIMPLE", **CERT},
        {
            "common_tls_context": {
                "alpn_protocols": ["h2", "http/1.1"],
                "tls_certificates": [
                    {
                        "certificate_chain": {"filename": "/certs/cert.pem"},
                        "private_key": {"filename": "/certs/key.pem"},
                    }
                ],
            },
            "require_client_certificate": False,
        },
    ),
    (
        "mutual",
        {
            "mode": "MUTUAL",
            **CERT,
            "caCertificates": "/certs/ca.pem",
            "subjectAltNames": ["client.example.com"],
            "minProtocolVersion": "TLSV1_3",
        },
        {
            "common_tls_context": {
                "alpn_protocols": ["h2", "http/1.1"],
                "tls_certificates": [
                    {
                        "certificate_chain": {"filename": "/certs/cert.pem"},
                        "private_key": {"filename": "/certs/key.pem"},
                    }
                ],
                "tls_params": {"tls_minimum_protocol_version": "TLSv1_3"},
                "validation_context": {
                    "match_subject_alt_names": [{"exact": "client.example.com"}],
                    "trusted_ca": {"filename": "/certs/ca.pem"},
                },
            },
            "require_client_certificate": True,
        },
    ),
    ("passthrough", {"mode": "PASSTHROUGH"}, None),
    ("istio-mutual-needs-sds", {"mode": "ISTIO_MUTUAL"}, None),
    (
        "credential-simple",
        {"mode": "SIMPLE", "credentialName": "httpbin-cert"},
        {
            "common_tls_context": {
                "alpn_protocols": ["h2", "http/1.1"],
                "tls_certificate_sds_secret_configs": [_ads_secret("kubernetes://httpbin-cert")],
            },
            "require_client_certificate": False,
        },
    ),
    (
        "credential-mutual-cacert-and-sans",
        {"mode": "MUTUAL", "credentialName": "kubernetes://c", "subjectAltNames": ["a.example"]},
        {
            "common_tls_context": {
                "alpn_protocols": ["h2", "http/1.1"],
                "tls_certificate_sds_secret_configs": [_ads_secret("kubernetes://c")],
                "combined_validation_context": {
                    "default_validation_context": {
                        "match_subject_alt_names": [{"exact": "a.example"}]
                    },
                    "validation_context_sds_secret_config": _ads_secret("kubernetes://c-cacert"),
                },
            },
            "require_client_certificate": True,
        },
    ),
    (
        "credential-names-optional-mutual",
        {"mode": "OPTIONAL_MUTUAL", "credentialNames": ["rsa", "ecdsa"]},
        {
            "common_tls_context": {
                "alpn_protocols": ["h2", "http/1.1"],
                "tls_certificate_sds_secret_configs": [
                    _ads_secret("kubernetes://rsa"),
                    _ads_secret("kubernetes://ecdsa"),
                ],
                "combined_validation_context": {
                    "default_validation_context": {},
                    "validation_context_sds_secret_config": _ads_secret("kubernetes://rsa-cacert"),
                },
            },
            "require_client_certificate": False,
        },
    ),
]


def _agent_sds(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "sds_config": {
            "api_config_source": {
                "api_type": "GRPC",
                "grpc_services": [{"envoy_grpc": {"cluster_name": "sds-grpc"}}],
                "set_node_on_first_message_only": True,
                "transport_api_version": "V3",
            },
            "initial_fetch_timeout": "0s",
            "resource_api_version": "V3",
        },
    }


def test_istio_mutual_server_uses_the_gateways_workload_certificate() -> None:
    from lateen.model import parse_node

    server = {"port": {"number": 443, "name": "https", "protocol": "HTTPS"}, "hosts": ["*"],
              "tls": {"mode": "ISTIO_MUTUAL", "subjectAltNames": ["spiffe://cluster.local/ns/a/sa/b"]}}
    tls = _gateways(("a", [server]))[0].spec.servers[0].tls
    without = parse_node("router~198.18.0.2~gw.istio-system~istio-system.svc.cluster.local", {})
    assert downstream_tls_context(tls, without) is None  # no agent SDS: no certificate to show
    with_sds = parse_node(without.node_id, {"LATEEN_SDS": "true"})
    ctx = downstream_tls_context(tls, with_sds)
    assert ctx is not None
    assert message_to_data(ctx) == {
        "common_tls_context": {
            "alpn_protocols": ["h2", "http/1.1"],
            "tls_certificate_sds_secret_configs": [_agent_sds("default")],
            "combined_validation_context": {
                "default_validation_context": {
                    "match_subject_alt_names": [{"exact": "spiffe://cluster.local/ns/a/sa/b"}]
                },
                "validation_context_sds_secret_config": _agent_sds("ROOTCA"),
            },
        },
        "require_client_certificate": True,
    }


@pytest.mark.parametrize(
    ("tls", "expected"),
    [c[1:] for c in TLS_CASES],
    ids=[c[0] for c in TLS_CASES],
)
def test_downstream_tls_context(tls: dict[str, Any], expected: dict[str, Any] | None) -> None:
    server = {
        "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
        "hosts": ["*"],
        "tls": tls,
    }
    gw = _gateways(("a", [server]))[0]
    ctx = downstream_tls_context(gw.spec.servers[0].tls)
    assert (None if ctx is None else message_to_data(ctx)) == expected
