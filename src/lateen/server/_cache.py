"""Generated and serialized resources shared by proxies with equal cache keys."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Hashable
from dataclasses import dataclass

from google.protobuf.any_pb2 import Any as AnyPb
from google.protobuf.message import Message

from lateen.model import Proxy
from lateen.server._metrics import XdsMetrics
from lateen.server._types import PushContextLike, XdsGenerator, short_type

__all__ = ["CachedResource", "ResourceCache", "serialize"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CachedResource:
    """One resource ready for the wire: its name, its ``Any`` and a content hash (used as the
    Delta resource version and to decide what changed per connection)."""

    name: str
    any: AnyPb
    hash: str


def serialize(name: str, message: Message) -> CachedResource:
    value = message.SerializeToString(deterministic=True)
    type_url = "type.googleapis.com/" + message.DESCRIPTOR.full_name
    digest = hashlib.sha256(type_url.encode() + b"\0" + value).hexdigest()[:16]
    return CachedResource(name, AnyPb(type_url=type_url, value=value), digest)


CacheKey = tuple[str, str, Hashable]


class ResourceCache:
    """Key ``(push_context.version, type_url, generator.cache_key(proxy, push))`` -> the
    sorted, de-duplicated resources. A new push context version drops everything older."""

    def __init__(self, metrics: XdsMetrics | None = None) -> None:
        self._entries: dict[CacheKey, tuple[CachedResource, ...]] = {}
        self._version: str | None = None
        self._metrics = metrics
        self.generate_calls = 0

    def __len__(self) -> int:
        return len(self._entries)

    def invalidate(self, version: str) -> None:
        """A new push context: keep only entries of ``version``."""
        if version != self._version:
            self._version = version
            self._entries = {k: v for k, v in self._entries.items() if k[0] == version}

    def clear(self) -> None:
        self._entries.clear()

    def get(
        self, generator: XdsGenerator, proxy: Proxy, push: PushContextLike
    ) -> tuple[CachedResource, ...]:
        key = generator.cache_key(proxy, push)
        if key is None:
            self._read("miss")
            return self._build(generator, proxy, push)
        ck: CacheKey = (push.version, generator.type_url, key)
        hit = self._entries.get(ck)
        if hit is not None:
            self._read("hit")
            return hit
        self._read("miss")
        built = self._build(generator, proxy, push)
        if self._version is None or push.version == self._version:
            self._entries[ck] = built
        return built

    def _read(self, kind: str) -> None:
        if self._metrics is not None:
            self._metrics.cache_reads.inc(kind)

    def _build(
        self, generator: XdsGenerator, proxy: Proxy, push: PushContextLike
    ) -> tuple[CachedResource, ...]:
        self.generate_calls += 1
        out: dict[str, CachedResource] = {}
        for res in generator.generate(proxy, push):
            if res.name in out:
                log.error(
                    "generator %s produced resource %r twice for %s; keeping the first",
                    short_type(generator.type_url),
                    res.name,
                    proxy.node_id,
                )
                continue
            out[res.name] = serialize(res.name, res.message)
        return tuple(out[n] for n in sorted(out))
