"""Per-connection coalescing push queue with a bound on concurrent pushes (Istio's PushQueue)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from lateen.model import PushRequest

__all__ = ["PushQueue"]

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)


class PushQueue(Generic[K]):
    """At most one pending push per connection: a request for a connection already waiting is
    merged into the waiting one (:meth:`PushRequest.merge`); a request for a connection being
    pushed right now waits and is queued again when that push is done. At most
    ``max_concurrent`` pushes run at once."""

    def __init__(
        self, handler: Callable[[K, PushRequest], Awaitable[None]], max_concurrent: int = 100
    ) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be >= 1")
        self._handler = handler
        self.max_concurrent = max_concurrent
        self._pending: dict[K, PushRequest] = {}
        self._ready: deque[K] = deque()
        self._in_progress: set[K] = set()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    def enqueue(self, key: K, request: PushRequest) -> None:
        prev = self._pending.get(key)
        if prev is not None:
            self._pending[key] = prev.merge(request)
            return
        self._pending[key] = request
        if key not in self._in_progress:
            self._ready.append(key)
            self._idle.clear()
            self._wake.set()

    def remove(self, key: K) -> None:
        """The connection closed: forget its pending request."""
        if self._pending.pop(key, None) is not None:
            with contextlib.suppress(ValueError):
                self._ready.remove(key)
        self._check_idle()

    def pending(self, key: K) -> PushRequest | None:
        return self._pending.get(key)

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def in_progress(self) -> int:
        return len(self._in_progress)

    async def wait_idle(self) -> None:
        """Until nothing is pending or running (for tests and graceful shutdown)."""
        await self._idle.wait()

    def _check_idle(self) -> None:
        if not self._pending and not self._in_progress:
            self._idle.set()

    async def run(self) -> None:
        sem = asyncio.Semaphore(self.max_concurrent)
        async with asyncio.TaskGroup() as tg:
            while True:
                while not self._ready:
                    self._wake.clear()
                    await self._wake.wait()
                await sem.acquire()
                if not self._ready:  # removed while waiting for a slot
                    sem.release()
                    continue
                key = self._ready.popleft()
                req = self._pending.pop(key)
                self._in_progress.add(key)
                tg.create_task(self._one(key, req, sem))

    async def _one(self, key: K, req: PushRequest, sem: asyncio.Semaphore) -> None:
        try:
            await self._handler(key, req)
        except Exception:
            log.exception("push to %s failed", key)
        finally:
            self._in_progress.discard(key)
            sem.release()
            if key in self._pending:
                self._ready.append(key)
                self._wake.set()
            self._check_idle()
