"""Proxies with equal cache keys share one generation and serialization."""

from __future__ import annotations

import contextlib

from xds_server_fakes import Env, FakeGenerator, FakePush

from lateen.model import parse_node
from lateen.server import CDS, ResourceCache
from lateen.testing.xds_client import XdsClient


def node(i: int) -> str:
    return f"sidecar~10.0.0.{i}~p{i}.default~default.svc.cluster.local"


async def test_n_proxies_with_one_key_cause_one_generate_call(env: Env) -> None:
    env.push("v1", cds={"a": "1", "b": "1"})
    n = 8
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(XdsClient(env.target, node(i))) for i in range(n)
        ]
        for c in clients:
            await c.subscribe(CDS)
        for c in clients:
            assert (await c.recv()).names == ["a", "b"]
        assert env.generators[CDS].calls == 1
        env.push("v2", cds={"a": "2", "b": "1"})
        for c in clients:
            assert (await c.recv()).version == "v2"
        assert env.generators[CDS].calls == 2
    assert env.metric("pilot_xds_cache_reads", type="hit") == 2 * (n - 1)


def test_cache_key_none_and_distinct_keys_and_invalidation() -> None:
    gen = FakeGenerator(CDS, key=lambda p: p.namespace if p.namespace != "nocache" else None)
    cache = ResourceCache()
    p1 = parse_node("sidecar~1.1.1.1~a.ns1~ns1.svc.cluster.local")
    p2 = parse_node("sidecar~1.1.1.2~b.ns1~ns1.svc.cluster.local")
    p3 = parse_node("sidecar~1.1.1.3~c.ns2~ns2.svc.cluster.local")
    p4 = parse_node("sidecar~1.1.1.4~d.nocache~nocache.svc.cluster.local")
    push = FakePush("v1", {CDS: {"x": "1"}})
    cache.invalidate("v1")
    first = cache.get(gen, p1, push)
    assert cache.get(gen, p2, push) is first
    assert gen.calls == 1
    cache.get(gen, p3, push)
    assert gen.calls == 2
    cache.get(gen, p4, push)
    cache.get(gen, p4, push)
    assert gen.calls == 4  # None: never cached
    cache.invalidate("v2")
    assert len(cache) == 0
    again = cache.get(gen, p1, FakePush("v2", {CDS: {"x": "1"}}))
    assert gen.calls == 5
    assert [(e.name, e.hash) for e in again] == [
        (e.name, e.hash) for e in first
    ]  # content hash is stable
