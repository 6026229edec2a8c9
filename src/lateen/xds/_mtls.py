"""Mutual TLS between sidecars (Istio's automatic mTLS), pure.

* Outbound: a cluster to an in-mesh service gets two ``transport_socket_matches``: endpoints
  whose metadata says ``tlsMode: istio`` (pods with a sidecar) are reached with ISTIO_MUTUAL
  (the workload cert ``default`` and the trust bundle ``ROOTCA`` over SDS, SNI
  ``outbound_.<port>_.<subset>_.<host>``, the SPIFFE ids of the service's accounts as SANs,
  ALPN ``istio-peer-exchange``, ``istio``); every other endpoint in plaintext.
* Inbound: each port gets a TLS filter chain (``transport_protocol: tls`` and an Istio ALPN,
  the cert ``default``, a client certificate required and checked against ``ROOTCA``) in
  front of its plaintext chains: PERMISSIVE, Istio's default.

Both sides need the agent's SDS server: the proxy's node metadata ``LATEEN_SDS: "true"``
(set by the agent's bootstrap when it has a CA). A proxy without it gets plaintext only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from envoy.extensions.transport_sockets.tls.v3 import tls_pb2
from google.protobuf import wrappers_pb2

from lateen.model._proxy import Proxy
from lateen.model._push_context import PushContext
from lateen.registry import Endpoint

__all__ = [
    "ISTIO_MTLS_ALPNS",
    "SDS_METADATA_KEY",
    "MtlsMode",
    "downstream_mtls_context",
    "inbound_mtls_mode",
    "sds_enabled",
    "service_account_sans",
    "spiffe_id",
]

SDS_METADATA_KEY = "LATEEN_SDS"
# what a client sidecar offers (Istio also sends istio-http/* from its ALPN filter)
ISTIO_MTLS_ALPNS = ("istio", "istio-peer-exchange", "istio-http/1.0", "istio-http/1.1", "istio-h2")
_HTTP_ALPNS = ("h2", "http/1.1")
TLS_MODE_ISTIO = "istio"

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


def inbound_mtls_mode(proxy: Proxy, push: PushContext, port: int) -> MtlsMode:
    """The effective PeerAuthentication mode of the proxy's inbound ``port``.

    TODO(PeerAuthentication): workload > namespace > root namespace, ``portLevelMtls``,
    UNSET inheriting. Until then the mesh default, PERMISSIVE (with SDS; without it the
    proxy has no certificate and stays plaintext)."""
    return "PERMISSIVE" if sds_enabled(proxy) else "DISABLE"


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
    return ctx
