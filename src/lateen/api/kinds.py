"""The kind table: every kind Lateen understands, its group, versions, plural, model, validator.

Models and validators are referenced as ``"module:attribute"`` strings and resolved on first
use, so importing this module does no work and the table can name kinds whose module is
optional.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from lateen.api._base import IstioModel, ValidationContext

__all__ = [
    "ALL_KINDS",
    "ISTIO_KINDS",
    "KUBE_KINDS",
    "KindInfo",
    "Validator",
    "by_api_version",
    "by_group_kind",
    "lookup",
]

NETWORKING = "networking.istio.io"
SECURITY = "security.istio.io"
TELEMETRY = "telemetry.istio.io"
EXTENSIONS = "extensions.istio.io"

Validator = Callable[[Any, ValidationContext], None]


@dataclass(frozen=True, slots=True)
class KindInfo:
    group: str
    kind: str
    versions: tuple[str, ...]
    stored_version: str
    plural: str
    model_ref: str = ""
    validator_ref: str = ""
    namespaced: bool = True
    short_names: tuple[str, ...] = ()

    @property
    def is_istio(self) -> bool:
        return bool(self.model_ref)

    @property
    def stored_api_version(self) -> str:
        return f"{self.group}/{self.stored_version}" if self.group else self.stored_version

    def api_versions(self) -> Iterable[str]:
        for v in self.versions:
            yield f"{self.group}/{v}" if self.group else v

    def model(self) -> type[IstioModel]:
        cls = _resolve(self.model_ref)
        assert isinstance(cls, type) and issubclass(cls, IstioModel)
        return cls

    def validator(self) -> Validator | None:
        if not self.validator_ref:
            return None
        fn = _resolve(self.validator_ref)
        assert callable(fn)
        return fn


@cache
def _resolve(ref: str) -> object:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


_NET_VERSIONS = ("v1", "v1beta1", "v1alpha3")
_SEC_VERSIONS = ("v1", "v1beta1")


def _net(kind: str, plural: str, mod: str, fn: str, *short: str) -> KindInfo:
    return KindInfo(
        NETWORKING,
        kind,
        _NET_VERSIONS,
        "v1",
        plural,
        f"lateen.api.{mod}:{kind}",
        f"lateen.api.{mod}:{fn}",
        short_names=short,
    )


def _sec(kind: str, plural: str, fn: str, *short: str) -> KindInfo:
    return KindInfo(
        SECURITY,
        kind,
        _SEC_VERSIONS,
        "v1",
        plural,
        f"lateen.api.security:{kind}",
        f"lateen.api.security:{fn}",
        short_names=short,
    )


ISTIO_KINDS: tuple[KindInfo, ...] = (
    _net("VirtualService", "virtualservices", "networking", "validate_virtual_service", "vs"),
    _net("DestinationRule", "destinationrules", "networking", "validate_destination_rule", "dr"),
    _net("Gateway", "gateways", "networking", "validate_gateway", "gw"),
    _net("ServiceEntry", "serviceentries", "networking", "validate_service_entry", "se"),
    _net("Sidecar", "sidecars", "networking", "validate_sidecar"),
    _net("WorkloadEntry", "workloadentries", "networking", "validate_workload_entry", "we"),
    _net("WorkloadGroup", "workloadgroups", "networking", "validate_workload_group", "wg"),
    KindInfo(
        NETWORKING,
        "EnvoyFilter",
        ("v1alpha3",),
        "v1alpha3",
        "envoyfilters",
        "lateen.api.networking:EnvoyFilter",
        "lateen.api.networking:validate_envoy_filter",
    ),
    KindInfo(
        NETWORKING,
        "ProxyConfig",
        ("v1beta1",),
        "v1beta1",
        "proxyconfigs",
        "lateen.api.networking:ProxyConfig",
        "lateen.api.networking:validate_proxy_config",
    ),
    _sec("PeerAuthentication", "peerauthentications", "validate_peer_authentication", "pa"),
    _sec("AuthorizationPolicy", "authorizationpolicies", "validate_authorization_policy", "ap"),
    _sec("RequestAuthentication", "requestauthentications", "validate_request_authentication", "ra"),
    KindInfo(
        TELEMETRY,
        "Telemetry",
        ("v1", "v1alpha1"),
        "v1",
        "telemetries",
        "lateen.api.telemetry:Telemetry",
        "lateen.api.telemetry:validate_telemetry",
        short_names=("telemetry",),
    ),
    KindInfo(
        EXTENSIONS,
        "WasmPlugin",
        ("v1alpha1",),
        "v1alpha1",
        "wasmplugins",
        "lateen.api.extensions:WasmPlugin",
        "lateen.api.extensions:validate_wasm_plugin",
    ),
)

KUBE_KINDS: tuple[KindInfo, ...] = (
    KindInfo("", "Namespace", ("v1",), "v1", "namespaces", namespaced=False, short_names=("ns",)),
    KindInfo("", "Service", ("v1",), "v1", "services", short_names=("svc",)),
    KindInfo("", "Endpoints", ("v1",), "v1", "endpoints", short_names=("ep",)),
    KindInfo("", "ServiceAccount", ("v1",), "v1", "serviceaccounts", short_names=("sa",)),
    KindInfo("", "Pod", ("v1",), "v1", "pods", short_names=("po",)),
    KindInfo("", "ConfigMap", ("v1",), "v1", "configmaps", short_names=("cm",)),
    KindInfo("", "Secret", ("v1",), "v1", "secrets"),
    KindInfo("discovery.k8s.io", "EndpointSlice", ("v1",), "v1", "endpointslices"),
    KindInfo("apps", "Deployment", ("v1",), "v1", "deployments", short_names=("deploy",)),
)

ALL_KINDS: tuple[KindInfo, ...] = ISTIO_KINDS + KUBE_KINDS


@cache
def _api_version_index() -> dict[tuple[str, str], KindInfo]:
    out: dict[tuple[str, str], KindInfo] = {}
    for info in ALL_KINDS:
        for av in info.api_versions():
            out[(av, info.kind)] = info
    return out


def by_api_version(api_version: str, kind: str) -> KindInfo | None:
    """The kind for an ``apiVersion``/``kind`` pair as written in YAML, or None."""
    return _api_version_index().get((api_version, kind))


def by_group_kind(group: str, kind: str) -> KindInfo | None:
    for info in ALL_KINDS:
        if info.group == group and info.kind == kind:
            return info
    return None


def lookup(name: str) -> KindInfo | None:
    """Resolve a kind as typed on a command line: kind, plural, short name, any case,
    optionally qualified with its group (``virtualservices.networking.istio.io``)."""
    n = name.lower()
    base, _, group = n.partition(".")
    for info in ALL_KINDS:
        names = {info.kind.lower(), info.plural, *info.short_names}
        if base in names and (not group or group == info.group):
            return info
    return None
