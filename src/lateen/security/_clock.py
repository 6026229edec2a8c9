"""Wall-clock time as a dependency: certificates and root rotation read it through this."""

from __future__ import annotations

import asyncio
import datetime
import time
from typing import Protocol

__all__ = ["SystemClock", "WallClock", "to_datetime"]


class WallClock(Protocol):
    """POSIX seconds (``time.time``) and a sleep on the same time line.
    :class:`lateen.testing.FakeClock` implements it (start it at a realistic epoch)."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


def to_datetime(seconds: float) -> datetime.datetime:
    """POSIX seconds -> aware UTC datetime, whole seconds (X.509 times have no fraction)."""
    return datetime.datetime.fromtimestamp(int(seconds), datetime.UTC)
