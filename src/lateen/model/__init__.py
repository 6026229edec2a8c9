"""The control plane's view of the mesh: proxies, push requests, frozen push contexts."""

from lateen.model._proxy import NodeIdError, Proxy, ProxyType, parse_node
from lateen.model._push_request import FULL_PUSH, PushRequest, TriggerReason

__all__ = [
    "FULL_PUSH",
    "NodeIdError",
    "Proxy",
    "ProxyType",
    "PushRequest",
    "TriggerReason",
    "parse_node",
]
