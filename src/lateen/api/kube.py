"""Validation of the Kubernetes objects Lateen reads as its service registry.

The objects themselves stay raw mappings (``ConfigObject.spec`` is the body without
``apiVersion``/``kind``/``metadata``); these models only check them, so that a typo in a
Service port is reported with its path instead of silently producing no endpoints.
"""

from __future__ import annotations

from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from lateen.api._base import ValidationContext

__all__ = ["PATH_NORMALIZATIONS", "validate_kube", "validate_mesh_config"]

# MeshConfig ``pathNormalization.normalization`` (Istio's ``ProxyPathNormalization``):
# DEFAULT means BASE
PATH_NORMALIZATIONS = ("DEFAULT", "NONE", "BASE", "MERGE_SLASHES", "DECODE_AND_MERGE_SLASHES")
_OUTBOUND_MODES = ("ALLOW_ANY", "REGISTRY_ONLY")


class _Kube(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=False)


_Port = Field(ge=1, le=65535)


class _ServicePort(_Kube):
    name: str | None = None
    protocol: Literal["TCP", "UDP", "SCTP"] | None = None
    appProtocol: str | None = None
    port: int = _Port
    targetPort: int | str | None = None
    nodePort: int | None = None


class _ServiceSpec(_Kube):
    ports: list[_ServicePort] = []
    selector: dict[str, str] | None = None
    clusterIP: str | None = None
    clusterIPs: list[str] | None = None
    type: Literal["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"] | None = None
    externalName: str | None = None
    externalIPs: list[str] | None = None
    sessionAffinity: str | None = None
    sessionAffinityConfig: dict[str, Any] | None = None
    loadBalancerIP: str | None = None
    loadBalancerSourceRanges: list[str] | None = None
    loadBalancerClass: str | None = None
    externalTrafficPolicy: str | None = None
    internalTrafficPolicy: str | None = None
    healthCheckNodePort: int | None = None
    publishNotReadyAddresses: bool | None = None
    ipFamilies: list[str] | None = None
    ipFamilyPolicy: str | None = None
    allocateLoadBalancerNodePorts: bool | None = None
    trafficDistribution: str | None = None


class _Service(_Kube):
    spec: _ServiceSpec = _ServiceSpec()
    status: dict[str, Any] | None = None


class _EndpointAddress(_Kube):
    ip: str
    hostname: str | None = None
    nodeName: str | None = None
    targetRef: dict[str, Any] | None = None


class _EndpointPort(_Kube):
    name: str | None = None
    port: int = _Port
    protocol: Literal["TCP", "UDP", "SCTP"] | None = None
    appProtocol: str | None = None


class _EndpointSubset(_Kube):
    addresses: list[_EndpointAddress] = []
    notReadyAddresses: list[_EndpointAddress] = []
    ports: list[_EndpointPort] = []


class _Endpoints(_Kube):
    subsets: list[_EndpointSubset] = []


class _SliceConditions(_Kube):
    ready: bool | None = None
    serving: bool | None = None
    terminating: bool | None = None


class _SliceEndpoint(_Kube):
    addresses: list[str] = Field(min_length=1)
    conditions: _SliceConditions | None = None
    hostname: str | None = None
    targetRef: dict[str, Any] | None = None
    nodeName: str | None = None
    zone: str | None = None
    hints: dict[str, Any] | None = None
    deprecatedTopology: dict[str, str] | None = None


class _EndpointSlice(_Kube):
    addressType: Literal["IPv4", "IPv6", "FQDN"]
    endpoints: list[_SliceEndpoint] = []
    ports: list[_EndpointPort] = []


class _Namespace(_Kube):
    spec: dict[str, Any] | None = None
    status: dict[str, Any] | None = None


class _ConfigMap(_Kube):
    data: dict[str, str] | None = None
    binaryData: dict[str, str] | None = None
    immutable: bool | None = None


class _Secret(_Kube):
    type: str | None = None
    data: dict[str, str] | None = None
    stringData: dict[str, str] | None = None
    immutable: bool | None = None


_MODELS: dict[str, type[BaseModel]] = {
    "Service": _Service,
    "Endpoints": _Endpoints,
    "EndpointSlice": _EndpointSlice,
    "Namespace": _Namespace,
    "ConfigMap": _ConfigMap,
    "Secret": _Secret,
}


def validate_mesh_config(mesh: Any, ctx: ValidationContext, path: str = "data.mesh") -> None:
    """The MeshConfig fields whose bad value would silently weaken the mesh (a path
    normalization typo must not fall back to a weaker mode): errors at ``path: field``."""
    if mesh is None:
        return
    if not isinstance(mesh, dict):
        ctx.error(path, "mesh config must be a YAML mapping")
        return
    pn = mesh.get("pathNormalization")
    if pn is not None:
        if not isinstance(pn, dict):
            ctx.error(f"{path}: pathNormalization", "must be a mapping")
        else:
            mode = pn.get("normalization", "DEFAULT")
            if mode not in PATH_NORMALIZATIONS:
                ctx.error(f"{path}: pathNormalization.normalization",
                          f"unknown mode {mode!r} (one of {', '.join(PATH_NORMALIZATIONS)})")  # fmt: skip
    otp = mesh.get("outboundTrafficPolicy")
    if isinstance(otp, dict) and otp.get("mode", "ALLOW_ANY") not in _OUTBOUND_MODES:
        ctx.error(f"{path}: outboundTrafficPolicy.mode",
                  f"unknown mode {otp.get('mode')!r} (one of {', '.join(_OUTBOUND_MODES)})")  # fmt: skip


def _validate_istio_configmap(body: dict[str, Any], ctx: ValidationContext) -> None:
    import yaml

    data = body.get("data") or {}
    text = data.get("mesh") if isinstance(data, dict) else None
    if not isinstance(text, str):
        return
    try:
        mesh = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as e:
        ctx.error("data.mesh", f"invalid YAML: {e}")
        return
    validate_mesh_config(mesh, ctx)


def validate_kube(kind: str, body: dict[str, Any], ctx: ValidationContext, name: str = "") -> None:
    """Check the body of a Kubernetes object of a kind Lateen interprets; others pass.
    ConfigMap ``istio`` in the root namespace is the mesh config: its ``mesh`` is checked too."""
    from lateen.api._load import pydantic_diagnostics

    model = _MODELS.get(kind)
    if model is None:
        return
    try:
        model.model_validate(body)
    except pydantic.ValidationError as e:
        ctx.diagnostics.extend(pydantic_diagnostics("", e))
    if kind == "ConfigMap" and name == "istio" and ctx.namespace == ctx.root_namespace:
        _validate_istio_configmap(body, ctx)
    if kind == "Service":
        spec = body.get("spec") or {}
        names = [p.get("name") for p in spec.get("ports") or [] if isinstance(p, dict)]
        if len(names) > 1:
            for i, n in enumerate(names):
                if not n:
                    ctx.error(f"spec.ports[{i}].name", "required when the Service has more than one port")
                elif names.index(n) != i:
                    ctx.error(f"spec.ports[{i}].name", f"duplicate port name {n!r}")
    if kind == "Secret" and isinstance(body.get("data") or {}, dict):
        from lateen.api.credentials import validate_secret_credentials

        validate_secret_credentials(body, ctx)

