"""PushContext: the frozen per-push snapshot of the mesh, with the indexes generators use."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from lateen.api._object import ConfigObject
from lateen.model._authz import (
    AuthorizationPolicies,
    index_authorization_policies,
    select_authorization_policies,
)
from lateen.model._envoy_filter import EnvoyFilterPatch, compile_envoy_filter, proxy_matches
from lateen.model._gateway import GatewayConflict, MergedGateway, merge_gateways
from lateen.model._host import host_matches, is_visible, most_specific_host, resolve_short_name
from lateen.model._mesh import MeshConfig
from lateen.model._proxy import Proxy, ProxyType
from lateen.model._sidecar import SidecarScope, build_sidecar_scope, default_sidecar_scope
from lateen.registry import Endpoint, Registry, Service, build_registry, labels_match

__all__ = ["GATEWAY_NAME_LABEL", "MESH_GATEWAY", "PushContext", "build_push_context"]

MESH_GATEWAY = "mesh"
_NETWORKING = "networking.istio.io"
_SECURITY = "security.istio.io"
_GATEWAY_API = "gateway.networking.k8s.io"
# the label that makes a workload an instance of a Gateway API Gateway (policy targetRefs)
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"


def _order(o: ConfigObject) -> tuple[str, str, str]:
    """Istio orders conflicting config by creation time, then namespace/name."""
    return (o.meta.creation_timestamp, o.namespace, o.name)


@dataclass(frozen=True, slots=True)
class _DRScope:
    """Destination rules of one namespace by (resolved) host. Per host: the rules without a
    ``workloadSelector`` merged per ``exportTo`` (the first created keeps its top-level policy,
    later ones add their new subsets, as Istio merges them), then the rules with a selector,
    in creation order."""

    by_host: Mapping[str, tuple[ConfigObject, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def lookup(
        self,
        hostname: str,
        proxy_ns: str | None = None,
        proxy_labels: Mapping[str, str] | None = None,
    ) -> ConfigObject | None:
        """The rule for ``hostname`` (exact host, else the most specific wildcard) seen by a
        proxy of ``proxy_ns`` (``exportTo``) with ``proxy_labels``: a rule of the proxy's
        own namespace whose ``workloadSelector`` matches them, else the catch-all rule."""
        host = most_specific_host(hostname, self.by_host)
        if host is None:
            return None
        catch_all: ConfigObject | None = None
        for dr in self.by_host[host]:
            if proxy_ns is not None and not is_visible(dr.spec.export_to, dr.namespace, proxy_ns):
                continue
            sel = dr.spec.workload_selector
            if sel is None:
                catch_all = catch_all or dr
            elif (
                proxy_labels is not None
                and dr.namespace == proxy_ns
                and labels_match(sel.match_labels, proxy_labels)
            ):
                return dr
        return catch_all


def _merge_destination_rules(rules: list[ConfigObject]) -> tuple[ConfigObject, ...]:
    """Istio's consolidation of several rules for one host in one namespace: rules without a
    selector and with the same ``exportTo`` merge into the first (its top-level policy,
    unless it has none; subsets of later rules added unless their name is taken); rules with
    a selector stay separate."""
    merged: dict[frozenset[str], ConfigObject] = {}
    for r in rules:
        if r.spec.workload_selector is not None:
            continue
        key = frozenset(r.namespace if e == "." else e for e in r.spec.export_to or ["*"])
        first = merged.get(key)
        if first is None:
            merged[key] = r
            continue
        subsets = list(first.spec.subsets)
        names = {s.name for s in subsets}
        subsets.extend(s for s in r.spec.subsets if s.name not in names)
        policy = first.spec.traffic_policy or r.spec.traffic_policy
        spec = first.spec.model_copy(update={"subsets": subsets, "traffic_policy": policy})
        merged[key] = replace(first, spec=spec)
    selected = [r for r in rules if r.spec.workload_selector is not None]
    return (*merged.values(), *selected)


@dataclass(frozen=True, slots=True)
class PushContext:
    """Everything a generator may read, built once per push by :func:`build_push_context`
    and never mutated. Istio configs are sorted by (creation time, namespace, name)."""

    version: str
    mesh: MeshConfig
    registry: Registry
    domain_suffix: str = "cluster.local"
    virtual_services: tuple[ConfigObject, ...] = ()
    destination_rules: tuple[ConfigObject, ...] = ()
    gateways: tuple[ConfigObject, ...] = ()
    sidecars: tuple[ConfigObject, ...] = ()
    envoy_filters: tuple[ConfigObject, ...] = ()
    service_entries: tuple[ConfigObject, ...] = ()
    peer_authentications: tuple[ConfigObject, ...] = ()  # oldest first
    # RequestAuthentications by namespace, oldest first
    _request_authentications: Mapping[str, tuple[ConfigObject, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    # jwksUri -> the key set the control plane fetched (FAIL_CLOSED_JWKS when it failed)
    jwks: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # AuthorizationPolicies by namespace, oldest first (see :meth:`authorization_policies`)
    _authz_by_namespace: Mapping[str, tuple[ConfigObject, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    configs: tuple[ConfigObject, ...] = ()  # every Istio config object of the push
    _services_by_host: Mapping[str, tuple[Service, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    _vs_by_gateway: Mapping[str, tuple[ConfigObject, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    _dr_local: Mapping[str, _DRScope] = field(default_factory=lambda: MappingProxyType({}))
    _dr_exported: Mapping[str, _DRScope] = field(default_factory=lambda: MappingProxyType({}))
    # some config selects workloads by label (Sidecar/DestinationRule/EnvoyFilter
    # workloadSelector, VirtualService sourceLabels): proxies' output may then differ by labels
    selects_on_labels: bool = False
    # endpoint address -> (service order, service, endpoint) of in-mesh services
    _instances_by_address: Mapping[str, tuple[tuple[int, Service, Endpoint], ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    # (namespace, name) -> the EnvoyFilter's prepared config patches
    _envoy_filter_patches: Mapping[tuple[str, str], tuple[EnvoyFilterPatch, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    # memo of sidecar scopes by (proxy namespace, Sidecar namespace, Sidecar name): derived
    # from the frozen fields only, so filling it never changes what the snapshot says
    _scopes: dict[tuple[str, str, str], SidecarScope] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    # ---- services -------------------------------------------------------------------------

    @property
    def services(self) -> tuple[Service, ...]:
        return self.registry.services

    def services_by_hostname(self, hostname: str) -> tuple[Service, ...]:
        return self._services_by_host.get(hostname, ())

    def service_for_host(self, hostname: str, proxy_namespace: str) -> Service | None:
        """The service of that hostname visible from ``proxy_namespace`` (the proxy's own
        namespace wins over others when several namespaces define the same host)."""
        cands = [
            s
            for s in self.services_by_hostname(hostname)
            if is_visible(s.export_to, s.namespace, proxy_namespace)
        ]
        for s in cands:
            if s.namespace == proxy_namespace:
                return s
        return cands[0] if cands else None

    def endpoints(self, service: Service, port: int | None = None) -> tuple[Endpoint, ...]:
        return self.registry.service_endpoints(service, port)

    def instances_at(self, addresses: Iterable[str]) -> tuple[tuple[Service, Endpoint], ...]:
        """The (service, endpoint) pairs of in-mesh services whose endpoint address is one of
        ``addresses``, in service order: the workload's own service instances."""
        found = sorted(
            (i for a in set(addresses) for i in self._instances_by_address.get(a, ())),
            key=lambda i: i[0],
        )
        return tuple((svc, ep) for _, svc, ep in found)

    def services_for_proxy(self, proxy: Proxy) -> tuple[Service, ...]:
        """Services the proxy sees: its :meth:`sidecar_scope`'s (exportTo, and the Sidecar's
        egress hosts and ports for sidecars). One service per hostname, sorted."""
        return self.sidecar_scope(proxy).services

    def visible_services(self, namespace: str) -> tuple[Service, ...]:
        """Every service exported to ``namespace`` (several per hostname possible)."""
        return tuple(s for s in self.services if is_visible(s.export_to, s.namespace, namespace))

    def sidecar_scope(self, proxy: Proxy) -> SidecarScope:
        """The proxy's scope: from the Sidecar that applies (:meth:`sidecar_for_proxy`), else
        the default (every visible service, the mesh's outboundTrafficPolicy). Gateways
        always get the default. Computed once per (Sidecar, namespace) and push."""
        sidecar = self.sidecar_for_proxy(proxy) if proxy.type is ProxyType.SIDECAR else None
        key = (proxy.namespace, sidecar.namespace if sidecar else "", sidecar.name if sidecar else "")
        scope = self._scopes.get(key)
        if scope is not None:
            return scope
        mode = self.mesh.outbound_traffic_policy_mode.value
        if sidecar is None:
            visible: list[Service] = []
            for hostname in sorted(self._services_by_host):
                svc = self.service_for_host(hostname, proxy.namespace)
                if svc is not None:
                    visible.append(svc)
            scope = default_sidecar_scope(proxy.namespace, tuple(visible), mode)
        else:
            scope = build_sidecar_scope(
                sidecar,
                proxy.namespace,
                self.visible_services(proxy.namespace),
                self.virtual_services_for_gateway(proxy.namespace, MESH_GATEWAY),
                self.domain_suffix,
                mode,
            )
        self._scopes[key] = scope
        return scope

    # ---- authorization -------------------------------------------------------------------

    def authorization_policies(self, proxy: Proxy) -> AuthorizationPolicies:
        """The AuthorizationPolicies selecting ``proxy`` (root namespace and its own), by
        action, oldest first."""
        return select_authorization_policies(
            self._authz_by_namespace, self.mesh.root_namespace, proxy
        )

    # ---- virtual services -----------------------------------------------------------------

    def virtual_services_for_gateway(
        self, proxy_namespace: str, gateway: str
    ) -> tuple[ConfigObject, ...]:
        """VirtualServices bound to ``gateway`` (``mesh`` or ``ns/name``) and exported to
        ``proxy_namespace``; those of the proxy's own namespace first, then by creation."""
        vss = [
            vs
            for vs in self._vs_by_gateway.get(gateway, ())
            if is_visible(vs.spec.export_to, vs.namespace, proxy_namespace)
        ]
        vss.sort(key=lambda vs: (vs.namespace != proxy_namespace, *_order(vs)))
        return tuple(vss)

    def vs_hosts(self, vs: ConfigObject) -> tuple[str, ...]:
        return tuple(resolve_short_name(h, vs.namespace, self.domain_suffix) for h in vs.spec.hosts)

    def virtual_service_for_host(
        self, proxy_namespace: str, hostname: str, gateway: str = MESH_GATEWAY
    ) -> ConfigObject | None:
        """The first VirtualService (in :meth:`virtual_services_for_gateway` order) whose
        hosts cover ``hostname``: an exact host beats a wildcard."""
        vss = self.virtual_services_for_gateway(proxy_namespace, gateway)
        for vs in vss:
            if hostname.lower() in (h.lower() for h in self.vs_hosts(vs)):
                return vs
        best: tuple[int, ConfigObject] | None = None
        for vs in vss:
            for h in self.vs_hosts(vs):
                if host_matches(h, hostname) and (best is None or len(h) > best[0]):
                    best = (len(h), vs)
        return best[1] if best else None

    def resolve_host(self, host: str, namespace: str) -> str:
        return resolve_short_name(host, namespace, self.domain_suffix)

    # ---- destination rules ----------------------------------------------------------------

    def destination_rule(
        self,
        proxy_namespace: str,
        service: Service,
        proxy_labels: Mapping[str, str] | None = None,
    ) -> ConfigObject | None:
        """Istio's lookup: the proxy's namespace, then rules exported by the service's
        namespace, then rules exported by the root namespace; in each, an exact host beats the
        most specific wildcard. With ``proxy_labels``, a rule of the proxy's namespace whose
        ``workloadSelector`` matches them wins over that namespace's catch-all rule (without,
        rules with a selector are ignored)."""
        root = self.mesh.root_namespace
        local = self._dr_local.get(proxy_namespace)
        if local is not None:
            dr = local.lookup(service.hostname, proxy_namespace, proxy_labels)
            if dr is not None:
                return dr
        if service.namespace and service.namespace != proxy_namespace:
            exported = self._dr_exported.get(service.namespace)
            if exported is not None:
                dr = exported.lookup(service.hostname, proxy_namespace)
                if dr is not None:
                    return dr
        if proxy_namespace != root:
            exported = self._dr_exported.get(root)
            if exported is not None:
                return exported.lookup(service.hostname, proxy_namespace)
        return None

    def subset_labels(
        self,
        proxy_namespace: str,
        service: Service,
        subset: str,
        proxy_labels: Mapping[str, str] | None = None,
    ) -> Mapping[str, str] | None:
        """Labels of a DestinationRule subset for the service, or None if no such subset."""
        dr = self.destination_rule(proxy_namespace, service, proxy_labels)
        if dr is None:
            return None
        for s in dr.spec.subsets:
            if s.name == subset:
                return MappingProxyType(dict(s.labels))
        return None

    # ---- gateways, sidecars, envoy filters ------------------------------------------------

    def gateways_for_proxy(self, proxy: Proxy) -> tuple[ConfigObject, ...]:
        """Gateways whose ``selector`` matches the router's labels (any namespace, as Istio
        with PILOT_SCOPE_GATEWAY_TO_NAMESPACE=false)."""
        return tuple(gw for gw in self.gateways if labels_match(gw.spec.selector, proxy.labels))

    def merged_gateway(self, proxy: Proxy) -> MergedGateway:
        """The Gateways selecting the router merged into one, as Istio's MergeGateways."""
        return merge_gateways(self.gateways_for_proxy(proxy))

    def gateway_conflicts(self) -> tuple[GatewayConflict, ...]:
        """Servers dropped when merging the Gateways that share a selector (what a router
        with exactly those labels would drop), for the control plane to report."""
        groups: dict[tuple[tuple[str, str], ...], list[ConfigObject]] = defaultdict(list)
        for gw in self.gateways:
            groups[tuple(sorted(gw.spec.selector.items()))].append(gw)
        out: list[GatewayConflict] = []
        for key in sorted(groups):
            out.extend(merge_gateways(groups[key]).conflicts)
        return tuple(out)

    def sidecar_for_proxy(self, proxy: Proxy) -> ConfigObject | None:
        """The Sidecar that applies: one in the proxy's namespace selecting it, else the one
        there without a selector, else the root namespace's one without a selector."""
        in_ns = [s for s in self.sidecars if s.namespace == proxy.namespace]
        for s in in_ns:
            sel = s.spec.workload_selector
            if sel is not None and sel.labels and labels_match(sel.labels, proxy.labels):
                return s
        for s in in_ns:
            if s.spec.workload_selector is None or not s.spec.workload_selector.labels:
                return s
        for s in self.sidecars:
            if s.namespace == self.mesh.root_namespace and (
                s.spec.workload_selector is None or not s.spec.workload_selector.labels
            ):
                return s
        return None

    def request_authentications_for(self, proxy: Proxy) -> tuple[ConfigObject, ...]:
        """Istio's JWT policies of a workload: those of its namespace, then those of the root
        namespace, oldest first, that select it. A policy with ``targetRef(s)`` selects only
        the instances of the Gateway API Gateway it names (label
        ``gateway.networking.k8s.io/gateway-name``, same namespace); for other workloads it
        is ignored. Otherwise ``selector`` (none: every workload in scope)."""
        root = self.mesh.root_namespace
        namespaces = [proxy.namespace] if proxy.namespace == root else [proxy.namespace, root]
        gateway_name = proxy.labels.get(GATEWAY_NAME_LABEL)
        out: list[ConfigObject] = []
        for ns in namespaces:
            for ra in self._request_authentications.get(ns, ()):
                spec = ra.spec
                refs = list(spec.target_refs) or ([spec.target_ref] if spec.target_ref else [])
                if refs:
                    if gateway_name is not None and ra.namespace == proxy.namespace and any(
                        (r.group or "") == _GATEWAY_API
                        and r.kind == "Gateway"
                        and r.name == gateway_name
                        and (r.namespace or proxy.namespace) == proxy.namespace
                        for r in refs
                    ):
                        out.append(ra)
                    continue
                labels = spec.selector.match_labels if spec.selector else {}
                if labels_match(labels, proxy.labels):
                    out.append(ra)
        return tuple(out)

    def envoy_filters_for_proxy(self, proxy: Proxy) -> tuple[ConfigObject, ...]:
        """EnvoyFilters of the root namespace and the proxy's namespace whose
        ``workloadSelector`` (if any) matches its labels, in Istio's order: by ``priority``,
        then root namespace first, then creation time, then name. Filters with
        ``targetRefs`` select no sidecar or gateway (Istio uses them for waypoints only)."""
        root = self.mesh.root_namespace
        out: list[ConfigObject] = []
        for ef in self.envoy_filters:
            if ef.namespace not in (root, proxy.namespace) or ef.spec.target_refs:
                continue
            sel = ef.spec.workload_selector
            if sel is None or labels_match(sel.labels, proxy.labels):
                out.append(ef)
        out.sort(
            key=lambda ef: (
                ef.spec.priority,
                ef.namespace != root,
                ef.meta.creation_timestamp,
                f"{ef.name}.{ef.namespace}",
            )
        )
        return tuple(out)

    def envoy_filter_patches(self, proxy: Proxy) -> Mapping[str, tuple[EnvoyFilterPatch, ...]]:
        """The config patches that apply to the proxy by ``applyTo``, in application order
        (filters as :meth:`envoy_filters_for_proxy`, patches in their order), those whose
        ``match.proxy`` does not match the proxy left out."""
        if not self.envoy_filters:
            return _NO_PATCHES
        out: dict[str, list[EnvoyFilterPatch]] = {}
        for ef in self.envoy_filters_for_proxy(proxy):
            for patch in self._envoy_filter_patches.get((ef.namespace, ef.name), ()):
                if proxy_matches(patch, proxy.metadata):
                    out.setdefault(patch.apply_to, []).append(patch)
        return MappingProxyType({k: tuple(v) for k, v in out.items()})


_NO_PATCHES: Mapping[str, tuple[EnvoyFilterPatch, ...]] = MappingProxyType({})


def _gateway_names(vs: ConfigObject) -> list[str]:
    gws: list[str] = vs.spec.gateways or [MESH_GATEWAY]
    out = []
    for g in gws:
        if g == MESH_GATEWAY or "/" in g:
            out.append(g)
        else:
            out.append(f"{vs.namespace}/{g}")
    return out


def _selects_on_labels(o: ConfigObject) -> bool:
    spec = o.spec
    if getattr(spec, "workload_selector", None) is not None:
        return True
    selector = getattr(spec, "selector", None)  # PeerAuthentication, AuthorizationPolicy
    if (
        o.kind in ("PeerAuthentication", "AuthorizationPolicy")
        and selector is not None
        and selector.match_labels
    ):
        return True
    if o.kind == "RequestAuthentication" and (
        (selector is not None and selector.match_labels) or spec.target_ref or spec.target_refs
    ):
        return True
    if o.kind == "VirtualService":
        return any(m.source_labels for h in spec.http for m in h.match) or any(
            m.source_labels for r in (*spec.tcp, *spec.tls) for m in r.match
        )
    return False


def build_push_context(
    objects: Iterable[ConfigObject],
    mesh: MeshConfig | None = None,
    version: str = "",
    *,
    domain_suffix: str = "cluster.local",
    registry: Registry | None = None,
    jwks: Mapping[str, str] | None = None,
) -> PushContext:
    """Build the snapshot: the registry (from the same objects unless given) and the
    config indexes. ``jwks``: the key sets the control plane fetched (``jwksUri -> JWKS``).
    Pure."""
    mesh = mesh or MeshConfig()
    objs = list(objects)
    if registry is None:
        registry = build_registry(objs, domain_suffix)
    by_kind: dict[str, list[ConfigObject]] = defaultdict(list)
    for o in objs:
        if o.group == _NETWORKING:
            by_kind[o.kind].append(o)
    for lst in by_kind.values():
        lst.sort(key=_order)

    services_by_host: dict[str, list[Service]] = defaultdict(list)
    for s in registry.services:
        services_by_host[s.hostname].append(s)

    vs_by_gateway: dict[str, list[ConfigObject]] = defaultdict(list)
    for vs in by_kind["VirtualService"]:
        for g in _gateway_names(vs):
            vs_by_gateway[g].append(vs)

    dr_local: dict[str, dict[str, list[ConfigObject]]] = defaultdict(lambda: defaultdict(list))
    dr_exported: dict[str, dict[str, list[ConfigObject]]] = defaultdict(lambda: defaultdict(list))
    for dr in by_kind["DestinationRule"]:
        host = resolve_short_name(dr.spec.host, dr.namespace, domain_suffix)
        export: list[str] = list(dr.spec.export_to)
        if is_visible(export, dr.namespace, dr.namespace):
            dr_local[dr.namespace][host].append(dr)
        if not export or any(e not in (".", dr.namespace) for e in export):
            dr_exported[dr.namespace][host].append(dr)

    def dr_scopes(index: Mapping[str, Mapping[str, list[ConfigObject]]]) -> Mapping[str, _DRScope]:
        return MappingProxyType(
            {
                ns: _DRScope(
                    MappingProxyType({h: _merge_destination_rules(rs) for h, rs in d.items()})
                )
                for ns, d in index.items()
            }
        )

    all_istio: list[ConfigObject] = sorted(
        (o for o in objs if o.group != "" and o.group != "discovery.k8s.io" and o.group != "apps"),
        key=lambda o: (o.group, o.kind, o.namespace, o.name),
    )

    instances: dict[str, list[tuple[int, Service, Endpoint]]] = defaultdict(list)
    for order, svc in enumerate(registry.services):
        if svc.mesh_external:
            continue
        for ep in registry.service_endpoints(svc):
            instances[ep.address].append((order, svc, ep))

    def freeze(d: Mapping[str, list[Any]]) -> Mapping[str, tuple[Any, ...]]:
        return MappingProxyType({k: tuple(v) for k, v in d.items()})

    request_authns: dict[str, list[ConfigObject]] = defaultdict(list)
    for o in sorted(
        (o for o in objs if (o.group, o.kind) == (_SECURITY, "RequestAuthentication")), key=_order
    ):
        request_authns[o.namespace].append(o)

    return PushContext(
        version=version,
        mesh=mesh,
        registry=registry,
        domain_suffix=domain_suffix,
        virtual_services=tuple(by_kind["VirtualService"]),
        destination_rules=tuple(by_kind["DestinationRule"]),
        gateways=tuple(by_kind["Gateway"]),
        sidecars=tuple(by_kind["Sidecar"]),
        envoy_filters=tuple(by_kind["EnvoyFilter"]),
        service_entries=tuple(by_kind["ServiceEntry"]),
        peer_authentications=tuple(
            sorted(
                (o for o in objs if (o.group, o.kind) == ("security.istio.io", "PeerAuthentication")),
                key=_order,
            )
        ),
        _request_authentications=freeze(request_authns),
        jwks=MappingProxyType(dict(sorted((jwks or {}).items()))),
        configs=tuple(all_istio),
        _authz_by_namespace=index_authorization_policies(objs),
        _services_by_host=freeze(services_by_host),
        _vs_by_gateway=freeze(vs_by_gateway),
        _instances_by_address=freeze(instances),
        selects_on_labels=any(
            _selects_on_labels(o)
            for o in objs
            if o.group == _NETWORKING
            or (o.group, o.kind)
            in (
                ("security.istio.io", "PeerAuthentication"),
                ("security.istio.io", "AuthorizationPolicy"),
                (_SECURITY, "RequestAuthentication"),
            )
        ),
        _dr_local=dr_scopes(dr_local),
        _dr_exported=dr_scopes(dr_exported),
        _envoy_filter_patches=MappingProxyType(
            {(ef.namespace, ef.name): compile_envoy_filter(ef) for ef in by_kind["EnvoyFilter"]}
        ),
    )
