"""The shared ``istio.type.v1beta1`` messages and the checks every policy kind applies to them.

``WorkloadSelector`` (``selector``) and ``PolicyTargetReference`` (``targetRef`` /
``targetRefs``) are used by AuthorizationPolicy, RequestAuthentication, PeerAuthentication
(selector only), Telemetry and WasmPlugin. Istio allows at most one of the three to be set.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from lateen.api._base import IstioModel, ValidationContext, parse_duration

__all__ = [
    "ALLOWED_TARGET_REFS",
    "PolicyTargetReference",
    "PortSelector",
    "WorkloadMode",
    "WorkloadSelector",
    "check_duration",
    "check_strict_header_name",
    "validate_policy_scope",
    "validate_target_ref",
    "validate_workload_selector",
]

WorkloadMode = Literal["UNDEFINED", "CLIENT", "SERVER", "CLIENT_AND_SERVER"]


class WorkloadSelector(IstioModel):
    """Labels selecting the pods/VMs a policy applies to (in the policy's namespace, or in
    every namespace for a policy in the root namespace)."""

    match_labels: dict[str, str] = Field(default_factory=dict)


class PortSelector(IstioModel):
    number: int = 0


class PolicyTargetReference(IstioModel):
    """A reference to the resource a policy attaches to (GEP-713)."""

    group: str = ""
    kind: str = ""
    name: str = ""
    namespace: str | None = None


# (canonical group, kind) pairs a policy may target; "" is written "core".
ALLOWED_TARGET_REFS: tuple[tuple[str, str], ...] = (
    ("core", "Service"),
    ("networking.istio.io", "ServiceEntry"),
    ("gateway.networking.k8s.io", "Gateway"),
    ("gateway.networking.k8s.io", "GatewayClass"),
)

_MAX_TARGET_REFS = 16


def validate_workload_selector(
    selector: WorkloadSelector | None, path: str, ctx: ValidationContext
) -> None:
    """Istio's selector rules: no empty key, no wildcard in key or value; a selector without
    labels is legal but selects every workload, which is most likely a mistake (warning)."""
    if selector is None:
        return
    for key, value in selector.match_labels.items():
        label_path = f"{path}.matchLabels.{key}" if key else f"{path}.matchLabels"
        if not key:
            ctx.error(label_path, f"empty key is not supported in selector: {key}={value!r}")
        if "*" in key or "*" in value:
            ctx.error(label_path, f"wildcard is not supported in selector: {key}={value}")
    if not selector.match_labels:
        ctx.warn(path, "workload selector specified without labels")


def validate_target_ref(ref: PolicyTargetReference, path: str, ctx: ValidationContext) -> None:
    """A target reference must name a Service, ServiceEntry, Gateway or GatewayClass in the
    policy's own namespace (cross-namespace references are not supported)."""
    if not ref.name:
        ctx.error(f"{path}.name", "targetRef name must be set")
    elif len(ref.name) > 253:
        ctx.error(f"{path}.name", "targetRef name must be at most 253 characters")
    if ref.namespace:
        ctx.error(
            f"{path}.namespace",
            "targetRef namespace must not be set; cross namespace referencing is not supported",
        )
    group = ref.group or "core"
    if (group, ref.kind) not in ALLOWED_TARGET_REFS:
        allowed = ", ".join(f"{g}/{k}" for g, k in ALLOWED_TARGET_REFS)
        ctx.error(
            f"{path}.kind",
            f"targetRef must be to one of {allowed} but was {ref.group}/{ref.kind}",
        )
    elif ref.kind == "GatewayClass" and ctx.namespace != ctx.root_namespace:
        ctx.warn(
            f"{path}.kind",
            f"a GatewayClass target only takes effect in the root namespace ({ctx.root_namespace})",
        )


def validate_policy_scope(
    ctx: ValidationContext,
    *,
    selector: WorkloadSelector | None,
    target_ref: PolicyTargetReference | None = None,
    target_refs: Sequence[PolicyTargetReference] = (),
) -> None:
    """The ``selector``/``targetRef``/``targetRefs`` checks shared by the policy kinds."""
    set_fields = [
        name
        for name, present in (
            ("selector", selector is not None),
            ("targetRef", target_ref is not None),
            ("targetRefs", bool(target_refs)),
        )
        if present
    ]
    if len(set_fields) > 1:
        ctx.error(
            f"spec.{set_fields[-1]}",
            f"only one of targetRefs or workloadSelector can be set (found {', '.join(set_fields)})",
        )
    validate_workload_selector(selector, "spec.selector", ctx)
    if target_ref is not None:
        validate_target_ref(target_ref, "spec.targetRef", ctx)
    if len(target_refs) > _MAX_TARGET_REFS:
        ctx.error("spec.targetRefs", f"must have at most {_MAX_TARGET_REFS} items")
    for i, ref in enumerate(target_refs):
        validate_target_ref(ref, f"spec.targetRefs[{i}]", ctx)


_MS = 1e-3


def check_duration(value: str, path: str, ctx: ValidationContext) -> float | None:
    """Istio's duration rule: a valid duration of at least 1ms, to millisecond precision."""
    try:
        seconds = parse_duration(value)
    except ValueError as e:
        ctx.error(path, str(e))
        return None
    if seconds < _MS:
        ctx.error(path, "duration must be greater than 1ms")
        return None
    millis = seconds / _MS
    if abs(millis - round(millis)) > 1e-6:
        ctx.error(path, "only durations to ms precision are supported")
        return None
    return seconds


_HEADER_STRICT = re.compile(r"^[-A-Za-z0-9]+$")


def check_strict_header_name(name: str) -> str | None:
    """Istio's strict header-name rule (letters, digits and ``-``); None when valid."""
    if not name:
        return "header name cannot be empty"
    if not _HEADER_STRICT.match(name):
        return f"header name {name} is not a valid header name"
    return None
