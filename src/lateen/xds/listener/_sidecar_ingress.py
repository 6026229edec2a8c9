"""Sidecar ``ingress`` listeners with an address of their own.

A Sidecar ingress listener normally becomes a filter chain of virtualInbound (15006) on its
port (see ``_scope.inbound_ports``). With ``captureMode: NONE`` or a ``bind`` address it is
a real listener ``<bind>_<port>`` (bind defaults to the proxy's IP), carrying the same
filter chains as the port would have in virtualInbound, as Istio builds it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.listener.http_inspector.v3 import http_inspector_pb2

from lateen.model._proxy import Proxy
from lateen.model._push_context import PushContext
from lateen.xds import names
from lateen.xds._scope import InboundPort, inbound_ports
from lateen.xds._util import pack, socket_address
from lateen.xds.listener._hcm import HcmConfigurer

__all__ = ["InboundChains", "sidecar_ingress_listeners"]

# (proxy, push, port, stat prefix, match, configurers) -> (filter chains, needs http_inspector)
InboundChains = Callable[
    [Proxy, PushContext, InboundPort, str, "lc.FilterChainMatch | None", Sequence[HcmConfigurer]],
    tuple[list[lc.FilterChain], bool],
]

_HTTP_INSPECTOR = "envoy.filters.listener.http_inspector"


def sidecar_ingress_listeners(
    proxy: Proxy,
    push: PushContext,
    chains: InboundChains,
    hcm_configurers: Sequence[HcmConfigurer],
) -> list[listener_pb2.Listener]:
    """One bound listener per Sidecar ingress port that has a ``bind`` address."""
    out = []
    for ip in inbound_ports(proxy, push):
        if not ip.bind:
            continue
        name = names.listener_name(ip.bind, ip.port)
        port_chains, sniff = chains(proxy, push, ip, f"inbound_{name}", None, hcm_configurers)
        lis = listener_pb2.Listener(
            name=name,
            address=socket_address(ip.bind, ip.port),
            traffic_direction=base_pb2.INBOUND,
            filter_chains=port_chains,
        )
        if sniff:
            lis.listener_filters.append(
                lc.ListenerFilter(
                    name=_HTTP_INSPECTOR, typed_config=pack(http_inspector_pb2.HttpInspector())
                )
            )
            lis.continue_on_listener_filters_timeout = True
        out.append(lis)
    return out
