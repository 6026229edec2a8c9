"""DestinationRule traffic policy on outbound clusters, one configurer per concern, applied in
Istio's order: connection pool, HTTP/2 upgrade, outlier detection, load balancer (with
locality), TLS, PROXY protocol.

:func:`effective_traffic_policy` picks the policy for one cluster as Istio merges it: the
top-level policy (replaced as a whole by a ``portLevelSettings`` entry for the port), then the
subset's policy field by field (its own port-level entry replaces the four port-level fields
as a whole). Without a DestinationRule (or a field), the defaults the base configurers set
stay: LEAST_REQUEST, unlimited circuit breakers, the mesh connect timeout, plaintext.

Configurers read ``ctx.traffic_policy`` (the effective policy) and change only their concern.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from envoy.config.cluster.v3 import circuit_breaker_pb2, cluster_pb2, outlier_detection_pb2
from envoy.config.core.v3 import (
    base_pb2,
    config_source_pb2,
    grpc_service_pb2,
    protocol_pb2,
    proxy_protocol_pb2,
)
from envoy.extensions.transport_sockets.proxy_protocol.v3 import upstream_proxy_protocol_pb2
from envoy.extensions.transport_sockets.raw_buffer.v3 import raw_buffer_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2, tls_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2 as hpo
from envoy.type.matcher.v3 import string_pb2
from envoy.type.v3 import percent_pb2
from google.protobuf import wrappers_pb2

from lateen.api import parse_duration
from lateen.api.networking import TrafficPolicy
from lateen.xds._locality import apply_locality_lb, locality_lb_setting, proxy_locality
from lateen.xds._util import duration, pack

if TYPE_CHECKING:
    from lateen.xds.cluster._configurers import OutboundClusterContext

__all__ = [
    "POLICY_CONFIGURERS",
    "SYSTEM_CA_BUNDLE",
    "configure_connection_pool",
    "configure_h2_upgrade",
    "configure_load_balancer",
    "configure_outlier_detection",
    "configure_proxy_protocol",
    "configure_upstream_tls",
    "effective_traffic_policy",
    "istio_mutual_tls_context",
    "port_traffic_policy",
]

HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
TLS_TRANSPORT_SOCKET = "envoy.transport_sockets.tls"
PROXY_PROTOCOL_TRANSPORT_SOCKET = "envoy.transport_sockets.upstream_proxy_protocol"
RAW_BUFFER_TRANSPORT_SOCKET = "envoy.transport_sockets.raw_buffer"
# ``caCertificates`` left empty means the system's trust store (Istio's "system"); Istio's
# agent finds it on the node, here it is the usual Debian/Ubuntu bundle.
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# Istio's ALPN for in-mesh mTLS (metadata exchange first)
ALPN_IN_MESH = ("istio-peer-exchange", "istio")
ALPN_IN_MESH_H2 = ("istio-peer-exchange", "istio", "h2")
SDS_CLUSTER = "sds-grpc"
_MAX = 4294967295

_FIELDS = ("connection_pool", "load_balancer", "outlier_detection", "tls")
# fields a port-level entry does not have: kept from the top level, overridden by a subset's
_WHOLE_POLICY_FIELDS = ("tunnel", "proxy_protocol", "retry_budget")


# ---------------------------------------------------------------------------- merging


def port_traffic_policy(policy: Any, port: int) -> tuple[Any, bool]:
    """``(policy, False)``, or the ``portLevelSettings`` entry for ``port`` as a whole
    TrafficPolicy and True: a port-level entry does not inherit the top-level fields it
    leaves out."""
    if policy is None:
        return None, False
    for pl in policy.port_level_settings:
        if pl.port is not None and pl.port.number == port:
            return TrafficPolicy(**{f: getattr(pl, f) for f in _FIELDS}), True
    return policy, False


def effective_traffic_policy(dr_spec: Any, port: int, subset: str) -> Any:
    """The TrafficPolicy of cluster ``outbound|port|subset|host`` (None when none applies)."""
    if dr_spec is None:
        return None
    top, _ = port_traffic_policy(dr_spec.traffic_policy, port)
    sub = None
    if subset:
        sub = next((s.traffic_policy for s in dr_spec.subsets if s.name == subset), None)
    if sub is None:
        return top
    sub, port_level = port_traffic_policy(sub, port)
    if top is None:
        return sub
    update: dict[str, Any] = {
        f: getattr(sub, f) for f in _FIELDS if port_level or getattr(sub, f) is not None
    }
    for f in _WHOLE_POLICY_FIELDS:
        if getattr(sub, f) is not None:
            update[f] = getattr(sub, f)
    base = TrafficPolicy(**{f: getattr(top, f) for f in (*_FIELDS, *_WHOLE_POLICY_FIELDS)})
    return base.model_copy(update=update)


# ---------------------------------------------------------------------------- helpers


def _seconds(text: str) -> float:
    return parse_duration(text)


def _http_options(c: cluster_pb2.Cluster) -> hpo.HttpProtocolOptions:
    opts = hpo.HttpProtocolOptions()
    if HTTP_PROTOCOL_OPTIONS in c.typed_extension_protocol_options:
        c.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].Unpack(opts)
    return opts


def _store_http_options(c: cluster_pb2.Cluster, opts: hpo.HttpProtocolOptions) -> None:
    if opts.WhichOneof("upstream_protocol_options") is None:
        # Envoy requires a protocol choice; HTTP/1.1 is what a cluster without one speaks
        opts.explicit_http_config.http_protocol_options.SetInParent()
    c.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].CopyFrom(pack(opts))


def _is_http2(c: cluster_pb2.Cluster) -> bool:
    if HTTP_PROTOCOL_OPTIONS not in c.typed_extension_protocol_options:
        return False
    return bool(_http_options(c).explicit_http_config.HasField("http2_protocol_options"))


def _set_h2(opts: hpo.HttpProtocolOptions) -> None:
    opts.explicit_http_config.CopyFrom(
        hpo.HttpProtocolOptions.ExplicitHttpConfig(
            http2_protocol_options=protocol_pb2.Http2ProtocolOptions()
        )
    )


def _u32(value: int) -> wrappers_pb2.UInt32Value:
    return wrappers_pb2.UInt32Value(value=value)


# ---------------------------------------------------------------------------- connection pool


def configure_connection_pool(c: cluster_pb2.Cluster, ctx: OutboundClusterContext) -> None:
    """``connectionPool``: circuit breaker thresholds (``maxConnections``,
    ``http1MaxPendingRequests``, ``http2MaxRequests``, ``maxRetries``; unset or 0 stays
    unlimited), ``connectTimeout``, TCP keepalive, and on the HTTP protocol options
    ``idleTimeout`` (HTTP's, else TCP's), ``maxRequestsPerConnection``,
    ``maxConnectionDuration``, ``maxConcurrentStreams`` (HTTP/2 clusters) and
    ``useClientProtocol``; ``retryBudget`` (a TrafficPolicy field) on the thresholds too."""
    tp = ctx.traffic_policy
    cp = tp.connection_pool if tp is not None else None
    budget = tp.retry_budget if tp is not None else None
    if cp is None and budget is None:
        return
    th = circuit_breaker_pb2.CircuitBreakers.Thresholds(
        max_connections=_u32(_MAX),
        max_pending_requests=_u32(_MAX),
        max_requests=_u32(_MAX),
        max_retries=_u32(_MAX),
        track_remaining=True,
    )
    if budget is not None:  # Istio's defaults: 0.2 (percent) and 3
        th.retry_budget.budget_percent.value = budget.percent if budget.percent is not None else 0.2
        th.retry_budget.min_retry_concurrency.value = budget.min_retry_concurrency or 3
    idle: str | None = None
    per_connection = streams = 0
    max_duration: str | None = None
    http = cp.http if cp is not None else None
    tcp = cp.tcp if cp is not None else None
    if http is not None:
        if http.http2_max_requests > 0:  # Envoy applies it to HTTP/2 only
            th.max_requests.value = http.http2_max_requests
        if http.http1_max_pending_requests > 0:  # Envoy applies it to HTTP/1.1 only
            th.max_pending_requests.value = http.http1_max_pending_requests
        if http.max_retries > 0:
            th.max_retries.value = http.max_retries
        idle = http.idle_timeout
        per_connection = http.max_requests_per_connection
        streams = http.max_concurrent_streams
    if tcp is not None:
        if tcp.connect_timeout is not None:
            c.connect_timeout.CopyFrom(duration(_seconds(tcp.connect_timeout)))
        if tcp.max_connections > 0:
            th.max_connections.value = tcp.max_connections
        max_duration = tcp.max_connection_duration
        if idle is None:
            idle = tcp.idle_timeout
        if (ka := tcp.tcp_keepalive) is not None:
            keepalive = c.upstream_connection_options.tcp_keepalive
            keepalive.SetInParent()  # SO_KEEPALIVE with the OS defaults for what is unset
            if ka.probes > 0:
                keepalive.keepalive_probes.value = ka.probes
            if ka.time is not None:
                keepalive.keepalive_time.value = int(_seconds(ka.time))
            if ka.interval is not None:
                keepalive.keepalive_interval.value = int(_seconds(ka.interval))
    c.circuit_breakers.CopyFrom(circuit_breaker_pb2.CircuitBreakers(thresholds=[th]))
    if max_duration is not None or idle is not None or per_connection > 0 or streams > 0:
        opts = _http_options(c)
        common = opts.common_http_protocol_options
        if idle is not None:
            common.idle_timeout.CopyFrom(duration(_seconds(idle)))
        if per_connection > 0:
            common.max_requests_per_connection.value = per_connection
        if max_duration is not None:
            common.max_connection_duration.CopyFrom(duration(_seconds(max_duration)))
        if streams > 0 and opts.explicit_http_config.HasField("http2_protocol_options"):
            opts.explicit_http_config.http2_protocol_options.max_concurrent_streams.value = streams
        _store_http_options(c, opts)
    if http is not None and http.use_client_protocol:
        opts = _http_options(c)
        opts.use_downstream_protocol_config.CopyFrom(
            hpo.HttpProtocolOptions.UseDownstreamHttpConfig(
                http_protocol_options=protocol_pb2.Http1ProtocolOptions(),
                http2_protocol_options=protocol_pb2.Http2ProtocolOptions(),
            )
        )
        _store_http_options(c, opts)


def configure_h2_upgrade(c: cluster_pb2.Cluster, ctx: OutboundClusterContext) -> None:
    """``h2UpgradePolicy: UPGRADE`` makes the cluster speak HTTP/2 upstream (the mesh default,
    DO_NOT_UPGRADE, leaves it)."""
    tp = ctx.traffic_policy
    cp = tp.connection_pool if tp is not None else None
    if cp is None or cp.http is None or cp.http.h2_upgrade_policy != "UPGRADE":
        return
    opts = _http_options(c)
    _set_h2(opts)
    _store_http_options(c, opts)


# ---------------------------------------------------------------------------- outlier detection


def configure_outlier_detection(c: cluster_pb2.Cluster, ctx: OutboundClusterContext) -> None:
    """``outlierDetection``: consecutive 5xx / gateway errors (enforced at 100% when > 0),
    local-origin failures when split, interval, base ejection time, max ejection percent;
    success-rate ejection off; ``minHealthPercent`` becomes the panic threshold (0 when
    unset: Istio turns Envoy's 50% panic mode off). ``consecutiveErrors`` is deprecated and
    ignored, as in Istio."""
    tp = ctx.traffic_policy
    od = tp.outlier_detection if tp is not None else None
    if od is None:
        return
    out = outlier_detection_pb2.OutlierDetection(enforcing_success_rate=_u32(0))
    if od.consecutive_5xx_errors is not None:
        out.consecutive_5xx.value = od.consecutive_5xx_errors
        out.enforcing_consecutive_5xx.CopyFrom(_u32(100 if od.consecutive_5xx_errors else 0))
    if od.consecutive_gateway_errors is not None:
        out.consecutive_gateway_failure.value = od.consecutive_gateway_errors
        out.enforcing_consecutive_gateway_failure.CopyFrom(
            _u32(100 if od.consecutive_gateway_errors else 0)
        )
    if od.interval is not None:
        out.interval.CopyFrom(duration(_seconds(od.interval)))
    if od.base_ejection_time is not None:
        out.base_ejection_time.CopyFrom(duration(_seconds(od.base_ejection_time)))
    if od.max_ejection_percent > 0:
        out.max_ejection_percent.value = od.max_ejection_percent
    if od.split_external_local_origin_errors:
        out.split_external_local_origin_errors = True
        if (od.consecutive_local_origin_failures or 0) > 0:
            out.consecutive_local_origin_failure.value = od.consecutive_local_origin_failures
            out.enforcing_consecutive_local_origin_failure.value = 100
        out.enforcing_local_origin_success_rate.CopyFrom(_u32(0))
    c.outlier_detection.CopyFrom(out)
    if od.min_health_percent >= 0:
        c.common_lb_config.healthy_panic_threshold.CopyFrom(
            percent_pb2.Percent(value=float(od.min_health_percent))
        )


# ---------------------------------------------------------------------------- load balancer


def _slow_start(lb: Any) -> cluster_pb2.Cluster.SlowStartConfig | None:
    if (w := lb.warmup) is not None:
        cfg = cluster_pb2.Cluster.SlowStartConfig(
            aggression=base_pb2.RuntimeDouble(
                default_value=w.aggression if w.aggression is not None else 1.0,
                runtime_key="(",  # Istio fixes the value: a key no runtime layer sets
            ),
            min_weight_percent=percent_pb2.Percent(
                value=w.minimum_percent if w.minimum_percent is not None else 10.0
            ),
        )
        if w.duration is not None:
            cfg.slow_start_window.CopyFrom(duration(_seconds(w.duration)))
        return cfg
    if lb.warmup_duration_secs is not None:
        return cluster_pb2.Cluster.SlowStartConfig(
            slow_start_window=duration(_seconds(lb.warmup_duration_secs))
        )
    return None


def _consistent_hash(c: cluster_pb2.Cluster, ch: Any) -> None:
    c.ClearField("lb_config")  # the oneof: no slow start with a hash
    if ch.maglev is not None:
        c.lb_policy = cluster_pb2.Cluster.MAGLEV
        if ch.maglev.table_size:
            c.maglev_lb_config.table_size.value = ch.maglev.table_size
        return
    c.lb_policy = cluster_pb2.Cluster.RING_HASH
    if ch.ring_hash is not None:
        if ch.ring_hash.minimum_ring_size:
            c.ring_hash_lb_config.minimum_ring_size.value = ch.ring_hash.minimum_ring_size
        return
    c.ring_hash_lb_config.minimum_ring_size.value = ch.minimum_ring_size or 1024


def configure_load_balancer(c: cluster_pb2.Cluster, ctx: OutboundClusterContext) -> None:
    """``loadBalancer``: ``simple`` (LEAST_REQUEST default, ROUND_ROBIN, RANDOM, PASSTHROUGH
    -> ORIGINAL_DST) with its warmup (slow start), ``consistentHash`` (RING_HASH with
    ``minimumRingSize``, 1024 by default, or MAGLEV with ``tableSize``; the hash key goes on
    the routes), and ``localityLbSetting`` (locality-weighted config for ``distribute`` or for
    failover with outlier detection; DNS clusters get their priorities here, EDS clusters in
    EDS)."""
    tp = ctx.traffic_policy
    lb = tp.load_balancer if tp is not None else None
    setting = locality_lb_setting(
        lb.locality_lb_setting if lb is not None else None,
        getattr(ctx.push.mesh, "locality_lb_setting", None),
    )
    failover = c.HasField("outlier_detection")
    if setting is not None and (
        setting.distribute or (failover and (setting.failover or setting.failover_priority))
    ):
        c.common_lb_config.locality_weighted_lb_config.SetInParent()
    if setting is not None and c.HasField("load_assignment"):
        apply_locality_lb(
            c.load_assignment,
            None,
            proxy_locality(ctx.proxy, ctx.push),
            ctx.proxy.labels,
            setting,
            failover,
        )
    if c.type == cluster_pb2.Cluster.ORIGINAL_DST:
        c.lb_policy = cluster_pb2.Cluster.CLUSTER_PROVIDED
        return
    if lb is None:
        return
    simple = lb.simple
    if simple == "RANDOM":
        c.lb_policy = cluster_pb2.Cluster.RANDOM
    elif simple == "PASSTHROUGH":
        c.lb_policy = cluster_pb2.Cluster.CLUSTER_PROVIDED
        c.type = cluster_pb2.Cluster.ORIGINAL_DST
        c.ClearField("load_assignment")
        c.ClearField("eds_cluster_config")
    elif simple == "ROUND_ROBIN":
        c.lb_policy = cluster_pb2.Cluster.ROUND_ROBIN
        if (slow := _slow_start(lb)) is not None:
            c.round_robin_lb_config.slow_start_config.CopyFrom(slow)
    else:  # LEAST_REQUEST, LEAST_CONN (deprecated alias), unset
        c.lb_policy = cluster_pb2.Cluster.LEAST_REQUEST
        if (slow := _slow_start(lb)) is not None:
            c.least_request_lb_config.slow_start_config.CopyFrom(slow)
    if lb.consistent_hash is not None:
        _consistent_hash(c, lb.consistent_hash)


# ---------------------------------------------------------------------------- TLS


def _sds(name: str) -> secret_pb2.SdsSecretConfig:
    """An SDS secret from the agent (``default``: workload cert, ``ROOTCA``: trust bundle),
    as Istio's sidecars fetch them over the ``sds-grpc`` cluster."""
    return secret_pb2.SdsSecretConfig(
        name=name,
        sds_config=config_source_pb2.ConfigSource(
            api_config_source=config_source_pb2.ApiConfigSource(
                api_type=config_source_pb2.ApiConfigSource.GRPC,
                set_node_on_first_message_only=True,
                transport_api_version=config_source_pb2.V3,
                grpc_services=[
                    grpc_service_pb2.GrpcService(
                        envoy_grpc=grpc_service_pb2.GrpcService.EnvoyGrpc(cluster_name=SDS_CLUSTER)
                    )
                ],
            ),
            initial_fetch_timeout=duration(0),
            resource_api_version=config_source_pb2.V3,
        ),
    )


def _exact(names: list[str]) -> list[string_pb2.StringMatcher]:
    return [string_pb2.StringMatcher(exact=n) for n in names]


def istio_mutual_tls_context(
    cluster_name: str, sni: str, subject_alt_names: list[str], h2: bool
) -> tls_pb2.UpstreamTlsContext:
    """Istio's ISTIO_MUTUAL client context: the workload cert ``default`` and the trust
    bundle ``ROOTCA`` from SDS, SNI (the cluster name unless set), in-mesh ALPN."""
    ctx = tls_pb2.UpstreamTlsContext(sni=sni or cluster_name)
    common = ctx.common_tls_context
    common.tls_certificate_sds_secret_configs.append(_sds("default"))
    combined = common.combined_validation_context
    combined.default_validation_context.match_subject_alt_names.extend(_exact(subject_alt_names))
    combined.validation_context_sds_secret_config.CopyFrom(_sds("ROOTCA"))
    common.alpn_protocols.extend(ALPN_IN_MESH_H2 if h2 else ALPN_IN_MESH)
    # Envoy's client default tops out at TLS 1.2; Istio allows 1.3 in the mesh
    common.tls_params.tls_minimum_protocol_version = common_pb2.TlsParameters.TLSv1_2
    common.tls_params.tls_maximum_protocol_version = common_pb2.TlsParameters.TLSv1_3
    return ctx


def sds_available(ctx: OutboundClusterContext) -> bool:
    """Whether the proxy can fetch its workload certificate over SDS: its agent has a CA
    and says so in the node metadata (``LATEEN_SDS``); its bootstrap then has ``sds-grpc``.
    Without it, ISTIO_MUTUAL clusters stay plaintext."""
    from lateen.xds._mtls import sds_enabled

    return sds_enabled(ctx.proxy)


def _credential_allowed(ctx: OutboundClusterContext) -> bool:
    """Whether a ``credentialName`` rule originates TLS for this proxy: on gateways (routers;
    an egress gateway is the usual case). Istio leaves a sidecar's cluster without TLS for a
    rule that has no ``workloadSelector`` (every sidecar would otherwise wait for a secret
    it may not read); Lateen serves credentials to gateways only, so sidecars always do."""
    from lateen.model._proxy import ProxyType

    return ctx.proxy.type is ProxyType.ROUTER


def _credential_tls(common: common_pb2.CommonTlsContext, tls: Any, mutual: bool) -> None:
    """Istio's ``ApplyCustomSDSToClientCommonTLSContext``: MUTUAL presents the credential's
    certificate (``kubernetes://<name>``); unless ``insecureSkipVerify``, the server is
    checked against the credential's CA (``kubernetes://<name>-cacert``) and
    ``subjectAltNames``. Served by the control plane over ADS (:mod:`lateen.xds.secret`)."""
    from lateen.api.credentials import CACERT_SUFFIX
    from lateen.xds.secret import credential_sds_config

    if mutual:
        common.tls_certificate_sds_secret_configs.append(credential_sds_config(tls.credential_name))
    if tls.insecure_skip_verify:
        return
    combined = common.combined_validation_context
    combined.default_validation_context.SetInParent()
    combined.default_validation_context.match_subject_alt_names.extend(
        _exact(list(tls.subject_alt_names))
    )
    combined.validation_context_sds_secret_config.CopyFrom(
        credential_sds_config(tls.credential_name + CACERT_SUFFIX)
    )


def _simple_or_mutual(c: cluster_pb2.Cluster, tls: Any, mutual: bool) -> tls_pb2.UpstreamTlsContext:
    out = tls_pb2.UpstreamTlsContext(sni=tls.sni)
    common = out.common_tls_context
    if tls.credential_name:
        _credential_tls(common, tls, mutual)
    elif mutual:
        common.tls_certificates.append(
            common_pb2.TlsCertificate(
                certificate_chain=base_pb2.DataSource(filename=tls.client_certificate),
                private_key=base_pb2.DataSource(filename=tls.private_key),
            )
        )
    if tls.credential_name:
        pass
    elif tls.insecure_skip_verify:
        common.validation_context.SetInParent()
    else:
        vc = common_pb2.CertificateValidationContext(
            trusted_ca=base_pb2.DataSource(filename=tls.ca_certificates or SYSTEM_CA_BUNDLE),
            match_subject_alt_names=_exact(list(tls.subject_alt_names)),
        )
        if tls.ca_crl:
            vc.crl.CopyFrom(base_pb2.DataSource(filename=tls.ca_crl))
        common.validation_context.CopyFrom(vc)
    if _is_http2(c):
        common.alpn_protocols.append("h2")
    # without an explicit SNI, send the request's host and check the certificate against it
    auto_sni = not tls.sni
    auto_san = auto_sni and not tls.subject_alt_names and not tls.insecure_skip_verify
    if auto_sni or auto_san:
        opts = _http_options(c)
        if auto_sni:
            opts.upstream_http_protocol_options.auto_sni = True
        if auto_san:
            opts.upstream_http_protocol_options.auto_san_validation = True
        _store_http_options(c, opts)
    return out


def configure_upstream_tls(c: cluster_pb2.Cluster, ctx: OutboundClusterContext) -> None:
    """``tls``: SIMPLE / MUTUAL originate TLS with the certificate files the rule names
    (``caCertificates`` empty: the system bundle; ``insecureSkipVerify``: no verification;
    ``subjectAltNames``, ``sni``, ``caCrl``), or on gateways with ``credentialName`` (the
    Secret's certificate and CA over SDS from the control plane; sidecars stay plaintext, as
    Istio's do for such a rule without a workload selector); DISABLE stays plaintext.
    ISTIO_MUTUAL needs the agent's SDS server (:func:`sds_available`)."""
    tp = ctx.traffic_policy
    tls = tp.tls if tp is not None else None
    if tls is None or tls.mode == "DISABLE":
        return
    if tls.mode == "ISTIO_MUTUAL":
        if sds_available(ctx):
            from lateen.xds._mtls import service_account_sans
            from lateen.xds.names import sni_name

            host, port = ctx.service.hostname, ctx.port.port
            sans = list(tls.subject_alt_names) or service_account_sans(
                ctx.push.mesh.trust_domain, ctx.push.endpoints(ctx.service, port)
            )
            sni = tls.sni or sni_name(port, ctx.subset, host)
            context = istio_mutual_tls_context(c.name, sni, sans, _is_http2(c))
            c.transport_socket.name = TLS_TRANSPORT_SOCKET
            c.transport_socket.typed_config.CopyFrom(pack(context))
        return
    if tls.credential_name and not _credential_allowed(ctx):
        return  # a sidecar: plaintext, as Istio (credentials are for gateways)
    context = _simple_or_mutual(c, tls, tls.mode == "MUTUAL")
    c.transport_socket.name = TLS_TRANSPORT_SOCKET
    c.transport_socket.typed_config.CopyFrom(pack(context))


def configure_proxy_protocol(c: cluster_pb2.Cluster, ctx: OutboundClusterContext) -> None:
    """``proxyProtocol``: send a PROXY protocol header (V1/V2) ahead of the connection's bytes
    (plaintext or TLS)."""
    tp = ctx.traffic_policy
    pp = tp.proxy_protocol if tp is not None else None
    if pp is None:
        return
    inner = base_pb2.TransportSocket()
    if c.HasField("transport_socket"):
        inner.CopyFrom(c.transport_socket)
    else:
        inner.name = RAW_BUFFER_TRANSPORT_SOCKET
        inner.typed_config.CopyFrom(pack(raw_buffer_pb2.RawBuffer()))
    version = (
        proxy_protocol_pb2.ProxyProtocolConfig.V2
        if pp.version == "V2"
        else proxy_protocol_pb2.ProxyProtocolConfig.V1
    )
    wrapped = upstream_proxy_protocol_pb2.ProxyProtocolUpstreamTransport(
        config=proxy_protocol_pb2.ProxyProtocolConfig(version=version), transport_socket=inner
    )
    c.transport_socket.name = PROXY_PROTOCOL_TRANSPORT_SOCKET
    c.transport_socket.typed_config.CopyFrom(pack(wrapped))


POLICY_CONFIGURERS: tuple[Callable[[cluster_pb2.Cluster, OutboundClusterContext], None], ...] = (
    configure_connection_pool,
    configure_h2_upgrade,
    configure_outlier_detection,
    configure_load_balancer,
    configure_upstream_tls,
    configure_proxy_protocol,
)
