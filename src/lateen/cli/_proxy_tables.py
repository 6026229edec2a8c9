"""Envoy admin output and the control plane's syncz as istioctl's ``proxy-config`` and
``proxy-status`` tables. Pure: JSON in (as Envoy's ``/config_dump`` and
``/clusters?format=json`` and ``/debug/syncz`` return it), rows out; no I/O.

Each ``*_rows`` function returns the header row followed by the data rows, in istioctl's
order; :func:`lateen.cli._common.format_table` lays them out with istioctl's padding
(:data:`PADDING`)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lateen.cli._common import format_table
from lateen.xds.names import (
    BLACKHOLE_CLUSTER,
    PASSTHROUGH_CLUSTER,
    parse_cluster_name,
)

__all__ = [
    "CONFIG_KINDS",
    "PADDING",
    "ClusterFilter",
    "ConfigQuery",
    "EndpointFilter",
    "ListenerFilter",
    "bootstrap_of",
    "cluster_rows",
    "clusters_of",
    "config_ref",
    "describe_route_domains",
    "dump_section",
    "endpoint_rows",
    "endpoint_statuses",
    "filter_clusters",
    "filter_listeners",
    "filter_route_configs",
    "listener_rows",
    "listeners_of",
    "render_proxy_config",
    "route_configs_of",
    "route_rows",
    "secret_rows",
    "secrets_of",
    "status_rows",
    "sync_status",
]

Row = list[str]

#: istioctl's tabwriter padding per table
PADDING = {"cluster": 5, "listener": 1, "route": 5, "endpoint": 5, "secret": 5, "status": 5}

HCM = "envoy.filters.network.http_connection_manager"
TCP_PROXY = "envoy.filters.network.tcp_proxy"


# -- config_dump sections --------------------------------------------------------------------


def dump_section(dump: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    """The ``configs`` entry of ``dump`` whose ``@type`` ends with ``name``
    (``ClustersConfigDump``, ``ListenersConfigDump``, ``RoutesConfigDump``...)."""
    for c in dump.get("configs") or []:
        if isinstance(c, dict) and str(c.get("@type", "")).rsplit(".", 1)[-1] == name:
            return c
    return None


def bootstrap_of(dump: Mapping[str, Any]) -> dict[str, Any]:
    return dump_section(dump, "BootstrapConfigDump") or {}


def clusters_of(dump: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Active dynamic clusters, then static ones (warming clusters are left out, as istioctl does)."""
    sec = dump_section(dump, "ClustersConfigDump") or {}
    out = [c["cluster"] for c in sec.get("dynamic_active_clusters") or [] if c.get("cluster")]
    out += [c["cluster"] for c in sec.get("static_clusters") or [] if c.get("cluster")]
    return out


def listeners_of(dump: Mapping[str, Any]) -> list[dict[str, Any]]:
    sec = dump_section(dump, "ListenersConfigDump") or {}
    out = [
        d["active_state"]["listener"]
        for d in sec.get("dynamic_listeners") or []
        if (d.get("active_state") or {}).get("listener")
    ]
    out += [s["listener"] for s in sec.get("static_listeners") or [] if s.get("listener")]
    return out


def route_configs_of(dump: Mapping[str, Any]) -> list[dict[str, Any]]:
    """RDS route configurations then the inline ones (which Envoy lists as static), numeric
    names first in numeric order as istioctl sorts them."""
    sec = dump_section(dump, "RoutesConfigDump") or {}
    out = [r["route_config"] for r in sec.get("dynamic_route_configs") or [] if r.get("route_config")]
    out += [r["route_config"] for r in sec.get("static_route_configs") or [] if r.get("route_config")]

    def key(rc: Mapping[str, Any]) -> tuple[int, int]:
        name = str(rc.get("name", ""))
        return (0, int(name)) if name.isdigit() else (1, 0)

    return sorted(out, key=key)


def secrets_of(dump: Mapping[str, Any]) -> dict[str, Any]:
    return dump_section(dump, "SecretsConfigDump") or {}


def config_ref(path: str) -> str:
    """Istio's ``istio.config`` metadata (``/apis/networking.istio.io/v1alpha3/namespaces/
    default/destination-rule/reviews``) as istioctl shows it: ``reviews.default``."""
    pieces = path.split("/")
    if path.startswith("/apis/") and len(pieces) == 8 and pieces[4] == "namespaces":
        return f"{pieces[7]}.{pieces[5]}"
    return "<unknown>"


def _management(metadata: Mapping[str, Any] | None) -> str:
    config = ((metadata or {}).get("filter_metadata") or {}).get("istio", {}).get("config")
    return config_ref(str(config)) if config else ""


# -- clusters ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClusterFilter:
    """istioctl's ``--fqdn``, ``--port``, ``--subset``, ``--direction``: substring matches on
    the cluster name (the port as ``|PORT|``)."""

    fqdn: str = ""
    port: int = 0
    subset: str = ""
    direction: str = ""

    def matches(self, name: str) -> bool:
        if self.fqdn and self.fqdn not in name:
            return False
        if self.direction and self.direction not in name:
            return False
        if self.subset and self.subset not in name:
            return False
        return not (self.port and f"|{self.port}|" not in name)


def _cluster_key(name: str) -> tuple[str, str, int, str]:
    parsed = parse_cluster_name(name)
    if parsed is None:
        return (name, "", 0, "")
    direction, port, subset, host = parsed
    return (host, subset, port, direction)


def cluster_type(cluster: Mapping[str, Any]) -> str:
    """``type`` (STATIC when absent: the proto3 default), or the custom cluster type's name."""
    if "cluster_type" in cluster:
        return str(cluster["cluster_type"].get("name", "STATIC"))
    return str(cluster.get("type", "STATIC"))


def filter_clusters(dump: Mapping[str, Any], flt: ClusterFilter) -> list[dict[str, Any]]:
    clusters = [c for c in clusters_of(dump) if flt.matches(str(c.get("name", "")))]
    return sorted(clusters, key=lambda c: _cluster_key(str(c.get("name", ""))))


def cluster_rows(dump: Mapping[str, Any], flt: ClusterFilter = ClusterFilter()) -> list[Row]:
    rows: list[Row] = [["SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE", "DESTINATION RULE"]]
    for c in filter_clusters(dump, flt):
        name = str(c.get("name", ""))
        dr = _management(c.get("metadata")) or "-"
        parsed = parse_cluster_name(name)
        if parsed is None:
            rows.append([name, "-", "-", "-", cluster_type(c), dr])
            continue
        direction, port, subset, host = parsed
        rows.append([host, str(port), subset or "-", direction, cluster_type(c), dr])
    return rows


# -- listeners --------------------------------------------------------------------------------


def _address(addr: Mapping[str, Any] | None) -> str:
    addr = addr or {}
    if "socket_address" in addr:
        return str(addr["socket_address"].get("address", ""))
    if "pipe" in addr:
        return str(addr["pipe"].get("path", ""))
    return ""


def listener_address(listener: Mapping[str, Any]) -> str:
    return _address(listener.get("address"))


def listener_addresses(listener: Mapping[str, Any]) -> list[str]:
    extra = [_address(a.get("address")) for a in listener.get("additional_addresses") or []]
    return [listener_address(listener), *extra]


def listener_port(listener: Mapping[str, Any]) -> int:
    sa = (listener.get("address") or {}).get("socket_address") or {}
    return int(sa.get("port_value", 0))


def _filter_chains(listener: Mapping[str, Any]) -> list[dict[str, Any]]:
    chains = list(listener.get("filter_chains") or [])
    if listener.get("default_filter_chain"):
        chains.append(listener["default_filter_chain"])
    return chains


def _is(f: Mapping[str, Any], name: str, type_suffix: str) -> bool:
    return f.get("name") == name or str((f.get("typed_config") or {}).get("@type", "")).endswith(type_suffix)


def listener_type(listener: Mapping[str, Any]) -> str:
    """HTTP | TCP | HTTP+TCP | UNKNOWN, counting HTTP connection managers and TCP proxies
    (a TCP proxy to the BlackHoleCluster does not count)."""
    n_http = n_tcp = 0
    for chain in _filter_chains(listener):
        for f in chain.get("filters") or []:
            if _is(f, HCM, ".HttpConnectionManager"):
                n_http += 1
            elif _is(f, TCP_PROXY, ".TcpProxy") and BLACKHOLE_CLUSTER not in json.dumps(f.get("typed_config")):
                n_tcp += 1
    if n_http:
        return "HTTP+TCP" if n_tcp else "HTTP"
    return "TCP" if n_tcp else "UNKNOWN"


@dataclass(frozen=True, slots=True)
class ListenerFilter:
    """istioctl's ``--address``, ``--port``, ``--type`` (HTTP, TCP, HTTP+TCP)."""

    address: str = ""
    port: int = 0
    type: str = ""

    def matches(self, listener: Mapping[str, Any]) -> bool:
        if self.address and self.address.lower() not in (a.lower() for a in listener_addresses(listener)):
            return False
        if self.port and listener_port(listener) != self.port:
            return False
        return not (self.type and listener_type(listener).lower() != self.type.lower())


_PROTOCOL_DESCRIPTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("App: HTTP TLS", ("http/1.0", "http/1.1", "h2c", "istio-http/1.0", "istio-http/1.1", "istio-h2")),
    ("App: Istio HTTP Plain", ("istio", "istio-http/1.0", "istio-http/1.1", "istio-h2")),
    ("App: TCP TLS", ("istio-peer-exchange", "istio")),
    ("App: HTTP", ("http/1.0", "http/1.1", "h2c")),
)


def describe_chain_match(match: Mapping[str, Any] | None) -> str:
    """A filter chain match as istioctl's MATCH column: ``SNI: ...; Trans: tls; App: HTTP;
    Addr: 198.18.0.0/16:9080``, ``Addr: *:9080``, or ``ALL``."""
    m = match or {}
    out: list[str] = []
    if m.get("server_names"):
        out.append("SNI: " + ",".join(m["server_names"]))
    if m.get("transport_protocol"):
        out.append(f"Trans: {m['transport_protocol']}")
    alpn = tuple(m.get("application_protocols") or ())
    if alpn:
        known = [d for d, protocols in _PROTOCOL_DESCRIPTIONS if protocols == alpn]
        out.append(known[0] if known else "App: " + ",".join(alpn))
    port = f":{m['destination_port']}" if "destination_port" in m else ""
    if m.get("prefix_ranges"):
        ranges = ",".join(f"{p.get('address_prefix', '')}/{p.get('prefix_len', 0)}" for p in m["prefix_ranges"])
        out.append(f"Addr: {ranges}{port}")
    elif port:
        out.append(f"Addr: *{port}")
    return "; ".join(out) or "ALL"


def describe_route_match(match: Mapping[str, Any] | None) -> str:
    """A route match as istioctl prints it: ``/api*``, ``PathPrefix:/api``, ``/exact``,
    ``regex ^/v[0-9]`` (and ``CONNECT``); headers and query parameters are not shown."""
    m = match or {}
    out: list[str] = []
    if m.get("prefix"):
        out.append(f"{m['prefix']}*")
    if m.get("path_separated_prefix"):
        out.append(f"PathPrefix:{m['path_separated_prefix']}")
    if m.get("path"):
        out.append(str(m["path"]))
    if "safe_regex" in m:
        out.append(f"regex {m['safe_regex'].get('regex', '')}")
    if "connect_matcher" in m:  # not shown by istioctl; an HTTP proxy's CONNECT route
        out.append("CONNECT")
    return " ".join(out)


def _route_cluster(route: Mapping[str, Any]) -> str | None:
    action = route.get("route")
    if not isinstance(action, dict) or "cluster" not in action:
        return None
    return str(action["cluster"])


def _cluster_destination(cluster: str) -> str:
    return cluster if "Cluster" in cluster else f"Cluster: {cluster}"


def describe_route_config(rc: Mapping[str, Any]) -> str:
    """An inline route configuration: its cluster when it sends everything to one, else
    ``Inline Route: DOMAINS MATCHES; ...``."""
    vhosts = rc.get("virtual_hosts") or []
    if len(vhosts) == 1 and vhosts[0].get("domains") == ["*"] and len(vhosts[0].get("routes") or []) == 1:
        route = vhosts[0]["routes"][0]
        cluster = _route_cluster(route)
        if (route.get("match") or {}).get("prefix") == "/" and cluster is not None:
            return _cluster_destination(cluster)
    parts = []
    for vh in vhosts:
        domains = vh.get("domains") or []
        desc_domains = "" if domains == ["*"] else "/".join(domains)
        desc_routes = ", ".join(describe_route_match(r.get("match")) for r in vh.get("routes") or [])
        parts.append(f"{desc_domains} {desc_routes}" if desc_domains else desc_routes)
    return "Inline Route: " + "; ".join(parts)


def describe_filters(filters: Iterable[Mapping[str, Any]]) -> str:
    """The DESTINATION column: ``Route: NAME`` (RDS), the inline route's destination, ``Cluster:
    NAME`` (TCP proxy), or ``Non-HTTP/Non-TCP``."""
    for f in filters:
        tc = f.get("typed_config") or {}
        if _is(f, HCM, ".HttpConnectionManager"):
            if "route_config" in tc:
                return describe_route_config(tc["route_config"])
            name = (tc.get("rds") or {}).get("route_config_name")
            return f"Route: {name}" if name else "HTTP"
        if _is(f, TCP_PROXY, ".TcpProxy") and BLACKHOLE_CLUSTER not in json.dumps(tc):
            if "weighted_clusters" in tc:
                weighted = tc["weighted_clusters"].get("clusters") or []
                return "Cluster: " + ",".join(f"{c.get('name', '')}({c.get('weight', 0)})" for c in weighted)
            return _cluster_destination(str(tc.get("cluster", "")))
    return "Non-HTTP/Non-TCP"


def filter_listeners(dump: Mapping[str, Any], flt: ListenerFilter) -> list[dict[str, Any]]:
    listeners = [x for x in listeners_of(dump) if flt.matches(x)]
    return sorted(listeners, key=lambda x: (listener_port(x), listener_address(x), listener_type(x)))


def listener_rows(dump: Mapping[str, Any], flt: ListenerFilter = ListenerFilter()) -> list[Row]:
    """``ADDRESSES PORT MATCH DESTINATION``: one row per filter chain (the default chain
    included), listeners by port, address and type, chains by destination (descending)."""
    rows: list[Row] = [["ADDRESSES", "PORT", "MATCH", "DESTINATION"]]
    for listener in filter_listeners(dump, flt):
        addresses = ",".join(listener_addresses(listener))
        port = str(listener_port(listener))
        chains = [
            (describe_chain_match(c.get("filter_chain_match")), describe_filters(c.get("filters") or []))
            for c in _filter_chains(listener)
        ]
        chains.sort(key=lambda mc: mc[1], reverse=True)
        rows.extend([addresses, port, match, dest] for match, dest in chains)
    return rows


# -- routes -----------------------------------------------------------------------------------


def _split_port(domain: str) -> tuple[str, str]:
    """``("reviews.default", ":9080")`` of ``reviews.default:9080``; IPv6 literals kept whole."""
    if domain.startswith("["):
        end = domain.find("]")
        return (domain[: end + 1], domain[end + 1:]) if end >= 0 else (domain, "")
    host, sep, port = domain.rpartition(":")
    return (host, sep + port) if sep and port.isdigit() else (domain, "")


def _unexpand(domains: Sequence[str]) -> list[str]:
    """Drop ``x.svc.cluster.local`` and ``x.svc`` when ``x`` (with the same port) is there."""
    present = set(domains)
    out = []
    for d in domains:
        host, port = _split_port(d)
        shorter = [host.removesuffix(s) + port for s in (".svc.cluster.local", ".svc") if host.endswith(s)]
        if not any(s in present for s in shorter):
            out.append(d)
    return out


def describe_route_domains(domains: Sequence[str]) -> str:
    """istioctl's DOMAINS: the domain when there is one, else the first two of the short
    forms without a port (``reviews, reviews.default + 1 more...``). Domains that all carry a
    port (an HTTP proxy's routes) are shortened the same way, ports kept."""
    if not domains:
        return ""
    if len(domains) == 1:
        return domains[0]
    without_port = [d for d in domains if not _split_port(d)[1]]
    shown = _unexpand(without_port or list(domains))
    if len(shown) > 2:
        return f"{', '.join(shown[:2])} + {len(shown) - 2} more..."
    return ", ".join(shown)


def filter_route_configs(dump: Mapping[str, Any], name: str = "") -> list[dict[str, Any]]:
    return [rc for rc in route_configs_of(dump) if not name or rc.get("name") == name]


def route_rows(dump: Mapping[str, Any], name: str = "") -> list[Row]:
    """``NAME VHOST NAME DOMAINS MATCH VIRTUAL SERVICE``: one row per route (routes to the
    PassthroughCluster left out, as istioctl does; a virtual host without routes shows
    ``/*  404``); VIRTUAL SERVICE from the route's ``istio.config`` metadata."""
    rows: list[Row] = [["NAME", "VHOST NAME", "DOMAINS", "MATCH", "VIRTUAL SERVICE"]]
    for rc in filter_route_configs(dump, name):
        rc_name = str(rc.get("name", ""))
        for vh in rc.get("virtual_hosts") or []:
            domains = describe_route_domains(vh.get("domains") or [])
            routes = vh.get("routes") or []
            for r in routes:
                if _route_cluster(r) == PASSTHROUGH_CLUSTER:
                    continue
                rows.append([rc_name, str(vh.get("name", "")), domains,
                             describe_route_match(r.get("match")), _management(r.get("metadata"))])
            if not routes:
                rows.append([rc_name, str(vh.get("name", "")), domains, "/*", "404"])
    return rows


# -- endpoints (``/clusters?format=json``) -----------------------------------------------------


def _host_address(host: Mapping[str, Any]) -> tuple[str, int, str]:
    """(address, port, as shown) of a host status."""
    addr = host.get("address") or {}
    if "socket_address" in addr:
        sa = addr["socket_address"]
        a, p = str(sa.get("address", "")), int(sa.get("port_value", 0))
        return a, p, f"{a}:{p}"
    if "pipe" in addr:
        path = f"unix://{addr['pipe'].get('path', '')}"
        return path, 0, path
    if "envoy_internal_address" in addr:
        ia = addr["envoy_internal_address"]
        shown = f"envoy://{ia.get('server_listener_name', '')}/{ia.get('endpoint_id', '')}"
        return shown, 0, shown
    return "", 0, ""


def _health(host: Mapping[str, Any]) -> str:
    return str((host.get("health_status") or {}).get("eds_health_status", "UNKNOWN"))


@dataclass(frozen=True, slots=True)
class EndpointFilter:
    """istioctl's ``--address``, ``--port``, ``--cluster``, ``--status`` (exact, any case)."""

    address: str = ""
    port: int = 0
    cluster: str = ""
    status: str = ""

    def matches(self, host: Mapping[str, Any], cluster: str) -> bool:
        address, port, _ = _host_address(host)
        if self.address and address.lower() != self.address.lower():
            return False
        if self.port and port != self.port:
            return False
        if self.cluster and cluster.lower() != self.cluster.lower():
            return False
        return not (self.status and _health(host).lower() != self.status.lower())


def endpoint_statuses(clusters: Mapping[str, Any], flt: EndpointFilter = EndpointFilter()) -> list[dict[str, Any]]:
    """The ``cluster_statuses`` with at least one host matching ``flt`` (``-o json``)."""
    return [
        c for c in clusters.get("cluster_statuses") or []
        if any(flt.matches(h, str(c.get("name", ""))) for h in c.get("host_statuses") or [])
    ]


def endpoint_rows(clusters: Mapping[str, Any], flt: EndpointFilter = EndpointFilter()) -> list[Row]:
    """``ENDPOINT STATUS OUTLIER CHECK CLUSTER`` from Envoy's ``/clusters?format=json``,
    sorted by address, port and cluster."""
    found: list[tuple[str, int, str, str, str, str]] = []
    for c in clusters.get("cluster_statuses") or []:
        cname = str(c.get("name", ""))
        for h in c.get("host_statuses") or []:
            if not flt.matches(h, cname):
                continue
            address, port, shown = _host_address(h)
            outlier = "FAILED" if (h.get("health_status") or {}).get("failed_outlier_check") else "OK"
            found.append((address, port, cname, shown, _health(h), outlier))
    found.sort(key=lambda e: (e[0], e[1], e[2]))
    rows: list[Row] = [["ENDPOINT", "STATUS", "OUTLIER CHECK", "CLUSTER"]]
    rows.extend([shown, health, outlier, cname] for _, _, cname, shown, health, outlier in found)
    return rows


# -- secrets ----------------------------------------------------------------------------------


def _data_source_bytes(ds: Mapping[str, Any] | None) -> bytes | None:
    ds = ds or {}
    if "inline_bytes" in ds:
        try:
            return base64.b64decode(ds["inline_bytes"])
        except ValueError:
            return None
    if "inline_string" in ds:
        return str(ds["inline_string"]).encode()
    return None


def _certificate(pem: bytes | None, now: datetime) -> tuple[str, str, str, str]:
    """(valid, serial, not after, not before) of the first certificate in ``pem``."""
    if not pem:
        return "false", "-", "-", "-"
    try:
        from cryptography import x509
    except ImportError:  # pragma: no cover - cryptography comes with the CA
        return "-", "-", "-", "-"
    try:
        cert = x509.load_pem_x509_certificates(pem)[0]
    except (ValueError, IndexError):
        try:
            cert = x509.load_der_x509_certificate(pem)
        except ValueError:
            return "false", "-", "-", "-"
    before, after = cert.not_valid_before_utc, cert.not_valid_after_utc
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    valid = "true" if before <= now <= after else "false"
    return valid, f"{cert.serial_number:x}", after.strftime(stamp), before.strftime(stamp)


def secret_rows(dump: Mapping[str, Any], now: datetime | None = None) -> list[Row]:
    """``RESOURCE NAME TYPE STATUS VALID CERT SERIAL NUMBER NOT AFTER NOT BEFORE``: the
    workload certificate chains (``Cert Chain``) and trust bundles (``CA``) Envoy holds."""
    now = now or datetime.now(UTC)
    sec = secrets_of(dump)
    rows: list[Row] = [["RESOURCE NAME", "TYPE", "STATUS", "VALID CERT", "SERIAL NUMBER", "NOT AFTER", "NOT BEFORE"]]
    groups = (("static_secrets", "ACTIVE"), ("dynamic_active_secrets", "ACTIVE"), ("dynamic_warming_secrets", "WARMING"))
    for key, status in groups:
        for entry in sec.get(key) or []:
            secret = entry.get("secret") or {}
            name = str(entry.get("name") or secret.get("name", ""))
            if "tls_certificate" in secret:
                kind, ds = "Cert Chain", secret["tls_certificate"].get("certificate_chain")
            elif "validation_context" in secret:
                kind, ds = "CA", secret["validation_context"].get("trusted_ca")
            else:
                rows.append([name, "-", status, "false", "-", "-", "-"])
                continue
            rows.append([name, kind, status, *_certificate(_data_source_bytes(ds), now)])
    return rows


# -- proxy-status (``/debug/syncz``) -------------------------------------------------------------

_STATUS_TYPES = {
    "CDS": ("cds", "cluster"),
    "LDS": ("lds", "listener"),
    "EDS": ("eds", "endpoint"),
    "RDS": ("rds", "route"),
    "ECDS": ("ecds", "extensionconfig"),
}


def sync_status(sent: str, acked: str) -> str:
    """istioctl's status of one xDS type from the nonces the control plane sent and the proxy
    acknowledged: NOT SENT, SYNCED, STALE (Never Acknowledged), STALE."""
    if not sent:
        return "NOT SENT"
    if sent == acked:
        return "SYNCED"
    if not acked:
        return "STALE (Never Acknowledged)"
    return "STALE"


def _type_status(entry: Mapping[str, Any], column: str) -> str:
    short, prefix = _STATUS_TYPES[column]
    types = entry.get("types") or {}
    t = types.get(short)
    if t is None and column == "ECDS":
        t = types.get("typedextensionconfig")
    if t is not None:
        return sync_status(str(t.get("sent_nonce", "")), str(t.get("acked_nonce", "")))
    return sync_status(str(entry.get(f"{prefix}_sent", "")), str(entry.get(f"{prefix}_acked", "")))


def status_rows(
    syncz: Sequence[Mapping[str, Any]], istiod: str, proxy_versions: Mapping[str, str] | None = None
) -> list[Row]:
    """``NAME CLUSTER CDS LDS EDS RDS ECDS ISTIOD VERSION`` from the control plane's syncz,
    sorted by cluster then proxy. VERSION is the proxy's ISTIO_VERSION, else its Envoy
    version from ``proxy_versions`` (by proxy id) marked ``*`` as istioctl does."""
    versions = proxy_versions or {}
    rows: list[Row] = [["NAME", "CLUSTER", "CDS", "LDS", "EDS", "RDS", "ECDS", "ISTIOD", "VERSION"]]
    entries = sorted(syncz, key=lambda e: (str(e.get("cluster_id", "")), str(e.get("proxy", ""))))
    for e in entries:
        proxy = str(e.get("proxy", ""))
        version = str(e.get("istio_version") or "") or f"{versions.get(proxy, '')}*"
        rows.append([proxy, str(e.get("cluster_id", "")),
                     *(_type_status(e, col) for col in _STATUS_TYPES), istiod, version])
    return rows


# -- proxy-config output -----------------------------------------------------------------------

CONFIG_KINDS = ("cluster", "listener", "route", "endpoint", "bootstrap", "secret", "all")


@dataclass(frozen=True, slots=True)
class ConfigQuery:
    """What ``proxy-config KIND`` shows: the kind, ``-o``, and the kind's filters."""

    kind: str
    output: str = "short"  # short | json | yaml
    clusters: ClusterFilter = ClusterFilter()
    listeners: ListenerFilter = ListenerFilter()
    route_name: str = ""
    endpoints: EndpointFilter = EndpointFilter()


def _serialize(data: Any, output: str) -> str:
    if output == "yaml":
        import yaml

        return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    return json.dumps(data, indent=2) + "\n"


def _table(kind: str, rows: list[Row]) -> str:
    return format_table(rows, padding=PADDING[kind])


def render_proxy_config(
    q: ConfigQuery, dump: Mapping[str, Any], clusters: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> str:
    """The text ``proxy-config`` prints for a config dump (and ``/clusters?format=json`` for
    endpoints): istioctl's table(s) for ``-o short``, the matching config as JSON or YAML
    otherwise (bootstrap is always the config)."""
    clusters = clusters or {}
    structured = q.output in ("json", "yaml")
    if q.kind == "cluster":
        if structured:
            return _serialize(filter_clusters(dump, q.clusters), q.output)
        return _table("cluster", cluster_rows(dump, q.clusters))
    if q.kind == "listener":
        if structured:
            return _serialize(filter_listeners(dump, q.listeners), q.output)
        return _table("listener", listener_rows(dump, q.listeners))
    if q.kind == "route":
        if structured:
            return _serialize(filter_route_configs(dump, q.route_name), q.output)
        return _table("route", route_rows(dump, q.route_name))
    if q.kind == "endpoint":
        if structured:
            return _serialize(endpoint_statuses(clusters, q.endpoints), q.output)
        return _table("endpoint", endpoint_rows(clusters, q.endpoints))
    if q.kind == "bootstrap":
        return _serialize(bootstrap_of(dump), "yaml" if q.output == "yaml" else "json")
    if q.kind == "secret":
        if structured:
            return _serialize(secrets_of(dump), q.output)
        return _table("secret", secret_rows(dump, now))
    if q.kind == "all":
        if structured:
            return _serialize(dict(dump), q.output)
        return "\n".join([
            _table("cluster", cluster_rows(dump, q.clusters)),
            _table("listener", listener_rows(dump, q.listeners)),
            _table("route", route_rows(dump, q.route_name)),
            _table("endpoint", endpoint_rows(clusters, q.endpoints)),
            _table("secret", secret_rows(dump, now)),
        ])
    raise ValueError(f"unknown proxy-config kind {q.kind!r}; expected one of {', '.join(CONFIG_KINDS)}")
