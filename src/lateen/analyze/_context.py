"""What the analyzers look at: the config objects indexed by kind, the pods (running ones, and
the ones a Deployment would start), and Istio's analysis view of the service registry (every
Kubernetes Service and ServiceEntry host, per namespace that can see it)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from lateen.analyze._messages import SUPPRESS_ANNOTATION, Message, MessageType, Resource
from lateen.api import ConfigObject

__all__ = [
    "SYSTEM_NAMESPACES",
    "Context",
    "HostEntry",
    "ServicePort",
    "Workload",
    "file_source",
    "fqdn",
    "selector_string",
]

NETWORKING = "networking.istio.io"
DOMAIN = "svc.cluster.local"
# Namespaces the injector never touches (Istio's ``inject.IgnoredNamespaces``)
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "local-path-storage"})
_EMPTY: Mapping[str, str] = MappingProxyType({})


def fqdn(namespace: str, host: str) -> str:
    """Istio's analysis ``ConvertHostToFQDN``: a short name becomes
    ``name.namespace.svc.cluster.local``; wildcards and names with a dot stay."""
    if host.startswith("*") or "." in host:
        return host
    return f"{host}.{namespace}.{DOMAIN}"


def selector_string(labels: Mapping[str, str]) -> str:
    """A label selector as Kubernetes prints it: ``app=a,version=v1`` (sorted)."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items()}


@dataclass(frozen=True, slots=True)
class Workload:
    """A pod: a running one, a Pod manifest, or the pod a Deployment's template describes
    (``synthetic``: not running yet, named after its Deployment)."""

    namespace: str
    name: str
    labels: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    synthetic: bool = False


@dataclass(frozen=True, slots=True)
class ServicePort:
    number: int
    name: str = ""
    protocol: str = ""


@dataclass(frozen=True, slots=True)
class HostEntry:
    """A host of the registry as the analyzers see it (Istio converts each Kubernetes
    Service to a ServiceEntry with its ports and no workload selector)."""

    ports: tuple[ServicePort, ...] = ()
    workload_selector: Mapping[str, str] = field(default_factory=lambda: _EMPTY)


def _body_spec(body: Any) -> Mapping[str, Any]:
    spec = body.get("spec") if isinstance(body, Mapping) else None
    return spec if isinstance(spec, Mapping) else {}


class Context:
    """Read-only indexes over one set of objects; analyzers report through :meth:`report`."""

    def __init__(self, objects: Iterable[ConfigObject]) -> None:
        self.objects: list[ConfigObject] = sorted(
            objects, key=lambda o: (o.group, o.kind, o.namespace, o.name)
        )
        self._by_kind: dict[tuple[str, str], list[ConfigObject]] = defaultdict(list)
        for o in self.objects:
            self._by_kind[(o.group, o.kind)].append(o)
        self.messages: list[Message] = []
        self.workloads: list[Workload] = self._workloads()
        self._hosts: dict[tuple[str, str], HostEntry] | None = None

    # -- objects ----------------------------------------------------------------------------

    def of(self, kind: str, group: str | None = None) -> list[ConfigObject]:
        """Objects of one kind (Istio networking kinds by default, Kubernetes core kinds
        when ``kind`` is one of them), sorted by namespace and name."""
        if group is None:
            group = "" if kind in ("Namespace", "Service", "Pod") else NETWORKING
        return self._by_kind.get((group, kind), [])

    def find(self, kind: str, namespace: str, name: str) -> ConfigObject | None:
        for o in self.of(kind):
            if o.namespace == namespace and o.name == name:
                return o
        return None

    @staticmethod
    def resource(obj: ConfigObject) -> Resource:
        raw = obj.meta.annotations.get(SUPPRESS_ANNOTATION, "")
        codes = tuple(c.strip() for c in raw.split(",") if c.strip())
        return Resource(obj.kind, obj.namespace, obj.name, file_source(obj.source), 0, codes)

    def report(
        self, mtype: MessageType, obj: ConfigObject, *params: str, field: str = ""
    ) -> None:
        self.messages.append(Message(mtype, self.resource(obj), tuple(params), field))

    # -- workloads --------------------------------------------------------------------------

    def _workloads(self) -> list[Workload]:
        out: list[Workload] = [
            Workload(p.namespace, p.name, MappingProxyType(dict(p.meta.labels)))
            for p in self.of("Pod")
        ]
        for d in self.of("Deployment", "apps"):
            spec = _body_spec(d.spec)
            template = spec.get("template")
            meta = template.get("metadata") if isinstance(template, Mapping) else None
            labels = _str_map(meta.get("labels")) if isinstance(meta, Mapping) else {}
            sel = spec.get("selector")
            match = _str_map(sel.get("matchLabels")) if isinstance(sel, Mapping) else {}
            match = match or labels
            running = any(
                w.namespace == d.namespace and _matches(match, w.labels) for w in out if not w.synthetic
            )
            if not running:
                out.append(Workload(d.namespace, d.name, MappingProxyType(labels), synthetic=True))
        return out

    # -- the registry, as Istio's analyzers see it -------------------------------------------

    @property
    def hosts(self) -> Mapping[tuple[str, str], HostEntry]:
        """``(scope, fqdn) -> entry``: scope ``*`` for hosts every namespace sees, else the
        namespace that sees it (Istio's ``InitServiceEntryHostMap``)."""
        if self._hosts is None:
            self._hosts = self._host_map()
        return self._hosts

    def _host_map(self) -> dict[tuple[str, str], HostEntry]:
        out: dict[tuple[str, str], HostEntry] = {}
        for se in self.of("ServiceEntry"):
            ports = tuple(ServicePort(int(p.number), p.name, p.protocol) for p in se.spec.ports)
            selector = dict(se.spec.workload_selector.labels) if se.spec.workload_selector else {}
            entry = HostEntry(ports, MappingProxyType(selector))
            for host in se.spec.hosts:
                h = fqdn(se.namespace, host)
                scopes = se.spec.export_to or ["*"]
                if "*" in scopes:
                    scopes = ["*"]
                for scope in scopes:
                    out[(se.namespace if scope == "." else scope, h)] = entry
        for svc in self.of("Service"):
            spec = _body_spec(svc.spec)
            svc_ports: list[ServicePort] = []
            for p in spec.get("ports") or []:
                if isinstance(p, Mapping):
                    number = p.get("port")
                    svc_ports.append(
                        ServicePort(
                            int(number) if isinstance(number, int) else 0,
                            str(p.get("name") or ""),
                            str(p.get("protocol") or "TCP"),
                        )
                    )
            export = svc.meta.annotations.get("networking.istio.io/exportTo", "")
            scopes = [s.strip() for s in export.split(",") if s.strip()] or ["*"]
            h = fqdn(svc.namespace, svc.name)
            for scope in scopes:
                out[(svc.namespace if scope == "." else scope, h)] = HostEntry(tuple(svc_ports))
        return out

    def destination_host(
        self, namespace: str, export_to: Sequence[str], host: str
    ) -> HostEntry | None:
        """The registry entry a destination ``host`` refers to from ``namespace`` (Istio's
        ``GetDestinationHost``): a host every namespace sees, one the referring object's
        ``exportTo`` namespaces see, then wildcard hosts."""
        name = fqdn(namespace, host)
        found = self.hosts.get(("*", name))
        if found is not None:
            return found
        scopes = [namespace if e == "." else e for e in export_to] or [namespace]
        for scope in scopes:
            found = self.hosts.get((scope, name))
            if found is not None:
                return found
        bare = host.removeprefix("*")
        for (scope, se_host), entry in sorted(self.hosts.items()):
            if not se_host.startswith("*") or scope not in ("*", namespace):
                continue
            if bare.endswith(se_host[1:]):
                return entry
        return None

    def namespace_labels(self) -> dict[str, Mapping[str, str]]:
        return {ns.name: ns.meta.labels for ns in self.of("Namespace")}


def _matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def file_source(source: str) -> str:
    """A file name worth printing: not the running mesh's ``lateen:builtin`` and the like."""
    return "" if not source or ":" in source.split("/", 1)[0] else source
