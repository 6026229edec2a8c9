"""Gateway analyzers: a selector that matches no pod, a server port the gateway's Service does
not expose, and two gateways that claim the same host and port on the same workload."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from lateen.analyze import _codes as C
from lateen.analyze._context import Context, selector_string
from lateen.analyze._messages import go_quote
from lateen.model import hosts_intersect

__all__ = ["conflicting_gateways", "ingress_gateway_ports"]


def _matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def _service_target_ports(ctx: Context, namespace: str, labels: Mapping[str, str]) -> set[int]:
    """The TCP target ports of every Service of ``namespace`` that selects a pod with
    ``labels`` (a Service without selector counts, as in Istio's analyzer)."""
    out: set[int] = set()
    for svc in ctx.of("Service"):
        if svc.namespace != namespace:
            continue
        spec: Any = svc.spec.get("spec") or {}
        selector = spec.get("selector") or {}
        if not isinstance(selector, Mapping) or not _matches(
            {str(k): str(v) for k, v in selector.items()}, labels
        ):
            continue
        for p in spec.get("ports") or []:
            if not isinstance(p, Mapping) or str(p.get("protocol") or "TCP") != "TCP":
                continue
            target = p.get("targetPort")
            if isinstance(target, str) and target.isdigit():
                target = int(target)
            port = target if isinstance(target, int) and target else p.get("port")
            if isinstance(port, int):
                out.add(port)
    return out


def ingress_gateway_ports(ctx: Context) -> None:
    """IST0101 selector not found (no pod has the gateway's labels), IST0162 a server port
    that no Service of the gateway pods exposes as a target port."""
    for gw in ctx.of("Gateway"):
        selector = dict(gw.spec.selector)
        sel = selector_string(selector)
        ports: set[int] = set()
        matched = 0
        for w in ctx.workloads:
            if _matches(selector, w.labels):
                matched += 1
                ports |= _service_target_ports(ctx, w.namespace, w.labels)
        field = f"spec.selector.{min(selector)}" if selector else "spec.selector"
        if not matched:
            ctx.report(C.REFERENCED_RESOURCE_NOT_FOUND, gw, "selector", go_quote(sel), field=field)
            continue
        for server in gw.spec.servers:
            if server.port is not None and server.port.number not in ports:
                ctx.report(C.GATEWAY_PORT_NOT_DEFINED_ON_SERVICE, gw, str(server.port.number), sel, field=field)


def conflicting_gateways(ctx: Context) -> None:
    """IST0145: two Gateways with the same selector have a server on the same port with
    overlapping hosts."""
    # (selector, port) -> gateway full name -> hosts (of its last server on that port)
    servers: dict[tuple[str, int], dict[str, list[str]]] = defaultdict(dict)
    for gw in ctx.of("Gateway"):
        sel = selector_string(gw.spec.selector)
        for server in gw.spec.servers:
            number = server.port.number if server.port is not None else 0
            servers[(sel, number)][f"{gw.namespace}/{gw.name}"] = list(server.hosts)
    for gw in ctx.of("Gateway"):
        name = f"{gw.namespace}/{gw.name}"
        sel = selector_string(gw.spec.selector)
        for server in gw.spec.servers:
            number = server.port.number if server.port is not None else 0
            conflicts: list[str] = []
            for other, hosts in sorted(servers[(sel, number)].items()):
                if other == name:
                    continue
                for h in server.hosts:
                    if any(hosts_intersect(h, o) for o in hosts):
                        conflicts.append(other)
            if conflicts:
                ctx.report(
                    C.CONFLICTING_GATEWAYS, gw, ",".join(conflicts), sel, str(number),
                    ",".join(server.hosts), field="metadata.name",
                )
