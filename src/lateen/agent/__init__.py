"""The node/pod agent (our pilot-agent): bootstrap, Envoy supervision, SDS, readiness."""

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
from lateen.agent._sds import (
    CaCertificateSource,
    CertificateSource,
    SdsServer,
    SecretManager,
    WorkloadSecret,
)
from lateen.agent._status import Readiness, StatusServer, readiness

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
