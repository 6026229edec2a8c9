"""Merge bursts of config events into one push (Istio's PILOT_DEBOUNCE_AFTER / _MAX).

Rules, as Istio's ``debounce``:

* the first event of a burst records its start time (``PushRequest.start``, from the clock);
* the merged request is pushed once ``debounce_after`` (100 ms) passed without a new event,
  or ``debounce_max`` (10 s) passed since the first event of the burst, whichever is first;
* pushes are serialized: events arriving while a push runs start the next burst.

Endpoint-only requests (``full=False``): with ``eds_debounce=True`` (Istio's default
``PILOT_ENABLE_EDS_DEBOUNCE=true``) they are debounced like the rest and merged with config
events. With ``eds_debounce=False`` they bypass the debounce and are handed to the push
function at once (still serialized with the debounced pushes), so endpoint changes converge
in milliseconds while config bursts are still coalesced.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from lateen.model import PushRequest
from lateen.server._clock import Clock

__all__ = ["Debouncer"]

log = logging.getLogger(__name__)

PushFn = Callable[[PushRequest], Awaitable[None]]


class Debouncer:
    def __init__(
        self,
        clock: Clock,
        push: PushFn,
        *,
        debounce_after: float = 0.1,
        debounce_max: float = 10.0,
        eds_debounce: bool = True,
    ) -> None:
        self._clock = clock
        self._push = push
        self.debounce_after = debounce_after
        self.debounce_max = debounce_max
        self.eds_debounce = eds_debounce
        self._pending: PushRequest | None = None
        self._first = 0.0
        self._last = 0.0
        self._immediate: PushRequest | None = None
        self._wake = asyncio.Event()
        self._push_lock = asyncio.Lock()
        self.pushes = 0

    def enqueue(self, request: PushRequest) -> None:
        """Record an event (sync; safe to call from any coroutine of the loop)."""
        now = self._clock.now()
        if not request.start:
            request = replace(request, start=now)
        if not request.full and not self.eds_debounce:
            self._immediate = request if self._immediate is None else self._immediate.merge(request)
        elif self._pending is None:
            self._pending = request
            self._first = now
            self._last = now
        else:
            self._pending = self._pending.merge(request)
            self._last = now
        self._wake.set()

    @property
    def pending(self) -> PushRequest | None:
        return self._pending

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._debounce_loop())
            if not self.eds_debounce:
                tg.create_task(self._immediate_loop())

    async def _immediate_loop(self) -> None:
        while True:
            while self._immediate is None:
                self._wake.clear()
                await self._wake.wait()
            req, self._immediate = self._immediate, None
            await self._do_push(req)

    async def _debounce_loop(self) -> None:
        while True:
            while self._pending is None:
                self._wake.clear()
                await self._wake.wait()
            while True:
                now = self._clock.now()
                deadline = min(self._last + self.debounce_after, self._first + self.debounce_max)
                if now >= deadline:
                    break
                await self._clock.sleep(deadline - now)
            req, self._pending = self._pending, None
            if req is not None:
                await self._do_push(req)

    async def _do_push(self, req: PushRequest) -> None:
        async with self._push_lock:
            self.pushes += 1
            try:
                await self._push(req)
            except Exception:
                log.exception("push failed (%d events merged)", req.count)
