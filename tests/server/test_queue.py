"""The per-connection coalescing push queue."""

from __future__ import annotations

import asyncio
import contextlib

from lateen.model import PushRequest, TriggerReason
from lateen.server import PushQueue


async def test_pending_requests_merge_and_concurrency_is_bounded() -> None:
    gate = asyncio.Event()
    handled: list[tuple[str, PushRequest]] = []
    running = 0
    peak = 0

    async def handler(key: str, req: PushRequest) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await gate.wait()
        handled.append((key, req))
        running -= 1

    q: PushQueue[str] = PushQueue(handler, max_concurrent=2)
    task = asyncio.create_task(q.run())
    try:
        for k in ("a", "b", "c"):
            q.enqueue(k, PushRequest(full=False, reasons=frozenset({TriggerReason.ENDPOINT})))
        await asyncio.sleep(0.01)
        assert q.in_progress == 2  # a and b run, c waits
        # while a runs, two more requests for a merge into one pending request
        q.enqueue("a", PushRequest(full=False, reasons=frozenset({TriggerReason.ENDPOINT})))
        q.enqueue("a", PushRequest(full=True, reasons=frozenset({TriggerReason.CONFIG})))
        q.enqueue("c", PushRequest(full=True))  # merges into c's pending request
        assert q.pending("a") is not None and q.pending("a").count == 2  # type: ignore[union-attr]
        gate.set()
        await asyncio.wait_for(q.wait_idle(), 2)
        assert peak == 2
        keys = [k for k, _ in handled]
        assert sorted(keys) == ["a", "a", "b", "c"]
        a_second = [r for k, r in handled if k == "a"][1]
        assert a_second.full and a_second.reasons == {TriggerReason.ENDPOINT, TriggerReason.CONFIG}
        c_req = next(r for k, r in handled if k == "c")
        assert c_req.count == 2 and c_req.full
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_remove_drops_pending() -> None:
    seen: list[str] = []

    async def handler(key: str, req: PushRequest) -> None:
        seen.append(key)

    q: PushQueue[str] = PushQueue(handler, max_concurrent=1)
    q.enqueue("gone", PushRequest())
    q.enqueue("kept", PushRequest())
    q.remove("gone")
    task = asyncio.create_task(q.run())
    try:
        await asyncio.wait_for(q.wait_idle(), 2)
        assert seen == ["kept"]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
