"""What the server needs to know about generators and push contexts (and nothing more)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, Protocol

from lateen.model import Proxy, PushRequest

__all__ = [
    "AGENT_TYPES",
    "CDS",
    "EDS",
    "LDS",
    "NDS",
    "PUSH_ORDER",
    "RDS",
    "PushContextLike",
    "XdsGenerator",
    "short_type",
]

CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
EDS = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
LDS = "type.googleapis.com/envoy.config.listener.v3.Listener"
RDS = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
SDS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
#: Istio's name table (NDS), asked for by the agent's DNS proxy, not by Envoy
NDS = "type.googleapis.com/istio.networking.nds.v1.NameTable"

#: Make-before-break: clusters, then their endpoints, then listeners, then their routes.
PUSH_ORDER = (CDS, EDS, LDS, RDS)
#: Types whose SotW responses carry the complete state of the world (omission = deletion)
#: and whose empty initial request means "wildcard" (NDS: one unnamed resource, as Istio).
FULL_STATE_TYPES = frozenset({CDS, LDS, NDS})
#: Types only an agent asks for: a stream whose first request is one of them is the agent's
#: own stream next to its Envoy's (Istio multiplexes NDS onto Envoy's stream), not a proxy.
AGENT_TYPES = frozenset({NDS})

_SHORT = {CDS: "cds", EDS: "eds", LDS: "lds", RDS: "rds", SDS: "sds", NDS: "nds"}


def short_type(type_url: str) -> str:
    """Istio's metric label for a type URL: ``cds``, ``eds``, ``lds``, ``rds``, ``sds``..."""
    if type_url in _SHORT:
        return _SHORT[type_url]
    return type_url.rsplit(".", 1)[-1].lower() or "unknown"


def type_order(type_url: str) -> tuple[int, str]:
    try:
        return (PUSH_ORDER.index(type_url), "")
    except ValueError:
        return (len(PUSH_ORDER), type_url)


class PushContextLike(Protocol):
    """The server's whole view of a push context: an immutable snapshot with a version."""

    @property
    def version(self) -> str: ...


class ResourceLike(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def message(self) -> Any: ...


class XdsGenerator(Protocol):
    """Structural twin of :class:`lateen.xds.Generator`, with the push context left opaque."""

    type_url: str

    def needs_push(self, proxy: Proxy, request: PushRequest) -> bool: ...

    def cache_key(self, proxy: Proxy, push: Any) -> Hashable | None: ...

    def generate(self, proxy: Proxy, push: Any) -> Sequence[ResourceLike]: ...
