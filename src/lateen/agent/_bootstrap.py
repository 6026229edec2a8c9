"""The Envoy bootstrap, rendered as Istio's pilot-agent renders ``envoy-rev.json``.

:func:`render_bootstrap` is pure: it reads nothing but its :class:`BootstrapOptions` and
returns a plain JSON-able ``dict`` (the file Envoy is started with). Layout::

    node                 id TYPE~IP~POD.NS~NS.svc.cluster.local, cluster APP.NS, Istio metadata
    layered_runtime      static "global config" layer (Istio's runtime flags) + "admin" layer
    overload_manager     global downstream connection limit (Istio's 2147483647)
    stats_config         Istio's stats tags and inclusion matcher
    admin                ADMIN_ADDRESS:15000
    dynamic_resources    ADS (GRPC or DELTA_GRPC) over cluster xds-grpc, with the pod's token as
                         ``authorization: Bearer`` metadata when it has one; CDS and LDS via ADS
    static_resources
      clusters           xds-grpc (HTTP/2, to the discovery address), prometheus_stats (admin),
                         with SDS: sds-grpc (HTTP/2 over the agent's Unix socket)
      listeners          prometheus_stats on POD_IP:15090 -> /stats/prometheus on the admin
"""

from __future__ import annotations

import ipaddress
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "ISTIO_VERSION",
    "SDS_CLUSTER",
    "SDS_METADATA_KEY",
    "BootstrapOptions",
    "ProxyKind",
    "base_id",
    "node_id",
    "render_bootstrap",
    "service_cluster",
    "workload_name_from_pod",
]

SDS_METADATA_KEY = "LATEEN_SDS"
SDS_CLUSTER = "sds-grpc"
ISTIO_VERSION = "1.24.0"  # the Istio release whose agent behaviour we follow

_HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
_HTTP_OPTS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
_HTTP_OPTS_TYPE = f"type.googleapis.com/{_HTTP_OPTS}"

# Istio's stats_config.stats_tags (tools/packaging/common/envoy_bootstrap.json), in order.
_STATS_TAGS: tuple[tuple[str, str], ...] = (
    ("cluster_name", r"^cluster\.((.+?(\..+?\.svc\.cluster\.local)?)\.)"),
    ("tcp_prefix", r"^tcp\.((.*?)\.)\w+?$"),
    ("response_code", r"_rq(_(\d{3}))$"),
    ("response_code_class", r"_rq(_(\dxx))$"),
    ("http_conn_manager_listener_prefix",
     r"^listener(?=\.).*?\.http\.(((?:[_.[:digit:]]*|[_\[\]aAbBcCdDeEfF[:digit:]]*))\.)"),
    ("http_conn_manager_prefix", r"^http\.(((?:[_.[:digit:]]*|[_\[\]aAbBcCdDeEfF[:digit:]]*))\.)"),
    ("listener_address", r"^listener\.(((?:[_.[:digit:]]*|[_\[\]aAbBcCdDeEfF[:digit:]]*))\.)"),
    ("mongo_prefix", r"^mongo\.(.+?)\.(collection|cmd|cx_|op_|delays_|decoding_)(.*?)$"),
    ("cache", r"(cache\.(.+?)\.)"),
    ("component", r"(component\.(.+?)\.)"),
    ("tag", r"(tag\.(.+?);\.)"),
    ("wasm_filter", r"(wasm_filter\.(.+?)\.)"),
    ("authz_enforce_result", r"rbac(\.(allowed|denied))"),
    ("authz_dry_run_action", r"(\.istio_dry_run_(allow|deny)_)"),
    ("authz_dry_run_result", r"(\.shadow_(allowed|denied))"),
)

# Istio's default stats inclusion list (what ``proxyStatsMatcher`` adds to).
_DEFAULT_INCLUSION_PREFIXES = (
    "reporter=", "cluster_manager", "listener_manager", "server", "cluster.xds-grpc", "wasm",
    "component", "istio",
)
_DEFAULT_INCLUSION_SUFFIXES = ("rbac.allowed", "rbac.denied", "shadow_allowed", "shadow_denied")
_DEFAULT_INCLUSION_REGEXPS = (r"vhost\..*\.route\..*",)


class ProxyKind(StrEnum):
    SIDECAR = "sidecar"
    ROUTER = "router"


@dataclass(frozen=True, slots=True)
class BootstrapOptions:
    """Everything the bootstrap depends on. Addresses default to the pod address (admin: the
    pod's address when it is a loopback address, else 127.0.0.1)."""

    pod_name: str
    namespace: str = "default"
    pod_ip: str = "127.0.0.1"
    kind: ProxyKind = ProxyKind.SIDECAR
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    service_account: str = "default"
    workload_name: str = ""  # default: derived from the pod name
    cluster_id: str = "Kubernetes"
    mesh_id: str = "cluster.local"
    trust_domain: str = "cluster.local"
    discovery_address: str = "127.0.0.1:15010"
    delta: bool = False
    admin_address: str = ""  # default: pod_ip if loopback, else 127.0.0.1
    admin_port: int = 15000
    stats_address: str = ""  # default: pod_ip
    stats_port: int = 15090
    status_port: int = 15021
    drain_duration_s: float = 45.0
    termination_drain_duration_s: float = 5.0
    concurrency: int = 2
    istio_version: str = ISTIO_VERSION
    stats_inclusion_prefixes: tuple[str, ...] = ()
    stats_inclusion_suffixes: tuple[str, ...] = ()
    stats_inclusion_regexps: tuple[str, ...] = ()
    extra_metadata: Mapping[str, Any] = field(default_factory=dict)
    sds_socket: str = ""  # the agent's SDS Unix socket; "" without SDS
    # the pod's CA token: sent on the ADS stream (``authorization: Bearer``) so the control
    # plane knows who the proxy is (gateway credentials over SDS); "" sends none
    xds_token: str = field(default="", repr=False)

    @property
    def resolved_admin_address(self) -> str:
        if self.admin_address:
            return self.admin_address
        return self.pod_ip if _is_loopback(self.pod_ip) else "127.0.0.1"

    @property
    def resolved_stats_address(self) -> str:
        return self.stats_address or self.pod_ip

    @property
    def resolved_workload_name(self) -> str:
        return self.workload_name or workload_name_from_pod(self.pod_name)


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _is_ip(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


_DEPLOYMENT_POD = re.compile(r"^(?P<name>.+)-[a-z0-9]{5,10}-[a-z0-9]{5}$")


def workload_name_from_pod(pod_name: str) -> str:
    """``reviews-v1-545db77b95-2xk8p`` -> ``reviews-v1`` (a Deployment's pod); else the pod name."""
    m = _DEPLOYMENT_POD.match(pod_name)
    return m.group("name") if m else pod_name


def node_id(opts: BootstrapOptions) -> str:
    """``sidecar~198.19.0.10~productpage-v1-abc.default~default.svc.cluster.local``."""
    return f"{opts.kind}~{opts.pod_ip}~{opts.pod_name}.{opts.namespace}~{opts.namespace}.svc.cluster.local"


def service_cluster(opts: BootstrapOptions) -> str:
    """Istio's service cluster: the canonical service name (labels
    ``service.istio.io/canonical-name``, ``app.kubernetes.io/name``, ``app``; else the workload
    name) dot namespace."""
    return f"{_canonical_name(opts)}.{opts.namespace}"


def _canonical_name(opts: BootstrapOptions) -> str:
    labels = opts.labels
    return (
        labels.get("service.istio.io/canonical-name")
        or labels.get("app.kubernetes.io/name")
        or labels.get("app")
        or opts.resolved_workload_name
    )


def base_id(opts: BootstrapOptions) -> int:
    """A stable Envoy ``--base-id`` per proxy (node id + admin address), so two proxies on one
    machine never share Envoy's shared-memory names."""
    key = f"{node_id(opts)}|{opts.resolved_admin_address}:{opts.admin_port}"
    return zlib.crc32(key.encode()) % 1_000_000


def _duration(seconds: float) -> str:
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return f"{text}s"


def _split_host_port(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"discovery address {address!r} is not HOST:PORT")
    host = host.strip("[]")
    if not host:
        raise ValueError(f"discovery address {address!r} has no host")
    return host, int(port)


def _socket_address(address: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"protocol": "TCP", "address": address, "port_value": port}}


def _proxy_config(opts: BootstrapOptions) -> dict[str, Any]:
    """The ``PROXY_CONFIG`` metadata: the effective ProxyConfig, camelCase as in Istio."""
    return {
        "binaryPath": "envoy",
        "concurrency": opts.concurrency,
        "configPath": "./etc/istio/proxy",
        "discoveryAddress": opts.discovery_address,
        "drainDuration": _duration(opts.drain_duration_s),
        "proxyAdminPort": opts.admin_port,
        "serviceCluster": _canonical_name(opts),
        "statNameLength": 189,
        "statusPort": opts.status_port,
        "terminationDrainDuration": _duration(opts.termination_drain_duration_s),
    }


def _metadata(opts: BootstrapOptions) -> dict[str, Any]:
    workload = opts.resolved_workload_name
    md: dict[str, Any] = {
        "CLUSTER_ID": opts.cluster_id,
        "ENVOY_PROMETHEUS_PORT": opts.stats_port,
        "ENVOY_STATUS_PORT": opts.status_port,
        "INSTANCE_IPS": opts.pod_ip,
        "INTERCEPTION_MODE": "REDIRECT",
        "ISTIO_VERSION": opts.istio_version,
        "LABELS": {str(k): str(v) for k, v in sorted(opts.labels.items())},
        "MESH_ID": opts.mesh_id,
        "NAME": opts.pod_name,
        "NAMESPACE": opts.namespace,
        "OWNER": f"kubernetes://apis/apps/v1/namespaces/{opts.namespace}/deployments/{workload}",
        "PILOT_SAN": [],
        "PROXY_CONFIG": _proxy_config(opts),
        "SERVICE_ACCOUNT": opts.service_account,
        "WORKLOAD_NAME": workload,
    }
    if opts.sds_socket:
        md[SDS_METADATA_KEY] = "true"  # tells the control plane it may use SDS secrets
    if opts.annotations:
        md["ANNOTATIONS"] = {str(k): str(v) for k, v in sorted(opts.annotations.items())}
    for k, v in opts.extra_metadata.items():
        md[str(k)] = v
    return md


def _runtime() -> dict[str, Any]:
    return {
        "layers": [
            {
                "name": "global config",
                "static_layer": {
                    "envoy.reloadable_features.http_reject_path_with_fragment": False,
                    "re2.max_program_size.error_level": 32768,
                },
            },
            {"name": "admin", "admin_layer": {}},
        ]
    }


def _overload_manager() -> dict[str, Any]:
    """Istio's global downstream connection cap, as an overload-manager resource monitor."""
    return {
        "resource_monitors": [
            {
                "name": "envoy.resource_monitors.global_downstream_max_connections",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.resource_monitors."
                    "downstream_connections.v3.DownstreamConnectionsConfig",
                    "max_active_downstream_connections": 2147483647,
                },
            }
        ]
    }


def _stats_config(opts: BootstrapOptions) -> dict[str, Any]:
    patterns: list[dict[str, Any]] = []
    for p in (*_DEFAULT_INCLUSION_PREFIXES, *opts.stats_inclusion_prefixes):
        patterns.append({"prefix": p})
    for s in (*_DEFAULT_INCLUSION_SUFFIXES, *opts.stats_inclusion_suffixes):
        patterns.append({"suffix": s})
    for r in (*_DEFAULT_INCLUSION_REGEXPS, *opts.stats_inclusion_regexps):
        patterns.append({"safe_regex": {"regex": r}})
    return {
        "use_all_default_tags": False,
        "stats_tags": [{"tag_name": name, "regex": regex} for name, regex in _STATS_TAGS],
        "stats_matcher": {"inclusion_list": {"patterns": patterns}},
    }


def _xds_cluster(opts: BootstrapOptions) -> dict[str, Any]:
    host, port = _split_host_port(opts.discovery_address)
    thresholds = {"max_connections": 100000, "max_pending_requests": 100000, "max_requests": 100000}
    return {
        "name": "xds-grpc",
        "type": "STATIC" if _is_ip(host) else "STRICT_DNS",
        "connect_timeout": "1s",
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": {
            "cluster_name": "xds-grpc",
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _socket_address(host, port)}}]}],
        },
        "circuit_breakers": {
            "thresholds": [
                {"priority": "DEFAULT", **thresholds},
                {"priority": "HIGH", **thresholds},
            ]
        },
        "upstream_connection_options": {"tcp_keepalive": {"keepalive_time": 300}},
        "typed_extension_protocol_options": {
            _HTTP_OPTS: {
                "@type": _HTTP_OPTS_TYPE,
                "explicit_http_config": {
                    "http2_protocol_options": {
                        "connection_keepalive": {"interval": "30s", "timeout": "10s"}
                    }
                },
            }
        },
    }


def _sds_cluster(opts: BootstrapOptions) -> dict[str, Any]:
    """``sds-grpc``: the agent's SDS server over its Unix socket, HTTP/2, as Istio's."""
    return {
        "name": SDS_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": SDS_CLUSTER,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"pipe": {"path": opts.sds_socket}}}}]}],
        },
        "typed_extension_protocol_options": {
            _HTTP_OPTS: {"@type": _HTTP_OPTS_TYPE, "explicit_http_config": {"http2_protocol_options": {}}}
        },
    }


def _prometheus_cluster(opts: BootstrapOptions) -> dict[str, Any]:
    return {
        "name": "prometheus_stats",
        "type": "STATIC",
        "connect_timeout": "0.250s",
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": {
            "cluster_name": "prometheus_stats",
            "endpoints": [
                {
                    "lb_endpoints": [
                        {"endpoint": {"address": _socket_address(opts.resolved_admin_address, opts.admin_port)}}
                    ]
                }
            ],
        },
    }


def _prometheus_listener(opts: BootstrapOptions) -> dict[str, Any]:
    return {
        "name": "prometheus_stats",
        "address": _socket_address(opts.resolved_stats_address, opts.stats_port),
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": _HCM,
                            "codec_type": "AUTO",
                            "stat_prefix": "stats",
                            "route_config": {
                                "virtual_hosts": [
                                    {
                                        "name": "backend",
                                        "domains": ["*"],
                                        "routes": [
                                            {
                                                "match": {"prefix": "/stats/prometheus"},
                                                "route": {"cluster": "prometheus_stats"},
                                            }
                                        ],
                                    }
                                ]
                            },
                            "http_filters": [
                                {"name": "envoy.filters.http.router", "typed_config": {"@type": _ROUTER}}
                            ],
                        },
                    }
                ]
            }
        ],
    }


def render_bootstrap(opts: BootstrapOptions) -> dict[str, Any]:
    """The Envoy bootstrap for ``opts`` (pure; see the module docstring for the layout)."""

    def ads_source() -> dict[str, Any]:
        return {"ads": {}, "initial_fetch_timeout": "0s", "resource_api_version": "V3"}

    ads_service: dict[str, Any] = {"envoy_grpc": {"cluster_name": "xds-grpc"}}
    if opts.xds_token:
        ads_service["initial_metadata"] = [
            {"key": "authorization", "value": f"Bearer {opts.xds_token}"}
        ]

    return {
        "node": {
            "id": node_id(opts),
            "cluster": service_cluster(opts),
            "locality": {},
            "metadata": _metadata(opts),
        },
        "layered_runtime": _runtime(),
        "overload_manager": _overload_manager(),
        "stats_config": _stats_config(opts),
        "admin": {
            "address": _socket_address(opts.resolved_admin_address, opts.admin_port),
        },
        "dynamic_resources": {
            "ads_config": {
                "api_type": "DELTA_GRPC" if opts.delta else "GRPC",
                "transport_api_version": "V3",
                "set_node_on_first_message_only": True,
                "grpc_services": [ads_service],
            },
            "cds_config": ads_source(),
            "lds_config": ads_source(),
        },
        "static_resources": {
            "clusters": [
                _prometheus_cluster(opts),
                *([_sds_cluster(opts)] if opts.sds_socket else []),
                _xds_cluster(opts),
            ],
            "listeners": [_prometheus_listener(opts)],
        },
    }
