"""VirtualService delegation: a root VirtualService's ``http`` rule with ``delegate`` is
replaced by the delegate's rules, each merged with the root rule (Istio's
``pilot/pkg/config/kube/virtualservice`` merge): the delegate's matches must fall inside the
root rule's matches (they are combined), and what the delegate leaves unset is inherited."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lateen.api._object import ConfigObject
from lateen.model._host import is_visible
from lateen.model._push_context import PushContext

__all__ = ["effective_http_routes", "merge_http_match", "merge_http_route"]

# HTTPRoute fields a delegate rule inherits from its root rule when it leaves them unset
_INHERITED = (
    "rewrite",
    "direct_response",
    "timeout",
    "retries",
    "fault",
    "mirror",
    "mirror_percent",
    "mirror_percentage",
    "cors_policy",
    "headers",
)


def _string_conflict(root: Any, leaf: Any) -> bool:
    """A leaf StringMatch conflicts unless it selects a subset of what the root selects."""
    if root is None or leaf is None:
        return False
    if root.regex or leaf.regex:
        return bool(root.regex or root.prefix or root.exact) and bool(
            leaf.regex or leaf.prefix or leaf.exact
        )
    if root.exact:
        return bool(leaf.prefix) or leaf.exact != root.exact
    if root.prefix:
        if leaf.prefix:
            return not leaf.prefix.startswith(root.prefix)
        if leaf.exact:
            return not leaf.exact.startswith(root.prefix)
    return True


def _conflict(root: Any, leaf: Any) -> bool:
    for f in ("uri", "scheme", "method", "authority"):
        if _string_conflict(getattr(root, f), getattr(leaf, f)):
            return True
    for f in ("headers", "without_headers", "query_params"):
        rm: Mapping[str, Any] = getattr(root, f)
        for key, value in getattr(leaf, f).items():
            if _string_conflict(rm.get(key), value):
                return True
    if root.ignore_uri_case != leaf.ignore_uri_case:
        return True
    if root.port and leaf.port and root.port != leaf.port:
        return True
    if root.source_namespace and leaf.source_namespace != root.source_namespace:
        return True
    for key, value in leaf.source_labels.items():
        if key in root.source_labels and root.source_labels[key] != value:
            return True
    return bool(root.gateways and leaf.gateways) and (
        len(root.gateways) < len(leaf.gateways) or not set(leaf.gateways) <= set(root.gateways)
    )


def merge_http_match(root: Any, leaf: Any) -> Any:
    """The delegate's match narrowed by the root's: unset fields come from the root, maps are
    merged (the delegate wins), names are joined with ``-``."""
    name = leaf.name or root.name
    if leaf.name and root.name:
        name = f"{root.name}-{leaf.name}"
    return leaf.model_copy(
        update={
            "name": name,
            "uri": leaf.uri or root.uri,
            "scheme": leaf.scheme or root.scheme,
            "method": leaf.method or root.method,
            "authority": leaf.authority or root.authority,
            "headers": {**root.headers, **leaf.headers},
            "without_headers": {**root.without_headers, **leaf.without_headers},
            "query_params": {**root.query_params, **leaf.query_params},
            "port": leaf.port or root.port,
            "source_labels": {**root.source_labels, **leaf.source_labels},
            "source_namespace": leaf.source_namespace or root.source_namespace,
            "gateways": leaf.gateways or root.gateways,
            "stat_prefix": leaf.stat_prefix or root.stat_prefix,
        }
    )


def _merge_matches(root: Sequence[Any], leaf: Sequence[Any]) -> list[Any] | None:
    """None on a conflict: every delegate match must fit in at least one root match."""
    if not root:
        return list(leaf)
    if not leaf:
        return list(root)
    out = []
    for sub in leaf:
        found = False
        for r in root:
            if _conflict(r, sub):
                continue
            out.append(merge_http_match(r, sub))
            found = True
        if not found:
            return None
    return out or None


def merge_http_route(root: Any, leaf: Any) -> Any | None:
    """One delegate rule merged with its root rule; None when their matches conflict."""
    matches = _merge_matches(root.match, leaf.match)
    if matches is None:
        return None
    name = leaf.name or root.name
    if leaf.name and root.name:
        name = f"{root.name}-{leaf.name}"
    update: dict[str, Any] = {"match": matches, "name": name}
    for f in _INHERITED:
        if getattr(leaf, f) is None:
            update[f] = getattr(root, f)
    if not leaf.mirrors:
        update["mirrors"] = root.mirrors
    return leaf.model_copy(update=update)


def _delegate_vs(push: PushContext, name: str, namespace: str) -> ConfigObject | None:
    for vs in push.virtual_services:
        if vs.name == name and vs.namespace == namespace and not vs.spec.hosts:
            return vs
    return None


def effective_http_routes(vs: ConfigObject, push: PushContext) -> list[Any]:
    """The VirtualService's ``http`` rules with every ``delegate`` rule replaced by the merged
    rules of its delegate (a VirtualService without hosts, in ``delegate.namespace`` or the
    root's, exported to the root's namespace). A missing or hidden delegate drops the rule;
    a delegate rule whose matches conflict with the root rule's is dropped."""
    out: list[Any] = []
    for http in vs.spec.http:
        if http.delegate is None:
            out.append(http)
            continue
        ns = http.delegate.namespace or vs.namespace
        delegate = _delegate_vs(push, http.delegate.name, ns)
        if delegate is None or not is_visible(
            delegate.spec.export_to, delegate.namespace, vs.namespace
        ):
            continue
        root = http.model_copy(update={"delegate": None})
        for leaf in delegate.spec.http:
            merged = merge_http_route(root, leaf)
            if merged is not None:
                out.append(merged)
    return out
