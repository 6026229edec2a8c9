"""RDS: route configurations built from VirtualServices, with route configurers."""

from lateen.xds.route._builder import (
    build_routes,
    connect_route,
    default_route,
    explicit_proxy_domains,
    explicit_proxy_route_configuration,
    gateway_route_configuration,
    inbound_route_configuration,
    route_match,
    service_domains,
    sidecar_route_configuration,
    string_matcher,
    virtual_service_routes,
)
from lateen.xds.route._configurers import (
    DEFAULT_RETRY_ON,
    DEFAULT_ROUTE_CONFIGURERS,
    RouteConfigurer,
    RouteContext,
    configure_headers,
    configure_retries,
    configure_rewrite,
    configure_timeout,
    default_retry_policy,
)
from lateen.xds.route._generator import RouteGenerator

__all__ = [
    "DEFAULT_RETRY_ON",
    "DEFAULT_ROUTE_CONFIGURERS",
    "RouteConfigurer",
    "RouteContext",
    "RouteGenerator",
    "build_routes",
    "configure_headers",
    "configure_retries",
    "configure_rewrite",
    "configure_timeout",
    "connect_route",
    "default_retry_policy",
    "default_route",
    "explicit_proxy_domains",
    "explicit_proxy_route_configuration",
    "gateway_route_configuration",
    "inbound_route_configuration",
    "route_match",
    "service_domains",
    "sidecar_route_configuration",
    "string_matcher",
    "virtual_service_routes",
]
