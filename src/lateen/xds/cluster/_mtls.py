"""Automatic mTLS on outbound clusters (Istio's ``enableAutoMtls``, on by default): see
:mod:`lateen.xds._mtls`. A DestinationRule ``tls`` setting wins (ISTIO_MUTUAL, SIMPLE,
MUTUAL, DISABLE are applied by ``configure_upstream_tls``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from envoy.config.cluster.v3 import cluster_pb2
from envoy.extensions.transport_sockets.raw_buffer.v3 import raw_buffer_pb2

from lateen.xds import names
from lateen.xds._mtls import (
    TLS_MODE_ISTIO,
    sds_enabled,
    service_account_sans,
    service_mtls_disabled,
)
from lateen.xds._util import pack, struct
from lateen.xds.cluster._policy import (
    RAW_BUFFER_TRANSPORT_SOCKET,
    TLS_TRANSPORT_SOCKET,
    _is_http2,
    istio_mutual_tls_context,
)

if TYPE_CHECKING:
    from lateen.xds.cluster._configurers import OutboundClusterContext

__all__ = ["configure_auto_mtls"]


def configure_auto_mtls(c: cluster_pb2.Cluster, ctx: OutboundClusterContext) -> None:
    """``tlsMode-istio`` endpoints: ISTIO_MUTUAL; the others (``tlsMode-disabled``): plaintext."""
    if not ctx.push.mesh.enable_auto_mtls or not sds_enabled(ctx.proxy):
        return
    tp = ctx.traffic_policy
    if tp is not None and (tp.tls is not None or tp.proxy_protocol is not None):
        return
    if ctx.service.mesh_external or c.HasField("transport_socket"):
        return
    if c.type == cluster_pb2.Cluster.ORIGINAL_DST:
        return
    if service_mtls_disabled(ctx.push, ctx.service.namespace):
        return
    host = ctx.service.hostname
    sans = service_account_sans(
        ctx.push.mesh.trust_domain, ctx.push.endpoints(ctx.service, ctx.port.port)
    )
    tls = istio_mutual_tls_context(
        c.name, names.sni_name(ctx.port.port, ctx.subset, host), sans, _is_http2(c)
    )
    istio = c.transport_socket_matches.add(name=f"tlsMode-{TLS_MODE_ISTIO}")
    istio.match.CopyFrom(struct({"tlsMode": TLS_MODE_ISTIO}))
    istio.transport_socket.name = TLS_TRANSPORT_SOCKET
    istio.transport_socket.typed_config.CopyFrom(pack(tls))
    plain = c.transport_socket_matches.add(name="tlsMode-disabled")
    plain.match.SetInParent()
    plain.transport_socket.name = RAW_BUFFER_TRANSPORT_SOCKET
    plain.transport_socket.typed_config.CopyFrom(pack(raw_buffer_pb2.RawBuffer()))
