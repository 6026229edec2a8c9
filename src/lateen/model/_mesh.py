"""MeshConfig: the mesh-wide settings (Istio's ``meshconfig.MeshConfig``), the fields Lateen uses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import yaml

from lateen.api.kube import PATH_NORMALIZATIONS

__all__ = [
    "MeshConfig",
    "OutboundTrafficPolicyMode",
    "load_mesh_config",
    "mesh_config_from_configmap",
]


class OutboundTrafficPolicyMode(StrEnum):
    ALLOW_ANY = "ALLOW_ANY"
    REGISTRY_ONLY = "REGISTRY_ONLY"


@dataclass(frozen=True, slots=True)
class MeshConfig:
    outbound_traffic_policy_mode: OutboundTrafficPolicyMode = OutboundTrafficPolicyMode.ALLOW_ANY
    root_namespace: str = "istio-system"
    trust_domain: str = "cluster.local"
    access_log_file: str = ""
    access_log_encoding: str = "TEXT"  # TEXT | JSON
    access_log_format: str = ""
    enable_auto_mtls: bool = True
    # NONE | BASE | MERGE_SLASHES | DECODE_AND_MERGE_SLASHES (Istio's DEFAULT is read as BASE)
    path_normalization: str = "BASE"
    connect_timeout: float = 10.0  # seconds
    dns_refresh_rate: float = 60.0  # seconds; how often DNS clusters re-resolve
    default_config: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    extension_providers: tuple[Mapping[str, Any], ...] = ()
    default_providers: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # ``localityLbSetting`` (a networking LocalityLoadBalancerSetting); None: Istio's default,
    # enabled with no rules
    locality_lb_setting: Any = None

    @property
    def registry_only(self) -> bool:
        return self.outbound_traffic_policy_mode is OutboundTrafficPolicyMode.REGISTRY_ONLY

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> MeshConfig:
        """From the camelCase mapping of a ``mesh.yaml``; fields Lateen does not use are ignored."""
        d = dict(raw or {})
        otp = d.get("outboundTrafficPolicy") or {}
        mode = str(otp.get("mode", "ALLOW_ANY")) if isinstance(otp, Mapping) else "ALLOW_ANY"
        try:
            otp_mode = OutboundTrafficPolicyMode(mode)
        except ValueError:
            raise ValueError(f"outboundTrafficPolicy.mode: unknown mode {mode!r}") from None
        pn = d.get("pathNormalization") or {}
        normalization = str(pn.get("normalization", "BASE")) if isinstance(pn, Mapping) else "BASE"
        if normalization not in PATH_NORMALIZATIONS:
            raise ValueError(
                f"pathNormalization.normalization: unknown mode {normalization!r} "
                f"(one of {', '.join(PATH_NORMALIZATIONS)})"
            )
        timeout = d.get("connectTimeout", "10s")
        refresh = d.get("dnsRefreshRate", "60s")
        from lateen.api import parse_duration
        from lateen.api.networking import LocalityLoadBalancerSetting

        locality = d.get("localityLbSetting")

        return cls(
            outbound_traffic_policy_mode=otp_mode,
            root_namespace=str(d.get("rootNamespace") or "istio-system"),
            trust_domain=str(d.get("trustDomain") or "cluster.local"),
            access_log_file=str(d.get("accessLogFile") or ""),
            access_log_encoding=str(d.get("accessLogEncoding") or "TEXT"),
            access_log_format=str(d.get("accessLogFormat") or ""),
            enable_auto_mtls=bool(d.get("enableAutoMtls", True)),
            path_normalization="BASE" if normalization == "DEFAULT" else normalization,
            connect_timeout=parse_duration(str(timeout))
            if isinstance(timeout, str)
            else float(timeout),
            dns_refresh_rate=parse_duration(str(refresh))
            if isinstance(refresh, str)
            else float(refresh),
            default_config=MappingProxyType(dict(d.get("defaultConfig") or {})),
            extension_providers=tuple(
                MappingProxyType(dict(p))
                for p in d.get("extensionProviders") or []
                if isinstance(p, Mapping)
            ),
            default_providers=MappingProxyType(dict(d.get("defaultProviders") or {})),
            locality_lb_setting=LocalityLoadBalancerSetting.model_validate(locality)
            if isinstance(locality, Mapping)
            else None,
        )


def load_mesh_config(text: str) -> MeshConfig:
    """Parse a ``mesh.yaml`` text (the value of the ``istio`` ConfigMap's ``mesh`` key)."""
    raw = yaml.safe_load(text) if text.strip() else {}
    if raw is not None and not isinstance(raw, Mapping):
        raise ValueError("mesh config must be a YAML mapping")
    return MeshConfig.from_dict(raw)


def mesh_config_from_configmap(data: Mapping[str, Any]) -> MeshConfig:
    """From a ConfigMap ``istio``: its ``data`` mapping (or the whole body with ``data``)."""
    if "data" in data and isinstance(data["data"], Mapping):
        data = data["data"]
    return load_mesh_config(str(data.get("mesh") or ""))
