"""Hundreds of simulated proxies from one process over one shared channel."""

from __future__ import annotations

import contextlib

import grpc
from xds_server_fakes import Env

from lateen.server import CDS
from lateen.testing.xds_client import XdsClient


async def test_200_proxies_share_a_channel_and_one_generation(env: Env) -> None:
    env.push("v1", cds={f"c{i}": "1" for i in range(20)})
    n = 200
    async with (
        grpc.aio.insecure_channel(env.target) as channel,
        contextlib.AsyncExitStack() as stack,
    ):
        clients = [
            await stack.enter_async_context(
                XdsClient(
                    env.target,
                    f"sidecar~10.1.{i // 250}.{i % 250}~p{i}.ns~ns.svc.cluster.local",
                    channel=channel,
                )
            )
            for i in range(n)
        ]
        for c in clients:
            await c.subscribe(CDS)
        for c in clients:
            assert len((await c.recv()).names) == 20
        env.push("v2", cds={f"c{i}": "2" for i in range(20)})
        for c in clients:
            assert (await c.recv()).version == "v2"
        assert len(env.server.connections()) == n
    assert env.generators[CDS].calls == 2
