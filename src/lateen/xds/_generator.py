"""The contract between the ADS server and the pure per-type generators."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from google.protobuf.message import Message

if TYPE_CHECKING:
    from lateen.model import PushContext
    from lateen.model._proxy import Proxy
    from lateen.model._push_request import PushRequest

__all__ = ["Generator", "Resource"]


@dataclass(frozen=True, slots=True)
class Resource:
    """One named Envoy resource (a Cluster, ClusterLoadAssignment, Listener, RouteConfiguration...)."""

    name: str
    message: Message


class Generator(Protocol):
    """One per xDS type, registered by type URL.

    ``generate`` is pure: it reads only its arguments and returns the complete set of
    resources of its type for that proxy, sorted by name. The server filters by what the
    proxy subscribed to. Proxies whose ``cache_key`` is equal (and not None) get identical
    output from the same ``PushContext``, so the server generates and serializes once per key.
    """

    type_url: str

    def needs_push(self, proxy: Proxy, request: PushRequest) -> bool: ...

    def cache_key(self, proxy: Proxy, push: PushContext) -> Hashable | None: ...

    def generate(self, proxy: Proxy, push: PushContext) -> list[Resource]: ...
