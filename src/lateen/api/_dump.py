"""Config objects back to the Kubernetes-shaped documents they were read from."""

from __future__ import annotations

from typing import Any

from lateen.api._base import IstioModel
from lateen.api._object import ConfigObject

__all__ = ["object_to_dict"]


def object_to_dict(obj: ConfigObject) -> dict[str, Any]:
    """``{apiVersion, kind, metadata, spec...}`` as ``kubectl get -o yaml`` shows it (Istio
    kinds in their stored version; Kubernetes kinds with their raw body)."""
    meta: dict[str, Any] = {"name": obj.name}
    if obj.namespace:
        meta["namespace"] = obj.namespace
    if obj.meta.labels:
        meta["labels"] = dict(obj.meta.labels)
    if obj.meta.annotations:
        meta["annotations"] = dict(obj.meta.annotations)
    if obj.meta.resource_version:
        meta["resourceVersion"] = obj.meta.resource_version
    if obj.meta.generation:
        meta["generation"] = obj.meta.generation
    if obj.meta.creation_timestamp:
        meta["creationTimestamp"] = obj.meta.creation_timestamp
    out: dict[str, Any] = {"apiVersion": obj.api_version, "kind": obj.kind, "metadata": meta}
    if isinstance(obj.spec, IstioModel):
        out["spec"] = obj.spec.to_dict()
    elif isinstance(obj.spec, dict):
        out.update({k: v for k, v in obj.spec.items() if k not in ("apiVersion", "kind", "metadata")})
    return out
