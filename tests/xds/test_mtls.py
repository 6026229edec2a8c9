"""Automatic mTLS decisions: which outbound clusters get ISTIO_MUTUAL (and how) and which
inbound ports get a TLS chain, by SDS availability, mesh config, DestinationRule and the
service's location. The shapes are in the golden cases 13-mtls-sidecar and 14-mtls-explicit."""

from __future__ import annotations

from typing import Any

import pytest
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2

from lateen.model import build_push_context
from lateen.testing.golden import load_xds_case
from lateen.xds.cluster import build_clusters
from lateen.xds.listener import build_listeners

HEADER = """
kind: TestProxy
type: sidecar
ip: 198.19.0.21
id: client-1.default
namespace: default
labels: {{app: client, security.istio.io/tlsMode: istio}}
metadata: {metadata}
mesh: {mesh}
---
apiVersion: v1
kind: Service
metadata: {{name: client, namespace: default}}
spec:
  clusterIP: 198.18.3.9
  selector: {{app: client}}
  ports: [{{name: http, port: 8080, targetPort: 8080}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: client-1, namespace: default, labels: {{app: client, security.istio.io/tlsMode: istio}}}}
spec: {{serviceAccountName: client, containers: [{{name: c, image: x}}]}}
status: {{podIP: 198.19.0.21}}
---
apiVersion: v1
kind: Service
metadata: {{name: api, namespace: default}}
spec:
  clusterIP: 198.18.3.10
  selector: {{app: api}}
  ports: [{{name: http, port: 80, targetPort: 8080}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: api-1, namespace: default, labels: {{app: api, security.istio.io/tlsMode: istio}}}}
spec: {{serviceAccountName: api, containers: [{{name: c, image: x}}]}}
status: {{podIP: 198.19.0.22}}
"""
API = "outbound|80||api.default.svc.cluster.local"
SDS = '{LATEEN_SDS: "true"}'


def _build(metadata: str = SDS, mesh: str = "{}", extra: str = "") -> tuple[dict[str, Any], Any]:
    case = load_xds_case(HEADER.format(metadata=metadata, mesh=mesh) + extra, "mtls")
    push = build_push_context(case.objects, case.mesh, version="t")
    clusters = {c.name: c for c in build_clusters(case.proxy, push)}
    listeners = {lis.name: lis for lis in build_listeners(case.proxy, push)}
    return clusters, listeners


def _dr(tls: str) -> str:
    return f"""
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: api, namespace: default}}
spec:
  host: api
  trafficPolicy: {{tls: {tls}}}
"""


@pytest.mark.parametrize(
    ("metadata", "mesh", "extra", "expect"),
    [
        (SDS, "{}", "", "auto"),
        ("{}", "{}", "", "plaintext"),
        (SDS, "{enableAutoMtls: false}", "", "plaintext"),
        (SDS, "{}", _dr("{mode: DISABLE}"), "plaintext"),
        (SDS, "{}", _dr("{mode: ISTIO_MUTUAL}"), "istio-mutual"),
        ("{}", "{}", _dr("{mode: ISTIO_MUTUAL}"), "plaintext"),
    ],
    ids=["auto", "no-sds", "auto-mtls-off", "dr-disable", "dr-istio-mutual", "dr-istio-mutual-no-sds"],
)
def test_outbound_tls(metadata: str, mesh: str, extra: str, expect: str) -> None:
    clusters, _ = _build(metadata, mesh, extra)
    c = clusters[API]
    kinds = {
        "auto": (True, False),
        "plaintext": (False, False),
        "istio-mutual": (False, True),
    }[expect]
    assert (len(c.transport_socket_matches) > 0, c.HasField("transport_socket")) == kinds
    if expect in ("auto", "istio-mutual"):
        tls = tls_pb2.UpstreamTlsContext()
        socket = c.transport_socket_matches[0].transport_socket if expect == "auto" else c.transport_socket
        socket.typed_config.Unpack(tls)
        assert tls.sni == "outbound_.80_._.api.default.svc.cluster.local"
        sans = tls.common_tls_context.combined_validation_context.default_validation_context
        assert [m.exact for m in sans.match_subject_alt_names] == ["spiffe://cluster.local/ns/default/sa/api"]


@pytest.mark.parametrize(
    ("metadata", "tls_chains"),
    [(SDS, 1), ("{}", 0), ('{LATEEN_SDS: "true", INTERCEPTION_MODE: NONE}', 1)],
    ids=["permissive", "no-sds", "explicit-permissive"],
)
def test_inbound_tls_chain(metadata: str, tls_chains: int) -> None:
    _, listeners = _build(metadata)
    name = "virtualInbound" if "NONE" not in metadata else "198.19.0.21_8080"
    lis = listeners[name]
    chains = [c for c in lis.filter_chains if c.filter_chain_match.transport_protocol == "tls"]
    assert len(chains) == tls_chains
    plain = [c for c in lis.filter_chains if not c.filter_chain_match.transport_protocol]
    assert plain, "PERMISSIVE keeps the plaintext chain"
    inspectors = [f.name for f in lis.listener_filters]
    assert ("envoy.filters.listener.tls_inspector" in inspectors) == bool(tls_chains)
    for chain in chains:
        ctx = tls_pb2.DownstreamTlsContext()
        chain.transport_socket.typed_config.Unpack(ctx)
        assert ctx.require_client_certificate.value
        assert [s.name for s in ctx.common_tls_context.tls_certificate_sds_secret_configs] == ["default"]


def _pa(name: str, namespace: str, mode: str | None, selector: str = "", ports: str = "") -> str:
    spec = []
    if selector:
        spec.append(f"selector: {{matchLabels: {selector}}}")
    if mode:
        spec.append(f"mtls: {{mode: {mode}}}")
    if ports:
        spec.append(f"portLevelMtls: {ports}")
    body = "{" + ", ".join(spec) + "}"
    return f"""
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {{name: {name}, namespace: {namespace}}}
spec: {body}
"""


MESH_STRICT = _pa("default", "istio-system", "STRICT")
NS_PERMISSIVE = _pa("default", "default", "PERMISSIVE")
NS_DISABLE = _pa("default", "default", "DISABLE")
NS_UNSET = _pa("default", "default", None)
WL_STRICT = _pa("client", "default", "STRICT", "{app: client}")
WL_OTHER = _pa("other", "default", "STRICT", "{app: other}")
WL_PORT_DISABLE = _pa("client", "default", "STRICT", "{app: client}", "{8080: {mode: DISABLE}}")
WL_PORT_UNSET = _pa("client", "default", None, "{app: client}", "{8080: {mode: UNSET}}")


@pytest.mark.parametrize(
    ("extra", "inbound", "catch_all_strict"),
    [
        ("", "PERMISSIVE", False),
        (MESH_STRICT, "STRICT", True),
        (MESH_STRICT + NS_PERMISSIVE, "PERMISSIVE", False),
        (MESH_STRICT + NS_UNSET, "STRICT", True),
        (NS_DISABLE, "DISABLE", False),
        (NS_PERMISSIVE + WL_STRICT, "STRICT", True),
        (MESH_STRICT + WL_OTHER + NS_DISABLE, "DISABLE", False),
        (WL_PORT_DISABLE, "DISABLE", True),  # the workload is STRICT but for port 8080
        (MESH_STRICT + WL_PORT_UNSET, "STRICT", True),
    ],
    ids=["default-permissive", "mesh-strict", "namespace-over-mesh", "unset-inherits", "namespace-disable",
         "workload-over-namespace", "other-workload-ignored", "port-level", "port-unset-inherits"],
)
def test_peer_authentication_precedence(extra: str, inbound: str, catch_all_strict: bool) -> None:
    """Istio's PeerAuthentication: workload (selector) > namespace > root namespace, portLevelMtls
    for the port, UNSET inheriting; STRICT keeps only the TLS chain, DISABLE only plaintext."""
    _, listeners = _build(SDS, "{}", extra)
    lis = listeners["virtualInbound"]
    port_chains = [c for c in lis.filter_chains if c.filter_chain_match.destination_port.value == 8080]
    tls = [c for c in port_chains if c.filter_chain_match.transport_protocol == "tls"]
    refused = [c for c in port_chains if c.name.endswith("-plaintext-refused")]
    plain = [c for c in port_chains if not c.filter_chain_match.transport_protocol and c not in refused]
    assert (bool(tls), bool(plain), bool(refused)) == {
        "PERMISSIVE": (True, True, False),
        "STRICT": (True, False, True),
        "DISABLE": (False, True, False),
    }[inbound]
    # plaintext never reaches the passthrough under STRICT: the port's own chain refuses it,
    # and a workload-wide STRICT makes the catch-all terminate mTLS too
    assert lis.default_filter_chain.HasField("transport_socket") == catch_all_strict


@pytest.mark.parametrize(
    ("extra", "auto"),
    [("", True), (NS_DISABLE, False), (MESH_STRICT + NS_DISABLE, False), (_pa("default", "istio-system", "DISABLE"), False),
     (_pa("default", "istio-system", "DISABLE") + NS_PERMISSIVE, True), (WL_PORT_DISABLE, True)],
    ids=["default", "namespace-disable", "namespace-over-mesh", "mesh-disable", "namespace-permissive-over-mesh",
         "workload-level-not-inferred"],
)
def test_clients_call_a_disabled_namespace_in_plaintext(extra: str, auto: bool) -> None:
    clusters, _ = _build(SDS, "{}", extra)
    assert (len(clusters[API].transport_socket_matches) > 0) == auto


@pytest.mark.parametrize(
    "extra", [_pa("default", "default", "STRICT"), MESH_STRICT], ids=["namespace-strict", "mesh-wide-strict"]
)
def test_strict_is_a_filter_chain_only_update(extra: str) -> None:
    """PERMISSIVE -> STRICT changes only filter chains (Envoy updates the listener in place)
    and keeps the port's mTLS chain byte for byte (same name, same content): connections from
    sidecars are not drained, only plaintext ones are."""
    from envoy.config.listener.v3 import listener_pb2

    def listener_level(lis: listener_pb2.Listener) -> listener_pb2.Listener:
        out = listener_pb2.Listener()
        out.CopyFrom(lis)
        out.ClearField("filter_chains")
        out.ClearField("default_filter_chain")
        return out

    _, before = _build()
    _, after = _build(extra=extra)
    assert sorted(before) == sorted(after)
    for name in before:
        assert listener_level(before[name]) == listener_level(after[name]), name
    old = {c.name: c for c in before["virtualInbound"].filter_chains}
    new = {c.name: c for c in after["virtualInbound"].filter_chains}
    assert old["inbound|8080||-mtls"] == new["inbound|8080||-mtls"]
    assert sorted(set(new) - set(old)) == ["inbound|8080||-plaintext-refused"]
