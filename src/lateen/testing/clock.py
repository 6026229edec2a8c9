"""A manual clock for deterministic tests of debounce, timeouts and rotation."""

from __future__ import annotations

import asyncio
import heapq
import itertools

__all__ = ["FakeClock"]


class FakeClock:
    """Implements :class:`lateen.server.Clock`. Time moves only with :meth:`advance`; sleepers
    whose deadline has passed are woken (they run at the loop's next turn, see :meth:`settle`)."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), fut))
        await fut

    @property
    def sleepers(self) -> int:
        return sum(1 for _, _, f in self._sleepers if not f.done())

    def next_deadline(self) -> float | None:
        live = [d for d, _, f in self._sleepers if not f.done()]
        return min(live) if live else None

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time does not go backwards")
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)

    @staticmethod
    async def settle(turns: int = 10) -> None:
        """Let woken tasks run (a few loop turns)."""
        for _ in range(turns):
            await asyncio.sleep(0)

    async def advance_and_settle(self, seconds: float, turns: int = 10) -> None:
        await self.settle(turns)
        self.advance(seconds)
        await self.settle(turns)
