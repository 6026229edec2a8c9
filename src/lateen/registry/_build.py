"""Build the registry from Kubernetes objects (Service, Endpoints, EndpointSlice, Pod) and
Istio's ServiceEntry / WorkloadEntry. Pure: reads only its arguments."""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from lateen.api._object import ConfigObject
from lateen.registry._model import (
    Endpoint,
    Registry,
    Resolution,
    Service,
    ServicePort,
    ServiceRegistryKind,
    labels_match,
)
from lateen.registry._protocol import Protocol, infer_protocol, parse_protocol

__all__ = [
    "EXPORT_TO_ANNOTATION",
    "LOCALITY_LABEL",
    "TLS_MODE_LABEL",
    "PodInfo",
    "build_registry",
    "endpoints_from_pods",
    "parse_export_to",
]

TLS_MODE_LABEL = "security.istio.io/tlsMode"
LOCALITY_LABEL = "istio-locality"
EXPORT_TO_ANNOTATION = "networking.istio.io/exportTo"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
_NETWORKING = "networking.istio.io"
_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class PodInfo:
    """What an endpoint needs to know about the pod behind it (labels for subsets and
    tlsMode, service account for identity). Pods in the input objects supply these; a
    platform may pass more through ``build_registry(pods=...)``."""

    name: str
    namespace: str
    labels: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    service_account: str = "default"
    ips: tuple[str, ...] = ()
    ready: bool = True
    container_ports: Mapping[str, int] = field(
        default_factory=lambda: MappingProxyType({})
    )  # name -> port


def parse_export_to(values: Iterable[str]) -> frozenset[str]:
    return frozenset(v.strip() for v in values if v.strip())


TOPOLOGY_LABELS = (
    "topology.kubernetes.io/region",
    "topology.kubernetes.io/zone",
    "topology.istio.io/subzone",
)


def _locality(labels: Mapping[str, str]) -> str:
    """``region/zone/subzone`` from the ``istio-locality`` label, else from the topology labels
    Istio reads from the pod's node (no nodes here: the pod's own labels carry them)."""
    if labels.get(LOCALITY_LABEL):
        return labels[LOCALITY_LABEL].replace(".", "/")
    parts = [labels.get(k, "") for k in TOPOLOGY_LABELS]
    return "/".join(parts).rstrip("/") if any(parts) else ""


def _tls_mode(labels: Mapping[str, str]) -> str:
    return labels.get(TLS_MODE_LABEL, "disabled")


def _pod_info(obj: ConfigObject) -> PodInfo:
    spec = obj.spec.get("spec") or {}
    status = obj.spec.get("status") or {}
    ips: list[str] = []
    for item in status.get("podIPs") or []:
        if isinstance(item, Mapping) and item.get("ip"):
            ips.append(str(item["ip"]))
    if status.get("podIP") and str(status["podIP"]) not in ips:
        ips.insert(0, str(status["podIP"]))
    ready = True
    for cond in status.get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == "Ready":
            ready = str(cond.get("status", "True")) == "True"
    ports: dict[str, int] = {}
    for c in spec.get("containers") or []:
        for p in (c or {}).get("ports") or []:
            if isinstance(p, Mapping) and p.get("name") and isinstance(p.get("containerPort"), int):
                ports[str(p["name"])] = int(p["containerPort"])
    return PodInfo(
        name=obj.name,
        namespace=obj.namespace,
        labels=MappingProxyType(dict(obj.meta.labels)),
        service_account=str(
            spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        ),
        ips=tuple(ips),
        ready=ready,
        container_ports=MappingProxyType(ports),
    )


def _kube_service(obj: ConfigObject, domain_suffix: str) -> Service:
    spec: Mapping[str, Any] = obj.spec.get("spec") or {}
    ports: list[ServicePort] = []
    for p in spec.get("ports") or []:
        number = int(p.get("port", 0))
        name = str(p.get("name") or "")
        ports.append(
            ServicePort(
                name=name,
                port=number,
                protocol=infer_protocol(
                    number, name, str(p.get("protocol") or "TCP"), p.get("appProtocol")
                ),
                target_port=p.get("targetPort") or number,
            )
        )
    addresses: list[str] = []
    for ip in spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else []):
        if ip and ip != "None" and ip not in addresses:
            addresses.append(str(ip))
    resolution = Resolution.CLIENT_SIDE_LB
    mesh_external = False
    svc_type = spec.get("type") or "ClusterIP"
    if svc_type == "ExternalName":
        resolution = Resolution.DNS
        mesh_external = True
        addresses = []
    elif spec.get("clusterIP") == "None":
        resolution = Resolution.PASSTHROUGH  # headless
    # no clusterIP in the manifest: the API server would allocate one; it is a normal
    # load-balanced service (EDS), only without a VIP
    export = obj.meta.annotations.get(EXPORT_TO_ANNOTATION, "")
    selector = spec.get("selector")
    return Service(
        hostname=f"{obj.name}.{obj.namespace}.svc.{domain_suffix}",
        namespace=obj.namespace,
        name=obj.name,
        ports=tuple(ports),
        addresses=tuple(addresses),
        resolution=resolution,
        mesh_external=mesh_external,
        labels=MappingProxyType(dict(obj.meta.labels)),
        selector=MappingProxyType({str(k): str(v) for k, v in selector.items()})
        if isinstance(selector, Mapping)
        else None,
        export_to=parse_export_to(export.split(",")),
        registry=ServiceRegistryKind.KUBERNETES,
        creation_timestamp=obj.meta.creation_timestamp,
    )


def _service_port_for(svc: Service, ep_port_name: str, ep_port: int) -> ServicePort | None:
    """Match an Endpoints/EndpointSlice port to the service port (by name, as Kubernetes does)."""
    for sp in svc.ports:
        if sp.name == ep_port_name:
            return sp
    if len(svc.ports) == 1 and not ep_port_name:
        return svc.ports[0]
    return None


def _endpoint(
    svc: Service,
    sp: ServicePort,
    address: str,
    port: int,
    pod: PodInfo | None,
    healthy: bool,
    locality: str = "",
) -> Endpoint:
    labels = pod.labels if pod else _EMPTY
    return Endpoint(
        address=address,
        port=port,
        service_port_name=sp.name,
        service_port=sp.port,
        labels=labels,
        namespace=pod.namespace if pod else svc.namespace,
        service_account=pod.service_account if pod else "",
        tls_mode=_tls_mode(labels),
        locality=_locality(labels) or locality,
        healthy=healthy,
        workload_name=pod.name if pod else "",
    )


def _pod_for(
    target: Any, pods: Mapping[tuple[str, str], PodInfo], default_ns: str
) -> PodInfo | None:
    if not isinstance(target, Mapping) or target.get("kind", "Pod") != "Pod":
        return None
    return pods.get((str(target.get("namespace") or default_ns), str(target.get("name") or "")))


def _from_endpoints(
    svc: Service, obj: ConfigObject, pods: Mapping[tuple[str, str], PodInfo]
) -> list[Endpoint]:
    out: list[Endpoint] = []
    for subset in obj.spec.get("subsets") or []:
        ports = subset.get("ports") or []
        for key, healthy in (("addresses", True), ("notReadyAddresses", False)):
            for addr in subset.get(key) or []:
                pod = _pod_for(addr.get("targetRef"), pods, svc.namespace)
                for p in ports:
                    sp = _service_port_for(svc, str(p.get("name") or ""), int(p.get("port", 0)))
                    if sp is None:
                        continue
                    out.append(
                        _endpoint(svc, sp, str(addr.get("ip")), int(p["port"]), pod, healthy)
                    )
    return out


def _from_slice(
    svc: Service, obj: ConfigObject, pods: Mapping[tuple[str, str], PodInfo]
) -> list[Endpoint]:
    if obj.spec.get("addressType", "IPv4") not in ("IPv4", "IPv6"):
        return []
    out: list[Endpoint] = []
    ports = obj.spec.get("ports") or []
    for ep in obj.spec.get("endpoints") or []:
        conditions = ep.get("conditions") or {}
        healthy = conditions.get("ready") is not False  # unset means ready
        pod = _pod_for(ep.get("targetRef"), pods, svc.namespace)
        zone = str(ep.get("zone") or "")
        for address in ep.get("addresses") or []:
            for p in ports:
                sp = _service_port_for(svc, str(p.get("name") or ""), int(p.get("port", 0)))
                if sp is None or p.get("port") is None:
                    continue
                out.append(
                    _endpoint(
                        svc,
                        sp,
                        str(address),
                        int(p["port"]),
                        pod,
                        healthy,
                        f"/{zone}" if zone else "",
                    )
                )
    return out


def _target_port(sp: ServicePort, named: Mapping[str, int]) -> int | None:
    if isinstance(sp.target_port, str) and not sp.target_port.isdigit():
        return named.get(sp.target_port)
    return int(sp.target_port) if sp.target_port else sp.port


def endpoints_from_pods(svc: Service, pods: Iterable[PodInfo]) -> list[Endpoint]:
    """Endpoints of a selector Service computed from matching pods with an address (what the
    Kubernetes endpoints controller would write); used when no Endpoints/EndpointSlice exist."""
    out: list[Endpoint] = []
    if svc.selector is None or not svc.selector:
        return out
    for pod in pods:
        if (
            pod.namespace != svc.namespace
            or not pod.ips
            or not labels_match(svc.selector, pod.labels)
        ):
            continue
        for sp in svc.ports:
            port = _target_port(sp, pod.container_ports)
            if port is None:
                continue
            out.append(_endpoint(svc, sp, pod.ips[0], port, pod, pod.ready))
    return out


def _workload_entry_tls_mode(labels: Mapping[str, str], service_account: str) -> str:
    """A WorkloadEntry (or ServiceEntry endpoint) speaks Istio mTLS when its ``tlsMode`` label
    says so or, without the label, when it names a service account (as Istio decides)."""
    if TLS_MODE_LABEL in labels:
        return labels[TLS_MODE_LABEL]
    return "istio" if service_account else "disabled"


def _se_address(value: str) -> str:
    """A ServiceEntry address: an IP, or a CIDR (a host-length prefix becomes its IP)."""
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return value
    if "/" in value and net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    return value


def _selected_workload_entries(
    svc: Service, selector: Mapping[str, str], workload_entries: Iterable[ConfigObject]
) -> list[Endpoint]:
    """Endpoints of the WorkloadEntries in the service's namespace whose labels ``selector``
    matches (a ServiceEntry's ``workloadSelector``, a Kubernetes Service's ``selector``)."""
    eps: list[Endpoint] = []
    for weo in workload_entries:
        labels = {**weo.meta.labels, **weo.spec.labels}
        if weo.namespace == svc.namespace and labels_match(selector, labels):
            eps.extend(
                _workload_entry_endpoints(
                    svc, weo.spec.address, weo.spec, weo.name, weo.namespace, weo.meta.labels
                )
            )
    return eps


def _workload_entry_endpoints(
    svc: Service,
    address: str,
    we_spec: Any,
    we_name: str,
    namespace: str,
    meta_labels: Mapping[str, str],
) -> list[Endpoint]:
    labels = dict(meta_labels)
    labels.update(we_spec.labels)
    out = []
    for sp in svc.ports:
        port = we_spec.ports.get(sp.name)
        if port is None:
            port = _target_port(sp, {}) or sp.port
        out.append(
            Endpoint(
                address=address,
                port=int(port),
                service_port_name=sp.name,
                service_port=sp.port,
                labels=MappingProxyType(labels),
                namespace=namespace,
                service_account=we_spec.service_account,
                tls_mode=_workload_entry_tls_mode(labels, we_spec.service_account),
                locality=we_spec.locality or _locality(labels),
                weight=int(we_spec.weight or 0),
                healthy=True,
                workload_name=we_name,
            )
        )
    return out


_SE_RESOLUTION = {
    "NONE": Resolution.PASSTHROUGH,
    "STATIC": Resolution.STATIC,
    "DNS": Resolution.DNS,
    "DNS_ROUND_ROBIN": Resolution.DNS_ROUND_ROBIN,
}


def _service_entry(
    obj: ConfigObject,
    workload_entries: list[ConfigObject],
    pods: Iterable[PodInfo],
) -> list[tuple[Service, list[Endpoint]]]:
    spec = obj.spec
    ports = tuple(
        ServicePort(
            name=p.name or f"{(p.protocol or 'tcp').lower()}-{p.number}",
            port=int(p.number),
            protocol=parse_protocol(p.protocol) if p.protocol else Protocol.UNSUPPORTED,
            target_port=int(p.target_port or 0),
        )
        for p in spec.ports
    )
    resolution = _SE_RESOLUTION.get(str(spec.resolution), Resolution.PASSTHROUGH)
    selector = dict(spec.workload_selector.labels) if spec.workload_selector is not None else None
    out: list[tuple[Service, list[Endpoint]]] = []
    for host in spec.hosts:
        svc = Service(
            hostname=host,
            namespace=obj.namespace,
            name=host,
            ports=ports,
            addresses=tuple(dict.fromkeys(_se_address(a) for a in spec.addresses)),
            resolution=resolution,
            mesh_external=str(spec.location) != "MESH_INTERNAL",
            labels=MappingProxyType(dict(obj.meta.labels)),
            selector=MappingProxyType(selector) if selector is not None else None,
            export_to=parse_export_to(spec.export_to),
            registry=ServiceRegistryKind.EXTERNAL,
            creation_timestamp=obj.meta.creation_timestamp,
        )
        eps: list[Endpoint] = []
        for i, we in enumerate(spec.endpoints):
            eps.extend(
                _workload_entry_endpoints(
                    svc, we.address, we, f"{obj.name}-{i}", obj.namespace, _EMPTY
                )
            )
        if selector is not None:
            eps.extend(_selected_workload_entries(svc, selector, workload_entries))
            eps.extend(endpoints_from_pods(svc, pods))
        if (
            not eps
            and selector is None
            and resolution in (Resolution.DNS, Resolution.DNS_ROUND_ROBIN)
            and not host.startswith("*")
        ):
            # DNS resolution without endpoints resolves the host itself.
            for sp in ports:
                eps.append(
                    Endpoint(
                        address=host,
                        port=sp.numeric_target_port,
                        service_port_name=sp.name,
                        service_port=sp.port,
                        namespace=obj.namespace,
                    )
                )
        out.append((svc, eps))
    return out


def _sort_key(e: Endpoint) -> tuple[int, str, int, str]:
    return (e.service_port, e.address, e.port, e.service_port_name)


def build_registry(
    objects: Iterable[ConfigObject],
    domain_suffix: str = "cluster.local",
    *,
    pods: Iterable[PodInfo] = (),
) -> Registry:
    """Build every service and its endpoints.

    * Kubernetes ``Service`` -> ``<name>.<ns>.svc.<domain_suffix>``; endpoints from its
      ``EndpointSlice``s (label ``kubernetes.io/service-name``) when it has any, else its
      ``Endpoints``, else (selector services only) from matching ``Pod``s with an address and
      ``WorkloadEntry``s in the namespace. Pod labels and service accounts come from ``Pod``
      objects in ``objects`` and from ``pods`` (targetRef ``namespace/name``).
    * ``ServiceEntry`` -> one service per host, endpoints from ``endpoints``, or from
      ``WorkloadEntry``s (and pods) selected by ``workloadSelector``.
    """
    objs = list(objects)
    pod_index: dict[tuple[str, str], PodInfo] = {}
    for o in objs:
        if o.group == "" and o.kind == "Pod":
            info = _pod_info(o)
            pod_index[(info.namespace, info.name)] = info
    for info in pods:
        pod_index[(info.namespace, info.name)] = info
    all_pods = sorted(pod_index.values(), key=lambda p: (p.namespace, p.name))

    endpoints_objs: dict[tuple[str, str], ConfigObject] = {}
    slices: dict[tuple[str, str], list[ConfigObject]] = defaultdict(list)
    workload_entries: list[ConfigObject] = []
    for o in objs:
        if o.group == "" and o.kind == "Endpoints":
            endpoints_objs[(o.namespace, o.name)] = o
        elif o.group == "discovery.k8s.io" and o.kind == "EndpointSlice":
            svc_name = o.meta.labels.get(SERVICE_NAME_LABEL)
            if svc_name:
                slices[(o.namespace, svc_name)].append(o)
        elif o.group == _NETWORKING and o.kind == "WorkloadEntry":
            workload_entries.append(o)
    workload_entries.sort(key=lambda o: (o.namespace, o.name))

    services: list[Service] = []
    endpoints: dict[tuple[str, str], tuple[Endpoint, ...]] = {}
    for o in objs:
        eps: list[Endpoint]
        if o.group == "" and o.kind == "Service":
            svc = _kube_service(o, domain_suffix)
            key = (o.namespace, o.name)
            if key in slices:
                eps = []
                for s in sorted(slices[key], key=lambda s: s.name):
                    eps.extend(_from_slice(svc, s, pod_index))
            elif key in endpoints_objs:
                eps = _from_endpoints(svc, endpoints_objs[key], pod_index)
            elif svc.resolution is Resolution.DNS:
                ext = str((o.spec.get("spec") or {}).get("externalName") or "")
                eps = [
                    Endpoint(ext, sp.numeric_target_port, sp.name, sp.port, namespace=svc.namespace)
                    for sp in svc.ports
                    if ext
                ]
            else:
                eps = endpoints_from_pods(svc, all_pods)
                if svc.selector:
                    eps.extend(_selected_workload_entries(svc, svc.selector, workload_entries))
            services.append(svc)
            endpoints[(svc.hostname, svc.namespace)] = tuple(sorted(eps, key=_sort_key))
        elif o.group == _NETWORKING and o.kind == "ServiceEntry":
            for svc, eps in _service_entry(o, workload_entries, all_pods):
                services.append(svc)
                endpoints[(svc.hostname, svc.namespace)] = tuple(sorted(eps, key=_sort_key))
    services.sort(key=lambda s: (s.hostname, s.namespace))
    return Registry(services=tuple(services), endpoints=MappingProxyType(endpoints))
