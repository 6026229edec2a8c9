"""The message types Lateen's analyzers report, with Istio's codes, levels and wording."""

from __future__ import annotations

from lateen.analyze._messages import Level, MessageType

__all__ = [
    "ALL_TYPES",
    "CONFLICTING_GATEWAYS",
    "CONFLICTING_MESH_GATEWAY_VS_HOSTS",
    "CONFLICTING_SIDECAR_SELECTORS",
    "DR_SUBSET_NOT_SELECT_PODS",
    "EXTERNAL_NAME_INVALID_PORT_NAME",
    "GATEWAY_PORT_NOT_DEFINED_ON_SERVICE",
    "INGRESS_ROUTE_RULES_NOT_AFFECTED",
    "MULTIPLE_SIDECARS_WITHOUT_SELECTOR",
    "NAMESPACE_NOT_INJECTED",
    "NO_SERVER_CERT_VERIFICATION_DR",
    "NO_SERVER_CERT_VERIFICATION_PORT",
    "PORT_NAME_NOT_UNDER_CONVENTION",
    "REFERENCED_RESOURCE_NOT_FOUND",
    "SCHEMA_VALIDATION_ERROR",
    "SCHEMA_WARNING",
    "UNKNOWN_DR_HOST",
    "VS_DESTINATION_PORT_SELECTOR_REQUIRED",
    "VS_HOST_NOT_FOUND_IN_GATEWAY",
    "VS_INEFFECTIVE_MATCH",
    "VS_UNREACHABLE_RULE",
    "by_code",
]

E, W, INFO = Level.ERROR, Level.WARNING, Level.INFO

REFERENCED_RESOURCE_NOT_FOUND = MessageType(
    "IST0101", "ReferencedResourceNotFound", E, "Referenced {} not found: {}"
)
NAMESPACE_NOT_INJECTED = MessageType(
    "IST0102",
    "NamespaceNotInjected",
    INFO,
    "The namespace is not enabled for Istio injection. Run 'kubectl label namespace {} "
    "istio-injection=enabled' to enable it, or 'kubectl label namespace {} "
    "istio-injection=disabled' to explicitly mark it as not needing injection.",
)
SCHEMA_VALIDATION_ERROR = MessageType(
    "IST0106", "SchemaValidationError", E, "Schema validation error: {}"
)
CONFLICTING_MESH_GATEWAY_VS_HOSTS = MessageType(
    "IST0109",
    "ConflictingMeshGatewayVirtualServiceHosts",
    E,
    "The VirtualServices {} associated with mesh gateway define the same host {} which can "
    "lead to undefined behavior. This can be fixed by merging the conflicting VirtualServices "
    "into a single resource.",
)
CONFLICTING_SIDECAR_SELECTORS = MessageType(
    "IST0110",
    "ConflictingSidecarWorkloadSelectors",
    E,
    "The Sidecars {} in namespace {} select the same workload pod {}, which can lead to "
    "undefined behavior.",
)
MULTIPLE_SIDECARS_WITHOUT_SELECTOR = MessageType(
    "IST0111",
    "MultipleSidecarsWithoutWorkloadSelectors",
    E,
    "The Sidecars {} in namespace {} have no workload selector, which can lead to undefined "
    "behavior.",
)
VS_DESTINATION_PORT_SELECTOR_REQUIRED = MessageType(
    "IST0112",
    "VirtualServiceDestinationPortSelectorRequired",
    E,
    "This VirtualService routes to a service {} that exposes multiple ports {}. Specifying a "
    "port in the destination is required to disambiguate.",
)
PORT_NAME_NOT_UNDER_CONVENTION = MessageType(
    "IST0118",
    "PortNameIsNotUnderNamingConvention",
    INFO,
    "Port name {} (port: {}, targetPort: {}) doesn't follow the naming convention of Istio port.",
)
NO_SERVER_CERT_VERIFICATION_DR = MessageType(
    "IST0128",
    "NoServerCertificateVerificationDestinationLevel",
    W,
    "DestinationRule {} in namespace {} has TLS mode set to {} but no caCertificates are set "
    "to validate server identity for host: {}",
)
NO_SERVER_CERT_VERIFICATION_PORT = MessageType(
    "IST0129",
    "NoServerCertificateVerificationPortLevel",
    W,
    "DestinationRule {} in namespace {} has TLS mode set to {} but no caCertificates are set "
    "to validate server identity for host: {} at port {}",
)
VS_UNREACHABLE_RULE = MessageType(
    "IST0130", "VirtualServiceUnreachableRule", W, "VirtualService rule {} not used ({})."
)
VS_INEFFECTIVE_MATCH = MessageType(
    "IST0131",
    "VirtualServiceIneffectiveMatch",
    INFO,
    "VirtualService rule {} match {} is not used (duplicate/overlapping match in rule {}).",
)
VS_HOST_NOT_FOUND_IN_GATEWAY = MessageType(
    "IST0132",
    "VirtualServiceHostNotFoundInGateway",
    W,
    "one or more host {} defined in VirtualService {} not found in Gateway {}.",
)
SCHEMA_WARNING = MessageType("IST0133", "SchemaWarning", W, "Schema validation warning: {}")
INGRESS_ROUTE_RULES_NOT_AFFECTED = MessageType(
    "IST0140",
    "IngressRouteRulesNotAffected",
    W,
    "Subset in virtual service {} has no effect on ingress gateway {} requests",
)
CONFLICTING_GATEWAYS = MessageType(
    "IST0145",
    "ConflictingGateways",
    E,
    "Conflict with gateways {} (workload selector {}, port {}, hosts {}).",
)
EXTERNAL_NAME_INVALID_PORT_NAME = MessageType(
    "IST0150",
    "ExternalNameServiceTypeInvalidPortName",
    W,
    "Port name for ExternalName service is invalid. Proxy may prevent tcp named ports and "
    "unmatched traffic for ports serving TCP protocol from being forwarded correctly",
)
GATEWAY_PORT_NOT_DEFINED_ON_SERVICE = MessageType(
    "IST0162",
    "GatewayPortNotDefinedOnService",
    W,
    "The gateway is listening on a target port (port {}) that is not defined in the Service "
    "associated with its workload instances (Pod selector {}). If you need to access the "
    "gateway port through the gateway Service, it will not be available.",
)
DR_SUBSET_NOT_SELECT_PODS = MessageType(
    "IST0173",
    "DestinationRuleSubsetNotSelectPods",
    E,
    "The Subset {} defined in the DestinationRule does not select any pods. Which may lead to "
    "503 UH (NoHealthyUpstream).",
)
UNKNOWN_DR_HOST = MessageType(
    "IST0174",
    "UnknownDestinationRuleHost",
    W,
    "The host {} defined in the DestinationRule does not match any services in the mesh.",
)

ALL_TYPES: tuple[MessageType, ...] = (
    REFERENCED_RESOURCE_NOT_FOUND,
    NAMESPACE_NOT_INJECTED,
    SCHEMA_VALIDATION_ERROR,
    CONFLICTING_MESH_GATEWAY_VS_HOSTS,
    CONFLICTING_SIDECAR_SELECTORS,
    MULTIPLE_SIDECARS_WITHOUT_SELECTOR,
    VS_DESTINATION_PORT_SELECTOR_REQUIRED,
    PORT_NAME_NOT_UNDER_CONVENTION,
    NO_SERVER_CERT_VERIFICATION_DR,
    NO_SERVER_CERT_VERIFICATION_PORT,
    VS_UNREACHABLE_RULE,
    VS_INEFFECTIVE_MATCH,
    VS_HOST_NOT_FOUND_IN_GATEWAY,
    SCHEMA_WARNING,
    INGRESS_ROUTE_RULES_NOT_AFFECTED,
    CONFLICTING_GATEWAYS,
    EXTERNAL_NAME_INVALID_PORT_NAME,
    GATEWAY_PORT_NOT_DEFINED_ON_SERVICE,
    DR_SUBSET_NOT_SELECT_PODS,
    UNKNOWN_DR_HOST,
)


def by_code(code: str) -> MessageType | None:
    for t in ALL_TYPES:
        if t.code == code.upper():
            return t
    return None
