"""What changed and why: the unit of work that flows from config events to pushes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from lateen.api._object import ConfigKey

__all__ = ["PushRequest", "TriggerReason"]


class TriggerReason(StrEnum):
    CONFIG = "config"
    ENDPOINT = "endpoint"
    SERVICE = "service"
    PROXY = "proxy"  # a new connection or a proxy's metadata changed
    SECRET = "secret"  # a Secret (a credentialName's certificate) changed
    GLOBAL = "global"
    DEBUG = "debug"


@dataclass(frozen=True, slots=True)
class PushRequest:
    """A request to push. ``full`` means config (not only endpoints) changed, so every
    type may need regenerating; an endpoint-only change pushes EDS for the named services.
    ``config_updated`` names the objects that changed (empty with ``full`` = everything)."""

    full: bool = True
    config_updated: frozenset[ConfigKey] = frozenset()
    reasons: frozenset[TriggerReason] = frozenset()
    start: float = 0.0  # clock time of the first event merged into this request
    count: int = 1  # number of events merged

    def merge(self, other: PushRequest) -> PushRequest:
        """Coalesce two requests: full wins; changed sets union; the earliest start is kept."""
        starts = [s for s in (self.start, other.start) if s]
        return PushRequest(
            full=self.full or other.full,
            config_updated=self.config_updated | other.config_updated,
            reasons=self.reasons | other.reasons,
            start=min(starts) if starts else 0.0,
            count=self.count + other.count,
        )

    def kinds(self) -> frozenset[str]:
        return frozenset(k.kind for k in self.config_updated)


FULL_PUSH = PushRequest(full=True, reasons=frozenset({TriggerReason.GLOBAL}))
__all__ += ["FULL_PUSH"]

