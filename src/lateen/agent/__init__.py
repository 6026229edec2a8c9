"""The node/pod agent (our pilot-agent): bootstrap, Envoy supervision, SDS, readiness."""

from typing import Any

from lateen.agent._admin import EnvoyAdmin, HttpEnvoyAdmin
from lateen.agent._agent import Agent, AgentOptions
from lateen.agent._bootstrap import (
    BootstrapOptions,
    ProxyKind,
    base_id,
    node_id,
    render_bootstrap,
    service_cluster,
    workload_name_from_pod,
)
from lateen.agent._envoy import (
    AsyncioProcessRunner,
    Clock,
    EnvoyOptions,
    EnvoyProcess,
    EnvoySupervisor,
    MonotonicClock,
    ProcessRunner,
    backoff_delay,
    envoy_argv,
)
from lateen.agent._envoy_binary import EnvoyNotFound, envoy_binary
from lateen.agent._status import Readiness, StatusServer, readiness

_SDS_NAMES = ("CaCertificateSource", "CertificateSource", "SdsServer", "SecretManager", "WorkloadSecret")


def __getattr__(name: str) -> Any:
    """The SDS names, imported on first use (they need grpc; the DNS proxy alone does not)."""
    if name in _SDS_NAMES:
        from lateen.agent import _sds

        return getattr(_sds, name)
    raise AttributeError(name)


__all__ = [
    "Agent",
    "AgentOptions",
    "AsyncioProcessRunner",
    "BootstrapOptions",
    "CaCertificateSource",
    "CertificateSource",
    "Clock",
    "EnvoyAdmin",
    "EnvoyNotFound",
    "EnvoyOptions",
    "EnvoyProcess",
    "EnvoySupervisor",
    "HttpEnvoyAdmin",
    "MonotonicClock",
    "ProcessRunner",
    "ProxyKind",
    "Readiness",
    "SdsServer",
    "SecretManager",
    "StatusServer",
    "WorkloadSecret",
    "backoff_delay",
    "base_id",
    "envoy_argv",
    "envoy_binary",
    "node_id",
    "readiness",
    "render_bootstrap",
    "service_cluster",
    "workload_name_from_pod",
]
