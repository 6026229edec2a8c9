"""extensions.istio.io: WasmPlugin (a Wasm module inserted into the proxies' filter chains).

Model follows ``istio/api`` ``extensions/v1alpha1/wasm.proto``; the validator applies the
checks of Istio's ``ValidateWasmPlugin`` (and the CRD schema) at field paths.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field

from lateen.api._base import IstioModel, ValidationContext
from lateen.api._type import (
    PolicyTargetReference,
    PortSelector,
    WorkloadMode,
    WorkloadSelector,
    validate_policy_scope,
)

__all__ = [
    "EnvVar",
    "TrafficSelector",
    "VmConfig",
    "WasmPlugin",
    "validate_wasm_plugin",
]

PullPolicy = Literal["UNSPECIFIED_POLICY", "IfNotPresent", "Always"]
PluginPhase = Literal["UNSPECIFIED_PHASE", "AUTHN", "AUTHZ", "STATS"]
FailStrategy = Literal["FAIL_CLOSE", "FAIL_OPEN", "FAIL_RELOAD"]
PluginType = Literal["UNSPECIFIED_PLUGIN_TYPE", "HTTP", "NETWORK"]
EnvValueSource = Literal["INLINE", "HOST"]


class EnvVar(IstioModel):
    name: str = ""
    value_from: EnvValueSource = "INLINE"
    value: str = ""


class VmConfig(IstioModel):
    env: list[EnvVar] = Field(default_factory=list)


class TrafficSelector(IstioModel):
    """``WasmPlugin.TrafficSelector``: traffic direction and destination ports."""

    mode: WorkloadMode = "CLIENT_AND_SERVER"
    ports: list[PortSelector] = Field(default_factory=list)


class WasmPlugin(IstioModel):
    selector: WorkloadSelector | None = None
    target_ref: PolicyTargetReference | None = None
    target_refs: list[PolicyTargetReference] = Field(default_factory=list)
    url: str = ""
    sha256: str = ""
    image_pull_policy: PullPolicy = "UNSPECIFIED_POLICY"
    image_pull_secret: str = ""
    verification_key: str = ""
    plugin_config: dict[str, Any] | None = None
    plugin_name: str = ""
    phase: PluginPhase = "UNSPECIFIED_PHASE"
    priority: int | None = None
    fail_strategy: FailStrategy = "FAIL_CLOSE"
    vm_config: VmConfig | None = None
    match: list[TrafficSelector] = Field(default_factory=list)
    type: PluginType = "UNSPECIFIED_PLUGIN_TYPE"


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_VALID_SCHEMES = frozenset({"", "file", "http", "https", "oci"})
_SHA256 = re.compile(r"^[a-f0-9]{64}$")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_INT32 = (-(2**31), 2**31 - 1)


def _url_error(url: str) -> str | None:
    """A URL with scheme oci (the default when none is given), file, http or https."""
    if not url:
        return "url field needs to be set"
    if _CONTROL.search(url):
        return f"failed to parse url {url!r}: contains whitespace or control characters"
    m = _SCHEME.match(url)
    scheme = m.group(1).lower() if m else ""
    if scheme not in _VALID_SCHEMES:
        return (
            f"url contains unsupported scheme: {scheme} "
            "(url must have schema one of [http, https, file, oci])"
        )
    rest = url[m.end() :] if m else url
    if scheme in ("http", "https", "oci") and not rest.lstrip("/"):
        return f"failed to parse url {url!r}: missing host"
    return None


def validate_wasm_plugin(spec: WasmPlugin, ctx: ValidationContext) -> None:
    validate_policy_scope(
        ctx, selector=spec.selector, target_ref=spec.target_ref, target_refs=spec.target_refs
    )
    err = _url_error(spec.url)
    if err:
        ctx.error("spec.url", err)
    if spec.sha256:
        if len(spec.sha256) != 64:
            ctx.error("spec.sha256", "sha256 field must be 64 characters long")
        elif not _SHA256.match(spec.sha256):
            ctx.error("spec.sha256", "sha256 field must match [a-f0-9]{64} pattern")
    if "image_pull_secret" in spec.model_fields_set and not spec.image_pull_secret:
        ctx.error("spec.imagePullSecret", "imagePullSecret must not be empty when set")
    if len(spec.image_pull_secret) > 253:
        ctx.error(
            "spec.imagePullSecret", "imagePullSecret field must be less than 253 characters long"
        )
    if "plugin_name" in spec.model_fields_set and not spec.plugin_name:
        ctx.error("spec.pluginName", "pluginName must not be empty when set")
    if len(spec.plugin_name) > 256:
        ctx.error("spec.pluginName", "pluginName field must be less than 255 characters long")
    if spec.priority is not None and not _INT32[0] <= spec.priority <= _INT32[1]:
        ctx.error("spec.priority", "priority must be a 32-bit integer")

    if spec.vm_config is not None:
        if len(spec.vm_config.env) > 256:
            ctx.error("spec.vmConfig.env", "must have at most 256 items")
        seen: set[str] = set()
        for i, env in enumerate(spec.vm_config.env):
            path = f"spec.vmConfig.env[{i}]"
            if not env.name:
                ctx.error(f"{path}.name", "env name must not be empty")
            elif len(env.name) > 256:
                ctx.error(f"{path}.name", "env.name field must be less than 255 characters long")
            elif env.name in seen:
                ctx.error(f"{path}.name", f"duplicate env {env.name!r}")
            seen.add(env.name)
            if env.value_from != "INLINE" and env.value:
                ctx.error(f"{path}.value", "value may only be set when valueFrom is INLINE")
            if len(env.value) > 2048:
                ctx.error(f"{path}.value", "value must be at most 2048 characters")

    for i, sel in enumerate(spec.match):
        for j, port in enumerate(sel.ports):
            if not 0 < port.number <= 65535:
                ctx.error(
                    f"spec.match[{i}].ports[{j}].number",
                    f"port {port.number} is out of range 1..65535",
                )
