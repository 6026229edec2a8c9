"""Debounce with a fake clock: 100 ms of quiet, at most 10 s after the first event."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from lateen.model import PushRequest
from lateen.server import Debouncer
from lateen.testing.clock import FakeClock


@dataclass
class Rig:
    clock: FakeClock
    deb: Debouncer
    pushed: list[tuple[float, PushRequest]] = field(default_factory=list)


@contextlib.asynccontextmanager
async def rig(eds_debounce: bool = True) -> AsyncIterator[Rig]:
    clock = FakeClock()
    pushed: list[tuple[float, PushRequest]] = []

    async def push(req: PushRequest) -> None:
        pushed.append((clock.now(), req))

    deb = Debouncer(clock, push, eds_debounce=eds_debounce)
    task = asyncio.create_task(deb.run())
    try:
        await clock.settle()
        yield Rig(clock, deb, pushed)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# (events at these offsets in ms, expected pushes as (time offset ms, merged count))
CASES = [
    ([0], [(100, 1)]),
    ([0, 50, 90], [(190, 3)]),
    ([0, 200], [(100, 1), (300, 1)]),
    # an event every 50 ms forever: the max (10 s) forces a push
    (list(range(0, 10_050, 50)), [(10_000, 201)]),
]


@pytest.mark.parametrize(
    ("events", "expected"), CASES, ids=["single", "burst-quiet", "two-bursts", "max-delay"]
)
async def test_debounce_table(events: list[int], expected: list[tuple[int, int]]) -> None:
    async with rig() as r:
        t0 = r.clock.now()
        step = 10
        ev = list(events)
        for ms in range(0, max(events) + 400, step):
            while ev and ev[0] <= ms:
                ev.pop(0)
                r.deb.enqueue(PushRequest(full=True))
            await r.clock.settle()
            r.clock.advance(step / 1000)
            await r.clock.settle()
        got = [(round((t - t0) * 1000), req.count) for t, req in r.pushed]
        # the max-delay case keeps going after the forced push; only check the prefix
        got = got[: len(expected)]
        assert [c for _, c in got] == [c for _, c in expected]
        for (t, _), (want, _) in zip(got, expected, strict=True):
            assert want <= t <= want + step  # the first tick at or after the deadline


async def test_start_is_first_event_time_and_full_wins() -> None:
    async with rig() as r:
        t0 = r.clock.now()
        r.deb.enqueue(PushRequest(full=False))
        await r.clock.advance_and_settle(0.05)
        r.deb.enqueue(PushRequest(full=True))
        await r.clock.advance_and_settle(0.1)
        assert len(r.pushed) == 1
        req = r.pushed[0][1]
        assert req.full and req.count == 2 and req.start == t0


async def test_endpoint_only_requests_bypass_debounce_when_eds_debounce_off() -> None:
    async with rig(eds_debounce=False) as r:
        r.deb.enqueue(PushRequest(full=False))
        await r.clock.settle()
        assert len(r.pushed) == 1 and not r.pushed[0][1].full
        r.deb.enqueue(PushRequest(full=True))
        await r.clock.settle()
        assert len(r.pushed) == 1  # config changes are still debounced
        await r.clock.advance_and_settle(0.1)
        assert len(r.pushed) == 2
