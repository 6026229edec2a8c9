"""The service registry: services, ports and endpoints from Kubernetes objects and
ServiceEntry/WorkloadEntry, as Istio's ``model.Service`` and ``IstioEndpoint``."""

from lateen.registry._build import (
    EXPORT_TO_ANNOTATION,
    LOCALITY_LABEL,
    TLS_MODE_LABEL,
    PodInfo,
    build_registry,
    endpoints_from_pods,
    parse_export_to,
)
from lateen.registry._model import (
    Endpoint,
    Registry,
    Resolution,
    Service,
    ServicePort,
    ServiceRegistryKind,
    labels_match,
)
from lateen.registry._protocol import Protocol, infer_protocol, parse_protocol

__all__ = [
    "EXPORT_TO_ANNOTATION",
    "LOCALITY_LABEL",
    "TLS_MODE_LABEL",
    "Endpoint",
    "PodInfo",
    "Protocol",
    "Registry",
    "Resolution",
    "Service",
    "ServicePort",
    "ServiceRegistryKind",
    "build_registry",
    "endpoints_from_pods",
    "infer_protocol",
    "labels_match",
    "parse_export_to",
    "parse_protocol",
]
