"""VirtualService analyzers: destinations (host, port, subset), gateways, hosts shared by
several mesh VirtualServices, and rules or matches that can never be used."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from lateen.analyze import _codes as C
from lateen.analyze._context import Context, HostEntry, fqdn
from lateen.analyze._messages import go_list, go_quote
from lateen.api import ConfigObject
from lateen.model import hosts_intersect

__all__ = [
    "conflicting_mesh_gateway_hosts",
    "destination_hosts",
    "destination_rules",
    "gateways",
    "unreachable_rules",
]

MESH = "mesh"


@dataclass(frozen=True, slots=True)
class _Dest:
    rule: str  # http | tcp | tls | http.mirror | http.mirrors
    index: int
    dest_index: int
    host: str
    subset: str
    port: int | None

    @property
    def field(self) -> str:
        if self.rule == "http.mirror":
            return f"spec.http[{self.index}].mirror.host"
        if self.rule == "http.mirrors":
            return f"spec.http[{self.index}].mirrors[{self.dest_index}].destination.host"
        return f"spec.{self.rule}[{self.index}].route[{self.dest_index}].destination.host"


def _dest(rule: str, i: int, j: int, d: Any) -> _Dest:
    port = d.port.number if d is not None and d.port is not None else None
    return _Dest(rule, i, j, d.host if d else "", d.subset if d else "", port)


def _route_destinations(vs: Any) -> Iterator[_Dest]:
    for rule, routes in (("tcp", vs.tcp), ("tls", vs.tls), ("http", vs.http)):
        for i, r in enumerate(routes):
            for j, rd in enumerate(r.route):
                yield _dest(rule, i, j, rd.destination)


def _mirror_destinations(vs: Any) -> Iterator[_Dest]:
    for i, r in enumerate(vs.http):
        if r.mirror is not None:
            yield _dest("http.mirror", i, 0, r.mirror)
        for j, m in enumerate(r.mirrors):
            yield _dest("http.mirrors", i, j, m.destination)


def _check_ports(ctx: Context, vs: ConfigObject, d: _Dest, entry: HostEntry) -> None:
    if d.port is None:
        if len(entry.ports) > 1:
            ports = go_list(p.number for p in entry.ports)
            ctx.report(C.VS_DESTINATION_PORT_SELECTOR_REQUIRED, vs, go_quote(d.host), ports, field=d.field)
        return
    if not any(p.number == d.port for p in entry.ports):
        ctx.report(C.REFERENCED_RESOURCE_NOT_FOUND, vs, "host:port", go_quote(f"{d.host}:{d.port}"), field=d.field)


def destination_hosts(ctx: Context) -> None:
    """IST0101 host/mirror host/host:port not found, IST0112 port required, IST0140 subset
    routing that a gateway VirtualService bypasses."""
    with_subsets: dict[str, list[str]] = defaultdict(list)  # VS full name -> subset dest hosts
    for vs in ctx.of("VirtualService"):
        for d in _route_destinations(vs.spec):
            if d.rule == "http" and d.subset and d.host in vs.spec.hosts:
                with_subsets[f"{vs.namespace}/{vs.name}"].append(d.host)
    for vs in ctx.of("VirtualService"):
        for kind, dests in (("host", _route_destinations(vs.spec)), ("mirror host", _mirror_destinations(vs.spec))):
            for d in dests:
                entry = ctx.destination_host(vs.namespace, vs.spec.export_to, d.host)
                if entry is None:
                    ctx.report(C.REFERENCED_RESOURCE_NOT_FOUND, vs, kind, go_quote(d.host), field=d.field)
                    continue
                _check_ports(ctx, vs, d, entry)
        if not vs.spec.gateways:
            continue
        for d in _route_destinations(vs.spec):
            if d.rule != "http" or d.subset:
                continue
            for other, hosts in sorted(with_subsets.items()):
                for host in hosts:
                    if host == d.host:
                        ctx.report(
                            C.INGRESS_ROUTE_RULES_NOT_AFFECTED, vs, other, f"{vs.namespace}/{vs.name}",
                            field=d.field,
                        )


_SERVICE_FQDN = re.compile(r"^(.+)\.(.+)\.svc\.cluster\.local$")


def _resource_name(namespace: str, host: str) -> tuple[str, str]:
    """``(namespace, name)`` of the Service a host names: from its FQDN, else a name in
    ``namespace`` (Istio's ``GetResourceNameFromHost``)."""
    m = _SERVICE_FQDN.match(host)
    return (m.group(2), m.group(1)) if m else (namespace, host)


def destination_rules(ctx: Context) -> None:
    """IST0101 host+subset not found: a destination names a subset no DestinationRule for
    its host defines."""
    defined: set[tuple[str, str, str]] = set()
    for dr in ctx.of("DestinationRule"):
        for s in dr.spec.subsets:
            defined.add((*_resource_name(dr.namespace, fqdn(dr.namespace, dr.spec.host)), s.name))
    for vs in ctx.of("VirtualService"):
        for kind, dests in (
            ("host+subset in destinationrule", _route_destinations(vs.spec)),
            ("mirror+subset in destinationrule", _mirror_destinations(vs.spec)),
        ):
            for d in dests:
                if d.subset and (*_resource_name(vs.namespace, d.host), d.subset) not in defined:
                    ref = go_quote(f"{d.host}+{d.subset}")
                    ctx.report(C.REFERENCED_RESOURCE_NOT_FOUND, vs, kind, ref, field=d.field)


def _gateway_ref(namespace: str, name: str) -> tuple[str, str]:
    ns, sep, short = name.partition("/")
    return (ns, short) if sep else (namespace, name)


def _gateway_hosts(gw: ConfigObject, vs_namespace: str) -> list[str]:
    """The gateway's server hosts that a VirtualService in ``vs_namespace`` may bind to
    (``ns/host`` forms resolved: ``.`` is the gateway's namespace, ``*`` any)."""
    out: list[str] = []
    for server in gw.spec.servers:
        for h in server.hosts:
            ns, sep, host = h.partition("/")
            if not sep:
                out.append(h)
                continue
            ns = gw.namespace if ns == "." else ns
            if ns in ("*", vs_namespace):
                out.append(host)
    return out


def gateways(ctx: Context) -> None:
    """IST0101 gateway not found, IST0132 no VirtualService host on the gateway."""
    for vs in ctx.of("VirtualService"):
        for i, name in enumerate(vs.spec.gateways):
            if name == MESH:
                continue
            ns, gw_name = _gateway_ref(vs.namespace, name)
            gw = ctx.find("Gateway", ns, gw_name)
            where = f"spec.gateways[{i}]"
            if gw is None:
                ctx.report(C.REFERENCED_RESOURCE_NOT_FOUND, vs, "gateway", go_quote(name), field=where)
            gw_hosts = _gateway_hosts(gw, vs.namespace) if gw is not None else []
            if not any(hosts_intersect(g, h) for g in gw_hosts for h in vs.spec.hosts):
                ctx.report(
                    C.VS_HOST_NOT_FOUND_IN_GATEWAY, vs, go_list(vs.spec.hosts),
                    f"{vs.namespace}/{vs.name}", f"{ns}/{gw_name}", field=where,
                )


def conflicting_mesh_gateway_hosts(ctx: Context) -> None:
    """IST0109: two VirtualServices bound to the mesh gateway for the same host (and
    visible in the same namespaces)."""
    by_host: dict[tuple[str, str], list[ConfigObject]] = defaultdict(list)
    for vs in ctx.of("VirtualService"):
        if vs.spec.gateways and MESH not in vs.spec.gateways:
            continue
        export = vs.spec.export_to
        scopes = ["*"] if not export or "*" in export else sorted(
            {vs.namespace if e == "." else e for e in export}
        )
        for scope in scopes:
            for h in vs.spec.hosts:
                by_host[(scope, fqdn(vs.namespace, h))].append(vs)
    reported: set[tuple[str, str]] = set()
    for (scope, host), vss in sorted(by_host.items()):
        group = list(vss)
        if scope != "*":
            for (s2, h2), more in sorted(by_host.items()):
                if s2 == "*" and hosts_intersect(host, h2):
                    group.extend(more)
        if len(group) < 2:
            continue
        names = ",".join(f"{v.namespace}/{v.name}" for v in group)
        for v in group:
            if (v.namespace, v.name) in reported:
                continue
            reported.add((v.namespace, v.name))
            ctx.report(C.CONFLICTING_MESH_GATEWAY_VS_HOSTS, v, names, f"{scope}/{host}", field="metadata.name")


# -- unreachable rules and ineffective matches ------------------------------------------------


def _match_key(match: Any) -> str:
    data = match.model_dump(by_alias=True, exclude_defaults=True)
    data.pop("name", None)
    return json.dumps(data, sort_keys=True)


def _rule_name(name: str, n: int) -> str:
    return go_quote(name) if name else f"#{n}"


def _exact_or_prefix(sm: Any) -> str:
    if sm is None:
        return ""
    if sm.exact:
        return f"exact:{sm.exact}"
    if sm.prefix:
        return f"prefix:{sm.prefix}"
    return ""


@dataclass(frozen=True, slots=True)
class _PrefixMatch:
    rule: str
    match: str
    prefix: str
    port: int
    method: str
    authority: str
    headers: dict[str, str]
    query: dict[str, str]
    without: dict[str, str]


def _prefix_match(rule: str, match_name: str, m: Any) -> _PrefixMatch | None:
    if m.uri is None or not m.uri.prefix:
        return None
    return _PrefixMatch(
        rule,
        match_name,
        m.uri.prefix,
        m.port,
        _exact_or_prefix(m.method) or "exact:GET",
        _exact_or_prefix(m.authority),
        {k: _exact_or_prefix(v) for k, v in m.headers.items()},
        {k: _exact_or_prefix(v) for k, v in m.query_params.items()},
        {k: _exact_or_prefix(v) for k, v in m.without_headers.items()},
    )


def _covers_value(a: str, b: str) -> bool:
    return a == b or a.startswith(b)


def _covers_map(a: dict[str, str], b: dict[str, str]) -> bool:
    return len(a) == len(b) and all(k in b and _covers_value(v, b[k]) for k, v in a.items())


def _covers(a: _PrefixMatch, b: _PrefixMatch) -> bool:
    """Does the earlier prefix match ``a`` catch every request of the later ``b``
    (Istio's overlapping-match check, with its rules)?"""
    return (
        b.prefix.startswith(a.prefix)
        and a.port == b.port
        and _covers_value(a.method, b.method)
        and _covers_value(a.authority, b.authority)
        and _covers_map(a.headers, b.headers)
        and _covers_map(a.query, b.query)
        and _covers_map(a.without, b.without)
    )


def _analyze_rules(
    ctx: Context,
    vs: ConfigObject,
    section: str,
    routes: Sequence[tuple[str, Sequence[Any]]],
    prefixes: bool,
) -> None:
    seen: dict[str, int] = {}
    catch_all = -1
    candidates: list[_PrefixMatch] = []
    for n, (name, matches) in enumerate(routes):
        rname = _rule_name(name, n)
        where = f"spec.{section}[{n}]"
        if not matches:
            if catch_all >= 0:
                ctx.report(C.VS_UNREACHABLE_RULE, vs, rname, "only the last rule can have no matches", field=where)
            catch_all = n
            continue
        dups = 0
        for i, m in enumerate(matches):
            if catch_all >= 0:
                ctx.report(C.VS_UNREACHABLE_RULE, vs, rname, "route without matches defined before", field=where)
                continue
            mname = _rule_name(getattr(m, "name", ""), i)
            key = _match_key(m)
            if key in seen:
                d = seen[key]
                ctx.report(
                    C.VS_INEFFECTIVE_MATCH, vs, rname, mname, _rule_name(routes[d][0], d),
                    field=f"{where}.match[{i}]",
                )
                dups += 1
                continue
            seen[key] = n
            if prefixes:
                pm = _prefix_match(rname, mname, m)
                if pm is not None:
                    candidates.append(pm)
        if dups == len(matches):
            ctx.report(C.VS_UNREACHABLE_RULE, vs, rname, "all matches used by prior rules", field=where)
    for i, a in enumerate(candidates):
        for b in candidates[i + 1 :]:
            if b.prefix != a.prefix and _covers(a, b):
                ctx.report(
                    C.VS_INEFFECTIVE_MATCH, vs, b.rule, f"{b.match} of prefix {b.prefix}",
                    f"{a.match} of prefix {a.prefix} on {a.rule}",
                )


def unreachable_rules(ctx: Context) -> None:
    """IST0130 a rule that can never be used (after a rule without matches, or all of its
    matches used before), IST0131 a match made redundant by an earlier one."""
    for vs in ctx.of("VirtualService"):
        spec = vs.spec
        _analyze_rules(ctx, vs, "http", [(r.name, r.match) for r in spec.http], True)
        _analyze_rules(ctx, vs, "tcp", [("", r.match) for r in spec.tcp], False)
        _analyze_rules(ctx, vs, "tls", [("", r.match) for r in spec.tls], False)
