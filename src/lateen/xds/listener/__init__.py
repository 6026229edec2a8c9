"""LDS: sidecar and gateway listeners; the HTTP connection manager from configurers."""

from lateen.xds.listener._builder import (
    build_listeners,
    outbound_listeners,
    tcp_proxy_filter,
    virtual_inbound_listener,
    virtual_outbound_listener,
)
from lateen.xds.listener._gateway import gateway_listeners
from lateen.xds.listener._generator import ListenerGenerator
from lateen.xds.listener._hcm import (
    DEFAULT_HCM_CONFIGURERS,
    HCM_FILTER,
    ISTIO_ACCESS_LOG_FORMAT,
    Direction,
    HcmConfigurer,
    HcmContext,
    build_hcm,
    configure_access_log,
    configure_basics,
    configure_default_http_filters,
    configure_explicit_proxy,
    configure_jwt_authn,
    configure_path_normalization,
    configure_route_source,
    file_access_log,
)

__all__ = [
    "DEFAULT_HCM_CONFIGURERS",
    "HCM_FILTER",
    "ISTIO_ACCESS_LOG_FORMAT",
    "Direction",
    "HcmConfigurer",
    "HcmContext",
    "ListenerGenerator",
    "build_hcm",
    "build_listeners",
    "configure_access_log",
    "configure_basics",
    "configure_default_http_filters",
    "configure_explicit_proxy",
    "configure_jwt_authn",
    "configure_path_normalization",
    "configure_route_source",
    "file_access_log",
    "gateway_listeners",
    "outbound_listeners",
    "tcp_proxy_filter",
    "virtual_inbound_listener",
    "virtual_outbound_listener",
]
