"""Fakes for the xDS server tests: a push context and generators made of real Envoy protos."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2
from prometheus_client import CollectorRegistry

from lateen.model import Proxy, PushRequest
from lateen.server import CDS, EDS, LDS, RDS, XdsServer
from lateen.testing.clock import FakeClock
from lateen.xds import Resource

NODE = "sidecar~198.18.0.1~a.default~default.svc.cluster.local"
NODE_B = "sidecar~198.18.0.2~b.default~default.svc.cluster.local"


@dataclass(frozen=True)
class FakePush:
    """A push context: per type, resource name -> a content string."""

    version: str
    data: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


def make_message(type_url: str, name: str, content: str) -> Any:
    if type_url == CDS:
        return cluster_pb2.Cluster(name=name, alt_stat_name=content)
    if type_url == EDS:
        return endpoint_pb2.ClusterLoadAssignment(
            cluster_name=name,
            endpoints=[
                endpoint_components_pb2.LocalityLbEndpoints(
                    locality=base_pb2.Locality(zone=content)
                )
            ],
        )
    if type_url == LDS:
        return listener_pb2.Listener(name=name, stat_prefix=content)
    if type_url == RDS:
        return route_pb2.RouteConfiguration(
            name=name, virtual_hosts=[route_components_pb2.VirtualHost(name=content, domains=["*"])]
        )
    raise AssertionError(type_url)


def content_of(type_url: str, msg: Any) -> str:
    if type_url == CDS:
        return str(msg.alt_stat_name)
    if type_url == EDS:
        return str(msg.endpoints[0].locality.zone)
    if type_url == LDS:
        return str(msg.stat_prefix)
    return str(msg.virtual_hosts[0].name)


class FakeGenerator:
    def __init__(
        self, type_url: str, key: Callable[[Proxy], Hashable | None] = lambda p: "all"
    ) -> None:
        self.type_url = type_url
        self.key = key
        self.calls = 0
        self.duplicate: str | None = None

    def needs_push(self, proxy: Proxy, request: PushRequest) -> bool:
        return request.full or self.type_url == EDS

    def cache_key(self, proxy: Proxy, push: Any) -> Hashable | None:
        return self.key(proxy)

    def generate(self, proxy: Proxy, push: Any) -> list[Resource]:
        self.calls += 1
        items = dict(push.data.get(self.type_url, {}))
        out = [Resource(n, make_message(self.type_url, n, c)) for n, c in sorted(items.items())]
        if self.duplicate:
            out.append(Resource(self.duplicate, make_message(self.type_url, self.duplicate, "dup")))
        return out


@dataclass
class Env:
    server: XdsServer
    registry: CollectorRegistry
    generators: dict[str, FakeGenerator]
    target: str
    clock: FakeClock

    def push(
        self, version: str, full: bool = True, start: float | None = None, **data: Mapping[str, str]
    ) -> None:
        types = {"cds": CDS, "eds": EDS, "lds": LDS, "rds": RDS}
        pc = FakePush(version, {types[k]: v for k, v in data.items()})
        self.server.push(
            pc, PushRequest(full=full, start=self.clock.now() if start is None else start)
        )

    def metric(self, name: str, **labels: str) -> float:
        v = self.registry.get_sample_value(name, labels)
        return v or 0.0


@pytest.fixture(name="env")
async def env_fixture() -> AsyncIterator[Env]:
    registry = CollectorRegistry()
    gens = {t: FakeGenerator(t) for t in (CDS, EDS, LDS, RDS)}
    clock = FakeClock()
    server = XdsServer(gens, registry, clock)
    task = asyncio.create_task(server.run("127.0.0.1:0"))
    try:
        await asyncio.wait_for(server.ready.wait(), 5)
        yield Env(server, registry, gens, f"127.0.0.1:{server.port}", clock)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_until(pred: Callable[[], bool], timeout: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.005)
