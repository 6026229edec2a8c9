"""Gateway listeners: one listener ``<bind>_<port>`` per port of the merged Gateways
(Istio's ``buildGatewayListeners``).

- An HTTP port (its first server is HTTP): one filter chain, an HCM on route configuration
  ``http.<port>`` (every HTTP server of the port, ``httpsRedirect`` ones included).
- Any other port: a filter chain per server, told apart by SNI (the server's hosts; ``*``
  matches any name): HTTPS terminating TLS -> a TLS transport socket and an HCM on
  ``https.<port>.<portName>.<gateway>.<namespace>``; TLS terminating TLS (SIMPLE/MUTUAL on a
  TLS/TCP port) -> a TLS transport socket and tcp_proxy from the VirtualService ``tcp``
  routes; PASSTHROUGH -> a chain per VirtualService ``tls`` match on its SNI names; plain
  TCP -> tcp_proxy from the ``tcp`` routes.

Certificates come from files (``serverCertificate``, ``privateKey``, ``caCertificates``,
``caCrl``, ``tlsCertificates``), from ``credentialName(s)`` over SDS (``kubernetes://<name>``
and ``-cacert``, served by the control plane to gateways of the Secret's namespace), or,
for ISTIO_MUTUAL, the gateway's own workload certificate (``default``/``ROOTCA`` from its
agent). AUTO_PASSTHROUGH servers get no filter chain yet. A port without any filter chain
gets no listener (Envoy rejects a listener without one)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, tls_pb2
from envoy.type.matcher.v3 import string_pb2
from google.protobuf import wrappers_pb2

from lateen.api.credentials import CACERT_SUFFIX
from lateen.model._gateway import GatewayServer
from lateen.model._proxy import Proxy
from lateen.model._push_context import PushContext
from lateen.xds import names
from lateen.xds._mtls import sds_enabled
from lateen.xds._scope import (
    explicit_bind_host,
    gateway_servers,
    is_explicit,
    listener_bind_address,
)
from lateen.xds._util import pack, socket_address
from lateen.xds.listener._builder import (
    _hcm_filter,
    _l4_chain,
    _needs_tls_inspector,
    authz_tcp_filters,
)
from lateen.xds.listener._hcm import (
    DEFAULT_HCM_CONFIGURERS,
    Direction,
    HcmConfigurer,
    HcmContext,
)
from lateen.xds.listener._mtls import tls_inspector
from lateen.xds.route._l4 import gateway_tcp_route, gateway_tls_routes
from lateen.xds.secret import credential_sds_config

__all__ = [
    "GATEWAY_ALPN",
    "TLS_TRANSPORT_SOCKET",
    "credential_tls",
    "downstream_tls_context",
    "gateway_listeners",
    "istio_mutual_tls",
]

TLS_TRANSPORT_SOCKET = "envoy.transport_sockets.tls"
# what Istio's gateways offer on a TLS-terminating chain
GATEWAY_ALPN = ("h2", "http/1.1")
_TLS_VERSIONS = {
    "TLS_AUTO": common_pb2.TlsParameters.TLS_AUTO,
    "TLSV1_0": common_pb2.TlsParameters.TLSv1_0,
    "TLSV1_1": common_pb2.TlsParameters.TLSv1_1,
    "TLSV1_2": common_pb2.TlsParameters.TLSv1_2,
    "TLSV1_3": common_pb2.TlsParameters.TLSv1_3,
}


def credential_tls(common: common_pb2.CommonTlsContext, tls: Any, validate_client: bool) -> bool:
    """``credentialName``/``credentialNames`` (Istio's
    ``ApplyCredentialSDSToServerCommonTLSContext``): each credential's certificate from SDS
    ``kubernetes://<name>`` (served by the control plane over ADS, see
    :mod:`lateen.xds.secret`); to validate client certificates (MUTUAL, OPTIONAL_MUTUAL) the CA
    ``kubernetes://<first name>-cacert`` with ``subjectAltNames``, SPKI and hash pins as the
    default validation context. Without validation, ``subjectAltNames`` alone still apply.
    Always True (kept as a hook: a server whose credential cannot be served gets no chain)."""
    names = list(tls.credential_names) or [tls.credential_name]
    for name in names:
        common.tls_certificate_sds_secret_configs.append(credential_sds_config(name))
    sans = [string_pb2.StringMatcher(exact=n) for n in tls.subject_alt_names]
    if validate_client:
        combined = common.combined_validation_context
        default = combined.default_validation_context
        default.SetInParent()
        default.match_subject_alt_names.extend(sans)
        default.verify_certificate_spki.extend(tls.verify_certificate_spki)
        default.verify_certificate_hash.extend(tls.verify_certificate_hash)
        combined.validation_context_sds_secret_config.CopyFrom(
            credential_sds_config(names[0] + CACERT_SUFFIX)
        )
    elif sans:
        common.validation_context.match_subject_alt_names.extend(sans)
    return True


def istio_mutual_tls(common: common_pb2.CommonTlsContext, tls: Any) -> None:
    """ISTIO_MUTUAL on a gateway server (Istio's ``ApplyToCommonTLSContext``): the gateway's
    own workload certificate ``default`` and the mesh's ``ROOTCA`` from its agent's SDS
    socket; a client certificate of the mesh is required (``subjectAltNames`` when set)."""
    from lateen.xds.cluster._policy import _sds

    common.tls_certificate_sds_secret_configs.append(_sds("default"))
    combined = common.combined_validation_context
    combined.default_validation_context.SetInParent()
    combined.default_validation_context.match_subject_alt_names.extend(
        string_pb2.StringMatcher(exact=n) for n in tls.subject_alt_names
    )
    combined.validation_context_sds_secret_config.CopyFrom(_sds("ROOTCA"))


def _file_certificates(common: common_pb2.CommonTlsContext, tls: Any) -> str:
    """Certificates and keys from files; the client CA file (empty when none)."""
    pairs = [(c.server_certificate, c.private_key) for c in tls.tls_certificates]
    if not pairs:
        pairs = [(tls.server_certificate, tls.private_key)]
    for cert, key in pairs:
        common.tls_certificates.append(
            common_pb2.TlsCertificate(
                certificate_chain=base_pb2.DataSource(filename=cert),
                private_key=base_pb2.DataSource(filename=key),
            )
        )
    cas = [c.ca_certificates for c in tls.tls_certificates if c.ca_certificates]
    return str(tls.ca_certificates or (cas[0] if cas else ""))


def _tls_params(common: common_pb2.CommonTlsContext, tls: Any) -> None:
    if tls.min_protocol_version != "TLS_AUTO":
        common.tls_params.tls_minimum_protocol_version = _TLS_VERSIONS[tls.min_protocol_version]
    if tls.max_protocol_version != "TLS_AUTO":
        common.tls_params.tls_maximum_protocol_version = _TLS_VERSIONS[tls.max_protocol_version]
    if tls.cipher_suites:
        common.tls_params.cipher_suites.extend(tls.cipher_suites)


def downstream_tls_context(
    tls: Any, proxy: Proxy | None = None
) -> tls_pb2.DownstreamTlsContext | None:
    """The TLS a SIMPLE / MUTUAL / OPTIONAL_MUTUAL / ISTIO_MUTUAL server terminates (Istio's
    ``BuildListenerTLSContext``): its certificate (files, or ``credentialName`` over SDS),
    client certificates required (MUTUAL, ISTIO_MUTUAL) or verified when sent
    (OPTIONAL_MUTUAL) against ``caCertificates`` / the credential's ``-cacert`` (and
    ``caCrl``, ``subjectAltNames``), ALPN h2/http1.1, TLS versions and ciphers when set.
    ISTIO_MUTUAL needs the gateway's agent to serve its workload certificate (``proxy`` with
    SDS). None when the mode is not terminated here."""
    if tls is None or tls.mode not in ("SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL", "ISTIO_MUTUAL"):
        return None  # PASSTHROUGH, AUTO_PASSTHROUGH
    if tls.mode == "ISTIO_MUTUAL" and (proxy is None or not sds_enabled(proxy)):
        return None  # no workload certificate to present
    ctx = tls_pb2.DownstreamTlsContext(
        require_client_certificate=wrappers_pb2.BoolValue(
            value=tls.mode in ("MUTUAL", "ISTIO_MUTUAL")
        )
    )
    common = ctx.common_tls_context
    common.alpn_protocols.extend(GATEWAY_ALPN)
    validate = tls.mode != "SIMPLE"
    if tls.mode == "ISTIO_MUTUAL":
        istio_mutual_tls(common, tls)
    elif tls.credential_name or tls.credential_names:
        if not credential_tls(common, tls, validate):
            return None
    else:
        ca = _file_certificates(common, tls)
        if validate:
            vc = common.validation_context
            vc.trusted_ca.CopyFrom(base_pb2.DataSource(filename=ca))
            vc.match_subject_alt_names.extend(
                string_pb2.StringMatcher(exact=n) for n in tls.subject_alt_names
            )
            if tls.ca_crl:
                vc.crl.CopyFrom(base_pb2.DataSource(filename=tls.ca_crl))
    _tls_params(common, tls)
    return ctx


def _terminate(chain: lc.FilterChain, gs: GatewayServer, ctx: tls_pb2.DownstreamTlsContext) -> None:
    """SNI match on the server's hosts (none for ``*``) and the TLS transport socket."""
    sni = gs.sni_hosts
    if sni and "*" not in sni:
        chain.filter_chain_match.server_names.extend(sni)
    chain.transport_socket.name = TLS_TRANSPORT_SOCKET
    chain.transport_socket.typed_config.CopyFrom(pack(ctx))


def _authorized(chain: lc.FilterChain, proxy: Proxy, push: PushContext) -> lc.FilterChain:
    """The TCP chain with the AuthorizationPolicy network filters in front of tcp_proxy."""
    filters = authz_tcp_filters(proxy, push)
    if filters:
        rest = list(chain.filters)
        del chain.filters[:]
        chain.filters.extend([*filters, *rest])
    return chain


def _server_chains(
    proxy: Proxy,
    push: PushContext,
    port: int,
    listener_name: str,
    gs: GatewayServer,
    seen_sni: set[str],
    hcm_configurers: Sequence[HcmConfigurer],
) -> list[lc.FilterChain]:
    """The filter chains of one server on a non-HTTP port."""
    if gs.is_http:
        return []  # an httpsRedirect-only HTTP server merged into a TLS port: nothing to serve
    if gs.is_passthrough:
        if gs.tls_mode == "AUTO_PASSTHROUGH":
            return []  # needs SNI-DNAT clusters: not built yet
        routes = gateway_tls_routes(push, proxy, port, gs.gateway, gs.hosts(), seen_sni)
        return [_authorized(_l4_chain(r), proxy, push) for r in routes]
    ctx = downstream_tls_context(gs.server.tls, proxy)
    if gs.server.tls is not None and ctx is None:
        return []
    if gs.terminates_http:
        assert ctx is not None
        hcm = HcmContext(
            proxy,
            push,
            Direction.GATEWAY,
            port,
            gs.server.name or f"outbound_{listener_name}",
            gs.route_name,
        )
        chain = lc.FilterChain(filters=[_hcm_filter(hcm, hcm_configurers)])
        _terminate(chain, gs, ctx)
        return [chain]
    route = gateway_tcp_route(push, proxy, port, gs.gateway, gs.hosts())
    if route is None:
        return []
    chain = _authorized(_l4_chain(route), proxy, push)
    if ctx is not None:
        _terminate(chain, gs, ctx)
    return [chain]


def _gateway_listener(
    proxy: Proxy,
    push: PushContext,
    port: int,
    servers: Sequence[GatewayServer],
    hcm_configurers: Sequence[HcmConfigurer],
) -> listener_pb2.Listener | None:
    default_host = explicit_bind_host(proxy) if is_explicit(proxy) else "0.0.0.0"
    host, bind_port = listener_bind_address(proxy, port, default_host)
    name = names.listener_name(host, port)
    lis = listener_pb2.Listener(
        name=name,
        address=socket_address(host, bind_port),
        traffic_direction=base_pb2.OUTBOUND,
    )
    if servers[0].is_http:
        ctx = HcmContext(
            proxy,
            push,
            Direction.GATEWAY,
            port,
            f"outbound_{name}",
            names.gateway_http_route_name(port),
        )
        lis.filter_chains.append(lc.FilterChain(filters=[_hcm_filter(ctx, hcm_configurers)]))
        return lis
    # SNI names of terminating servers are taken: a passthrough route repeating one would
    # make two chains with the same match, which Envoy rejects
    seen_sni = {h for s in servers if not s.is_passthrough and s.server.tls for h in s.sni_hosts}
    for gs in servers:
        lis.filter_chains.extend(
            _server_chains(proxy, push, port, name, gs, seen_sni, hcm_configurers)
        )
    if not lis.filter_chains:
        return None
    if _needs_tls_inspector(lis.filter_chains):
        lis.listener_filters.append(tls_inspector())
    return lis


def gateway_listeners(
    proxy: Proxy,
    push: PushContext,
    hcm_configurers: Sequence[HcmConfigurer] = DEFAULT_HCM_CONFIGURERS,
) -> list[listener_pb2.Listener]:
    """A router's listeners, one per port of its merged Gateways that has a filter chain."""
    out = []
    for port, servers in gateway_servers(proxy, push).items():
        lis = _gateway_listener(proxy, push, port, servers, hcm_configurers)
        if lis is not None:
            out.append(lis)
    return out
