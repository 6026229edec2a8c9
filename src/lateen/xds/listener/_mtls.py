"""Inbound mTLS filter chains (PERMISSIVE: TLS and plaintext side by side; STRICT: TLS
only), pure. See :mod:`lateen.xds._mtls`."""

from __future__ import annotations

from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.extensions.filters.listener.tls_inspector.v3 import tls_inspector_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2

from lateen.model._proxy import Proxy
from lateen.model._push_context import PushContext
from lateen.xds import names
from lateen.xds._mtls import ISTIO_MTLS_ALPNS, downstream_mtls_context, inbound_mtls_mode
from lateen.xds._scope import InboundPort
from lateen.xds._util import pack

__all__ = ["TLS_INSPECTOR_FILTER", "strict_passthrough", "tls_inspector", "with_inbound_mtls"]

TLS_INSPECTOR_FILTER = "envoy.filters.listener.tls_inspector"
_TLS_TRANSPORT_SOCKET = "envoy.transport_sockets.tls"
_TCP_PROXY_FILTER = "envoy.filters.network.tcp_proxy"
_HCM = hcm_pb2.HttpConnectionManager


def tls_inspector() -> lc.ListenerFilter:
    return lc.ListenerFilter(name=TLS_INSPECTOR_FILTER, typed_config=pack(tls_inspector_pb2.TlsInspector()))


def _mtls_chain(base: lc.FilterChain) -> lc.FilterChain:
    """``base`` behind TLS: matched on ``transport_protocol: tls`` and an Istio ALPN. An HTTP
    chain's HCM tells the app who called (``x-forwarded-client-cert``: the inbound HCM's
    APPEND_FORWARD, set by ``configure_client_cert_details``)."""
    chain = lc.FilterChain()
    chain.CopyFrom(base)
    chain.name = f"{base.name}-mtls"
    del chain.filter_chain_match.application_protocols[:]
    chain.filter_chain_match.transport_protocol = "tls"
    chain.filter_chain_match.application_protocols.extend(ISTIO_MTLS_ALPNS)
    http = any(f.typed_config.Is(_HCM.DESCRIPTOR) for f in chain.filters)
    chain.transport_socket.name = _TLS_TRANSPORT_SOCKET
    chain.transport_socket.typed_config.CopyFrom(pack(downstream_mtls_context(http)))
    return chain


def _refused_plaintext_chain(base: lc.FilterChain) -> lc.FilterChain:
    """STRICT: plaintext to the port ends in the BlackHoleCluster (closed), rather than in
    the listener's default passthrough chain."""
    chain = lc.FilterChain(name=f"{base.name}-plaintext-refused")
    chain.filter_chain_match.CopyFrom(base.filter_chain_match)
    del chain.filter_chain_match.application_protocols[:]
    chain.filter_chain_match.transport_protocol = ""
    tp = tcp_proxy_pb2.TcpProxy(stat_prefix=names.BLACKHOLE_CLUSTER, cluster=names.BLACKHOLE_CLUSTER)
    chain.filters.append(lc.Filter(name=_TCP_PROXY_FILTER, typed_config=pack(tp)))
    return chain


def strict_passthrough(proxy: Proxy, push: PushContext, chain: lc.FilterChain) -> None:
    """STRICT for the workload (port-less mode): the catch-all passthrough chain terminates
    mTLS too, so plaintext to an undeclared port is refused as well."""
    if inbound_mtls_mode(proxy, push, 0) != "STRICT":
        return
    chain.transport_socket.name = _TLS_TRANSPORT_SOCKET
    chain.transport_socket.typed_config.CopyFrom(pack(downstream_mtls_context(False)))


def with_inbound_mtls(
    proxy: Proxy, push: PushContext, ip: InboundPort, chains: list[lc.FilterChain]
) -> tuple[list[lc.FilterChain], bool]:
    """The port's chains with its mTLS chain in front (PERMISSIVE), instead (STRICT), or as
    they are (DISABLE). Second value: the listener needs the tls_inspector. An HTTP port's
    TLS chain is its HTTP chain; an auto-detected port's is its TCP chain (without Istio's
    ALPN filter the client's ALPN does not tell HTTP from TCP)."""
    mode = inbound_mtls_mode(proxy, push, ip.port)
    if mode == "DISABLE" or not chains:
        return chains, False
    base = chains[-1]  # one chain (HTTP or TCP), or [http, tcp] for an auto-detected port
    tls_chain = _mtls_chain(base)
    if mode == "STRICT":
        return [tls_chain, _refused_plaintext_chain(base)], True
    return [tls_chain, *chains], True
