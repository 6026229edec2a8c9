"""The local platform: a whole mesh on one machine (``lateen up``)."""

from lateen.platform.local._builtin import builtin_objects
from lateen.platform.local._client import ApiClient, NotRunning, connect
from lateen.platform.local._kubelet import Kubelet, KubeletOptions, PodState, pod_object
from lateen.platform.local._network import (
    AddressPool,
    ExplicitNetwork,
    PodAddress,
    PodNetwork,
    inherited_env,
    loopback_block,
)
from lateen.platform.local._process import ProcessInfo, SupervisedProcess, proc_start_time
from lateen.platform.local._runtime import LocalMesh, MeshError, UpOptions, read_documents
from lateen.platform.local._spec import (
    ContainerSpec,
    PodSpec,
    Probe,
    ProxyRole,
    SpecError,
    injection_applies,
    pod_name,
    pods_from_objects,
)
from lateen.platform.local._state import ProcessRecord, RuntimeInfo, StateDir, kill_recorded

__all__ = [
    "AddressPool",
    "ApiClient",
    "ContainerSpec",
    "ExplicitNetwork",
    "Kubelet",
    "KubeletOptions",
    "LocalMesh",
    "MeshError",
    "NotRunning",
    "PodAddress",
    "PodNetwork",
    "PodSpec",
    "PodState",
    "Probe",
    "ProcessInfo",
    "ProcessRecord",
    "ProxyRole",
    "RuntimeInfo",
    "SpecError",
    "StateDir",
    "SupervisedProcess",
    "UpOptions",
    "builtin_objects",
    "connect",
    "inherited_env",
    "injection_applies",
    "kill_recorded",
    "loopback_block",
    "pod_name",
    "pod_object",
    "pods_from_objects",
    "proc_start_time",
    "read_documents",
]
