"""Analyzers of DestinationRules, Services, Namespaces and Sidecars: subsets that select no
pod, hosts that match no service, TLS without a CA to verify the server, port names Istio
cannot read a protocol from, namespaces without injection, Sidecars that collide."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from lateen.analyze import _codes as C
from lateen.analyze._context import SYSTEM_NAMESPACES, Context, selector_string
from lateen.analyze._messages import go_list, go_quote
from lateen.api import ConfigObject
from lateen.registry import infer_protocol

__all__ = [
    "ca_certificates",
    "injection",
    "port_names",
    "sidecar_default_selector",
    "sidecar_selector",
    "subset_pods",
]

ISTIO_SYSTEM = "istio-system"
INJECTION_LABEL = "istio-injection"
REVISION_LABEL = "istio.io/rev"


def _matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def subset_pods(ctx: Context) -> None:
    """IST0174 a DestinationRule host that matches no service, IST0173 a subset whose labels
    (with the ServiceEntry's workload selector) select no pod in the mesh."""
    for dr in ctx.of("DestinationRule"):
        entry = ctx.destination_host(dr.namespace, dr.spec.export_to, dr.spec.host)
        if entry is None:
            ctx.report(C.UNKNOWN_DR_HOST, dr, dr.spec.host, field="spec.host")
            continue
        for i, subset in enumerate(dr.spec.subsets):
            selector = {**entry.workload_selector, **subset.labels}
            if not any(_matches(selector, w.labels) for w in ctx.workloads):
                ctx.report(C.DR_SUBSET_NOT_SELECT_PODS, dr, subset.name, field=f"spec.subsets[{i}].name")


def _tls_without_ca(tls: Any) -> str:
    if tls is None or tls.mode not in ("SIMPLE", "MUTUAL") or tls.ca_certificates:
        return ""
    return str(tls.mode)


def ca_certificates(ctx: Context) -> None:
    """IST0128/IST0129: TLS origination (SIMPLE or MUTUAL) without ``caCertificates``, for the
    whole DestinationRule or one port."""
    for dr in ctx.of("DestinationRule"):
        tp = dr.spec.traffic_policy
        if tp is None:
            continue
        name = f"{dr.namespace}/{dr.name}"
        mode = _tls_without_ca(tp.tls)
        if mode:
            ctx.report(
                C.NO_SERVER_CERT_VERIFICATION_DR, dr, name, dr.namespace, mode, dr.spec.host,
                field="spec.trafficPolicy.tls",
            )
        for i, pls in enumerate(tp.port_level_settings):
            mode = _tls_without_ca(pls.tls)
            if mode:
                port = f"number:{pls.port.number}" if pls.port and pls.port.number else ""
                ctx.report(
                    C.NO_SERVER_CERT_VERIFICATION_PORT, dr, name, dr.namespace, mode, dr.spec.host,
                    port, field=f"spec.trafficPolicy.portLevelSettings[{i}].tls",
                )


def _control_plane(obj: ConfigObject) -> bool:
    return "istio" in obj.meta.labels or obj.meta.labels.get("release") == "istio"


def port_names(ctx: Context) -> None:
    """IST0118: a Service port whose name (or ``appProtocol``) names no protocol, so Istio
    falls back to protocol sniffing; IST0150 the same on an ExternalName Service."""
    for svc in ctx.of("Service"):
        if svc.namespace in SYSTEM_NAMESPACES or _control_plane(svc):
            continue
        spec: Any = svc.spec.get("spec") or {}
        external = spec.get("type") == "ExternalName"
        for i, p in enumerate(spec.get("ports") or []):
            if not isinstance(p, Mapping) or not isinstance(p.get("port"), int):
                continue
            name = str(p.get("name") or "")
            protocol = infer_protocol(
                p["port"], name, str(p.get("protocol") or "TCP"), p.get("appProtocol")
            )
            if not protocol.is_unsupported and not (name == "tcp" and external):
                continue
            where = f"spec.ports[{i}].port"
            if external:
                ctx.report(C.EXTERNAL_NAME_INVALID_PORT_NAME, svc, field=where)
            else:
                target = p.get("targetPort")
                target_text = str(target) if target not in (None, "") else str(p["port"])
                ctx.report(C.PORT_NAME_NOT_UNDER_CONVENTION, svc, name, str(p["port"]), target_text, field=where)


def injection(ctx: Context) -> None:
    """IST0102: a namespace labelled neither ``istio-injection`` nor ``istio.io/rev``."""
    for ns in ctx.of("Namespace"):
        if ns.name == ISTIO_SYSTEM or ns.name in SYSTEM_NAMESPACES:
            continue
        labels = ns.meta.labels
        if INJECTION_LABEL not in labels and REVISION_LABEL not in labels:
            ctx.report(C.NAMESPACE_NOT_INJECTED, ns, ns.name, ns.name, field="metadata.name")


def _selector(sc: ConfigObject) -> dict[str, str]:
    ws = sc.spec.workload_selector
    return dict(ws.labels) if ws is not None else {}


def sidecar_selector(ctx: Context) -> None:
    """IST0101 a Sidecar whose workload selector matches no pod of its namespace, IST0110 two
    Sidecars selecting the same pod."""
    by_pod: dict[tuple[str, str], list[ConfigObject]] = defaultdict(list)
    for sc in ctx.of("Sidecar"):
        selector = _selector(sc)
        if not selector:
            continue
        found = False
        for w in ctx.workloads:
            if w.namespace == sc.namespace and _matches(selector, w.labels):
                found = True
                by_pod[(w.namespace, w.name)].append(sc)
        if not found:
            field = f"spec.workloadSelector.labels.{min(selector)}"
            ctx.report(C.REFERENCED_RESOURCE_NOT_FOUND, sc, "selector", go_quote(selector_string(selector)), field=field)
    for (ns, pod), sidecars in sorted(by_pod.items()):
        if len(sidecars) < 2:
            continue
        names = go_list(s.name for s in sidecars)
        for sc in sidecars:
            ctx.report(C.CONFLICTING_SIDECAR_SELECTORS, sc, names, go_quote(ns), go_quote(pod), field="metadata.name")


def sidecar_default_selector(ctx: Context) -> None:
    """IST0111: more than one Sidecar without a workload selector in a namespace."""
    by_ns: dict[str, list[ConfigObject]] = defaultdict(list)
    for sc in ctx.of("Sidecar"):
        if not _selector(sc):
            by_ns[sc.namespace].append(sc)
    for ns, sidecars in sorted(by_ns.items()):
        if len(sidecars) < 2:
            continue
        names = go_list(s.name for s in sidecars)
        for sc in sidecars:
            ctx.report(C.MULTIPLE_SIDECARS_WITHOUT_SELECTOR, sc, names, go_quote(ns), field="metadata.name")
