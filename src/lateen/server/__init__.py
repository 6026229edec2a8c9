"""The ADS server (SotW + Delta), debounce, push queue, resource cache and debug endpoints.

It knows generators, proxies, push requests and push contexts, and nothing about config."""

from lateen.server._cache import CachedResource, ResourceCache, serialize
from lateen.server._clock import Clock, MonotonicClock
from lateen.server._connection import Connection, WatchedResource
from lateen.server._debounce import Debouncer
from lateen.server._debug import make_debug_app
from lateen.server._metrics import XdsMetrics
from lateen.server._queue import PushQueue
from lateen.server._server import XdsServer
from lateen.server._types import (
    CDS,
    EDS,
    LDS,
    NDS,
    PUSH_ORDER,
    RDS,
    PushContextLike,
    XdsGenerator,
    short_type,
)

__all__ = [
    "CDS",
    "EDS",
    "LDS",
    "NDS",
    "PUSH_ORDER",
    "RDS",
    "CachedResource",
    "Clock",
    "Connection",
    "Debouncer",
    "MonotonicClock",
    "PushContextLike",
    "PushQueue",
    "ResourceCache",
    "WatchedResource",
    "XdsGenerator",
    "XdsMetrics",
    "XdsServer",
    "make_debug_app",
    "serialize",
    "short_type",
]
