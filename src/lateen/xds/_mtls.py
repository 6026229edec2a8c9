"""Mutual TLS between sidecars (Istio's automatic mTLS), pure.

* Outbound: a cluster to an in-mesh service gets two ``transport_socket_matches``: endpoints
  whose metadata says ``tlsMode: istio`` (pods with a sidecar) are reached with ISTIO_MUTUAL
  (the workload cert ``default`` and the trust bundle ``ROOTCA`` over SDS, SNI
  ``outbound_.<port>_.<subset>_.<host>``, the SPIFFE ids of the service's accounts as SANs,
  ALPN ``istio-peer-exchange``, ``istio``); every other endpoint in plaintext.
* Inbound: each port gets a TLS filter chain (``transport_protocol: tls`` and an Istio ALPN,
  the cert ``default``, a client certificate required and checked against ``ROOTCA``) in
  front of its plaintext chains: PERMISSIVE, Istio's default; STRICT keeps only the TLS
  chain, DISABLE only the plaintext ones (PeerAuthentication: workload > namespace > root
  namespace, ``portLevelMtls``, UNSET inheriting). A client calls a service in plaintext when
  its namespace's (else the mesh's) PeerAuthentication is DISABLE.

Both sides need the agent's SDS server: the proxy's node metadata ``LATEEN_SDS: "true"``
(set by the agent's bootstrap when it has a CA). A proxy without it gets plaintext only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

from envoy.extensions.transport_sockets.tls.v3 import common_pb2, tls_pb2
from google.protobuf import wrappers_pb2

from lateen.api import ConfigObject
from lateen.model._proxy import Proxy
from lateen.model._push_context import PushContext
from lateen.registry import Endpoint, labels_match

__all__ = [
    "ISTIO_MTLS_ALPNS",
    "SDS_METADATA_KEY",
    "MtlsMode",
    "downstream_mtls_context",
    "inbound_mtls_mode",
    "peer_authentication_mode",
    "sds_enabled",
    "service_account_sans",
    "service_mtls_disabled",
    "spiffe_id",
]

SDS_METADATA_KEY = "LATEEN_SDS"
# what a client sidecar offers (Istio also sends istio-http/* from its ALPN filter)
ISTIO_MTLS_ALPNS = ("istio", "istio-peer-exchange", "istio-http/1.0", "istio-http/1.1", "istio-h2")
_HTTP_ALPNS = ("h2", "http/1.1")
TLS_MODE_ISTIO = "istio"
# the TLS 1.2 suites Istio's inbound mTLS accepts (its default; TLS 1.3 suites are fixed)
INBOUND_MTLS_CIPHER_SUITES = (
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "AES128-GCM-SHA256",
)

MtlsMode = Literal["DISABLE", "PERMISSIVE", "STRICT"]


def sds_enabled(proxy: Proxy) -> bool:
    """Whether the proxy's agent serves ``default`` and ``ROOTCA`` over SDS."""
    return str(proxy.metadata.get(SDS_METADATA_KEY) or "").strip().lower() == "true"


def spiffe_id(trust_domain: str, namespace: str, service_account: str) -> str:
    return f"spiffe://{trust_domain}/ns/{namespace}/sa/{service_account}"


def service_account_sans(trust_domain: str, endpoints: Iterable[Endpoint]) -> list[str]:
    """The SPIFFE ids of the sidecar endpoints' service accounts, sorted (the SANs a client
    accepts; Istio's ``ServiceAccounts`` of the service)."""
    return sorted(
        {
            spiffe_id(trust_domain, e.namespace, e.service_account)
            for e in endpoints
            if e.tls_mode == TLS_MODE_ISTIO and e.service_account and e.namespace
        }
    )


def _mode(policy: ConfigObject | None, port: int | None = None) -> str:
    if policy is None:
        return "UNSET"
    spec = policy.spec
    if port is not None and port in spec.port_level_mtls:
        return str(spec.port_level_mtls[port].mode)
    return str(spec.mtls.mode) if spec.mtls is not None else "UNSET"


def _namespace_policies(push: PushContext, namespace: str) -> tuple[ConfigObject | None, ConfigObject | None]:
    """The oldest selector-less PeerAuthentication of ``namespace`` and of the root namespace."""
    root = push.mesh.root_namespace
    ns_policy = mesh_policy = None
    for pa in push.peer_authentications:
        sel = pa.spec.selector
        if sel is not None and sel.match_labels:
            continue
        if pa.namespace == namespace and ns_policy is None:
            ns_policy = pa
        if pa.namespace == root and mesh_policy is None:
            mesh_policy = pa
    return ns_policy, mesh_policy


def peer_authentication_mode(
    push: PushContext, namespace: str, labels: Mapping[str, str], port: int
) -> MtlsMode:
    """Istio's effective PeerAuthentication mode for a workload's ``port``: the workload
    policy (selector matching, oldest) with its ``portLevelMtls``, else the namespace policy,
    else the root namespace's; ``UNSET`` inherits from the next level, PERMISSIVE last."""
    workload = next(
        (
            pa
            for pa in push.peer_authentications
            if pa.namespace == namespace
            and pa.spec.selector is not None
            and pa.spec.selector.match_labels
            and labels_match(pa.spec.selector.match_labels, labels)
        ),
        None,
    )
    ns_policy, mesh_policy = _namespace_policies(push, namespace)
    for mode in (_mode(workload, port), _mode(ns_policy), _mode(mesh_policy)):
        if mode in ("STRICT", "PERMISSIVE", "DISABLE"):
            return mode  # type: ignore[return-value]
    return "PERMISSIVE"


def service_mtls_disabled(push: PushContext, namespace: str) -> bool:
    """Istio's best-effort inference for clients (auto mTLS): a service whose namespace (else
    the mesh) PeerAuthentication says DISABLE is called in plaintext. Workload-level policies
    are not considered, as in Istio."""
    ns_policy, mesh_policy = _namespace_policies(push, namespace)
    for mode in (_mode(ns_policy), _mode(mesh_policy)):
        if mode != "UNSET":
            return mode == "DISABLE"
    return False


def inbound_mtls_mode(proxy: Proxy, push: PushContext, port: int) -> MtlsMode:
    """The effective PeerAuthentication mode of the proxy's inbound ``port`` (see
    :func:`peer_authentication_mode`). A proxy without SDS has no certificate: plaintext."""
    if not sds_enabled(proxy):
        return "DISABLE"
    return peer_authentication_mode(push, proxy.namespace, proxy.labels, port)


def downstream_mtls_context(http: bool) -> tls_pb2.DownstreamTlsContext:
    """The server side of in-mesh mTLS: cert ``default``, client cert required and verified
    against ``ROOTCA`` (any SPIFFE id of the trust bundle: authorization decides who)."""
    from lateen.xds.cluster._policy import _sds

    ctx = tls_pb2.DownstreamTlsContext(
        require_client_certificate=wrappers_pb2.BoolValue(value=True)
    )
    common = ctx.common_tls_context
    common.tls_certificate_sds_secret_configs.append(_sds("default"))
    combined = common.combined_validation_context
    combined.default_validation_context.SetInParent()
    combined.validation_context_sds_secret_config.CopyFrom(_sds("ROOTCA"))
    if http:
        common.alpn_protocols.extend(_HTTP_ALPNS)
    params = common.tls_params
    params.tls_minimum_protocol_version = common_pb2.TlsParameters.TLSv1_2
    params.tls_maximum_protocol_version = common_pb2.TlsParameters.TLSv1_3
    params.cipher_suites.extend(INBOUND_MTLS_CIPHER_SUITES)
    return ctx
