"""Bad input never crashes the control plane: malformed YAML, unknown kinds, a 10 MB file,
a VirtualService with 10,000 routes, a client sending garbage on the gRPC stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from envoy.service.discovery.v3 import discovery_pb2

from lateen.config import DirectoryStore
from lateen.platform import ControlPlane, ControlPlaneOptions
from lateen.testing.xds_client import CDS, RDS, XdsClient

NODE = "sidecar~198.18.0.5~productpage-1.default~default.svc.cluster.local"

GOOD = """\
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec:
  clusterIP: 198.19.0.10
  ports: [{name: http, port: 9080}]
"""

BIG_VS_HEAD = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
"""


@contextlib.asynccontextmanager
async def running(config_dir: Path) -> AsyncIterator[ControlPlane]:
    store = DirectoryStore(config_dir)
    store.load()
    cp = ControlPlane(store, ControlPlaneOptions(xds_port=0, monitoring_port=0))
    stop = asyncio.Event()
    task = asyncio.create_task(cp.run())
    watch = asyncio.create_task(store.run(stop))
    try:
        await asyncio.wait_for(cp.ready.wait(), 10)
        yield cp
    finally:
        stop.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(watch, 5)


def target(cp: ControlPlane) -> str:
    return f"127.0.0.1:{cp.server.port}"


async def test_broken_files_are_skipped_and_the_rest_is_served(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "malformed.yaml").write_text("apiVersion: v1\nkind: [\n")
    (tmp_path / "unknown.yaml").write_text("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n")
    (tmp_path / "binary.yaml").write_bytes(b"\x00\xff\xfe" * 1000)
    (tmp_path / "big.yaml").write_text("# " + "x" * (10 * 1024 * 1024) + "\n" + GOOD.replace("reviews", "ratings"))
    async with running(tmp_path) as cp, XdsClient(target(cp), NODE) as client:
        await client.subscribe(CDS)
        await client.recv_type(CDS, timeout=10)
        names = client.names(CDS)
        assert "outbound|9080||reviews.default.svc.cluster.local" in names
        assert "outbound|9080||ratings.default.svc.cluster.local" in names
    fresh = DirectoryStore(tmp_path)
    fresh.load()
    assert {p.name for p in fresh.errors} == {"malformed.yaml", "unknown.yaml", "binary.yaml"}


async def test_virtual_service_with_10000_routes_is_served(tmp_path: Path) -> None:
    routes = "".join(
        f"  - match: [{{uri: {{exact: /r{i}}}}}]\n    route: [{{destination: {{host: reviews}}}}]\n"
        for i in range(10_000)
    )
    (tmp_path / "svc.yaml").write_text(GOOD)
    (tmp_path / "vs.yaml").write_text(BIG_VS_HEAD + routes)
    async with running(tmp_path) as cp, XdsClient(target(cp), NODE) as client:
        await client.subscribe(RDS, ["9080"])
        await client.recv_type(RDS, timeout=60)
        rc = client.resources(RDS)["9080"]
        vhosts = [vh for vh in rc.virtual_hosts if "reviews" in vh.domains]  # type: ignore[attr-defined]
        assert len(vhosts) == 1
        assert len(vhosts[0].routes) == 10_000


@pytest.mark.parametrize(
    "payload",
    [b"\xff\x00garbage", b"", b"\x0a\x05hello" * 100],
    ids=["garbage", "empty", "wrong-fields"],
)
async def test_garbage_on_the_grpc_stream_does_not_take_the_server_down(tmp_path: Path, payload: bytes) -> None:
    (tmp_path / "svc.yaml").write_text(GOOD)
    async with running(tmp_path) as cp:
        async with grpc.aio.insecure_channel(target(cp)) as channel:
            call = channel.stream_stream(
                "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources",
                request_serializer=lambda b: b,
                response_deserializer=discovery_pb2.DiscoveryResponse.FromString,
            )()
            await call.write(payload)
            with contextlib.suppress(grpc.aio.AioRpcError, asyncio.TimeoutError):
                await asyncio.wait_for(call.read(), 3)
            call.cancel()
        # the server still serves a well-behaved client
        async with XdsClient(target(cp), NODE) as client:
            await client.subscribe(CDS)
            await client.recv_type(CDS, timeout=10)
            assert "outbound|9080||reviews.default.svc.cluster.local" in client.names(CDS)
