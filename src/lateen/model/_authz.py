"""AuthorizationPolicy selection (Istio's ``AuthorizationPolicies.ListAuthorizationPolicies``).

Indexed once per push by namespace (:func:`index_authorization_policies`); a proxy's policies
are those of the root namespace and of its own namespace that select it:

* no ``selector`` and no ``targetRef(s)``: every workload of the namespace (the root
  namespace's: every workload of the mesh);
* ``selector.matchLabels``: the workloads carrying those labels;
* ``targetRef(s)``: honoured, as by Istio, only for a Gateway API ``Gateway`` (the router
  labelled ``gateway.networking.k8s.io/gateway-name: <name>`` in the policy's namespace);
  sidecars ignore policies with a target reference.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from lateen.api._object import ConfigObject
from lateen.model._proxy import Proxy, ProxyType
from lateen.registry import labels_match

__all__ = [
    "GATEWAY_NAME_LABEL",
    "AuthorizationPolicies",
    "index_authorization_policies",
    "select_authorization_policies",
]

GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
_SECURITY = "security.istio.io"


@dataclass(frozen=True, slots=True)
class AuthorizationPolicies:
    """The policies that select one proxy, by action, oldest first (root namespace first)."""

    custom: tuple[ConfigObject, ...] = ()
    deny: tuple[ConfigObject, ...] = ()
    allow: tuple[ConfigObject, ...] = ()
    audit: tuple[ConfigObject, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.custom or self.deny or self.allow or self.audit)


NO_POLICIES = AuthorizationPolicies()


def _order(o: ConfigObject) -> tuple[str, str, str]:
    return (o.meta.creation_timestamp, o.namespace, o.name)


def index_authorization_policies(
    objects: Iterable[ConfigObject],
) -> Mapping[str, tuple[ConfigObject, ...]]:
    """AuthorizationPolicies by namespace, oldest first."""
    by_ns: dict[str, list[ConfigObject]] = defaultdict(list)
    for o in objects:
        if (o.group, o.kind) == (_SECURITY, "AuthorizationPolicy"):
            by_ns[o.namespace].append(o)
    return MappingProxyType({ns: tuple(sorted(v, key=_order)) for ns, v in by_ns.items()})


def _selects(policy: ConfigObject, proxy: Proxy, root_namespace: str) -> bool:
    spec = policy.spec
    refs = list(spec.target_refs) or ([spec.target_ref] if spec.target_ref is not None else [])
    if refs:
        if proxy.type is not ProxyType.ROUTER or policy.namespace != proxy.namespace:
            return False
        name = proxy.labels.get(GATEWAY_NAME_LABEL)
        return any(
            r.kind == "Gateway"
            and r.group == "gateway.networking.k8s.io"
            and r.name == name
            and (r.namespace in (None, "", policy.namespace))
            for r in refs
        )
    if policy.namespace != root_namespace and policy.namespace != proxy.namespace:
        return False
    sel = spec.selector
    return sel is None or labels_match(sel.match_labels, proxy.labels)


def select_authorization_policies(
    index: Mapping[str, tuple[ConfigObject, ...]], root_namespace: str, proxy: Proxy
) -> AuthorizationPolicies:
    """The policies of ``index`` that apply to ``proxy``, split by action."""
    cands = list(index.get(root_namespace, ()))
    if proxy.namespace != root_namespace:
        cands.extend(index.get(proxy.namespace, ()))
    if not cands:
        return NO_POLICIES
    by_action: dict[str, list[ConfigObject]] = defaultdict(list)
    for p in cands:
        if _selects(p, proxy, root_namespace):
            by_action[p.spec.action].append(p)
    if not by_action:
        return NO_POLICIES
    return AuthorizationPolicies(
        custom=tuple(by_action["CUSTOM"]),
        deny=tuple(by_action["DENY"]),
        allow=tuple(by_action["ALLOW"]),
        audit=tuple(by_action["AUDIT"]),
    )
