"""Incremental (Delta) ADS."""

from __future__ import annotations

from xds_server_fakes import NODE, Env, content_of, wait_until

from lateen.server import CDS, EDS, LDS, RDS
from lateen.testing.xds_client import XdsClient


async def test_wildcard_add_update_remove(env: Env) -> None:
    env.push("v1", cds={"a": "1", "b": "1"})
    async with XdsClient(env.target, NODE, delta=True) as c:
        await c.subscribe(CDS)
        r = await c.recv()
        assert r.names == ["a", "b"] and r.removed == [] and r.version == "v1"
        env.push("v2", cds={"a": "2", "b": "1", "c": "1"})
        r = await c.recv()
        assert r.names == ["a", "c"] and r.removed == []  # only what changed
        env.push("v3", cds={"a": "2", "c": "1"})
        r = await c.recv()
        assert r.names == [] and r.removed == ["b"]
        assert c.names(CDS) == ["a", "c"]
        env.push("v4", cds={"a": "2", "c": "1"})
        await c.expect_nothing(0.1)


async def test_explicit_subscribe_unsubscribe_and_missing_names(env: Env) -> None:
    env.push("v1", eds={"a": "1", "b": "1"})
    async with XdsClient(env.target, NODE, delta=True) as c:
        await c.subscribe(EDS, ["a", "zz"])
        r = await c.recv()
        assert r.names == ["a"] and r.removed == ["zz"]  # zz does not exist: said once
        env.push("v2", eds={"a": "2", "b": "2"})
        r = await c.recv()
        assert r.names == ["a"] and r.removed == []
        # zz appears: sent
        env.push("v3", eds={"a": "2", "b": "2", "zz": "1"})
        r = await c.recv()
        assert r.names == ["zz"]
        await c.unsubscribe(EDS, ["a"])
        await c.expect_nothing(0.1)
        env.push("v4", eds={"a": "3", "b": "3", "zz": "1"})
        await c.expect_nothing(0.1)
        await c.subscribe(EDS, ["b"])
        r = await c.recv()
        assert r.names == ["b"] and content_of(EDS, r.resources["b"]) == "3"


async def test_subscription_change_with_stale_nonce_is_honoured(env: Env) -> None:
    env.push("v1", eds={"a": "1", "b": "1"})
    async with XdsClient(env.target, NODE, delta=True, auto_ack=False) as c:
        await c.subscribe(EDS, ["a"])
        first = await c.recv()
        env.push("v2", eds={"a": "2", "b": "1"})
        await c.recv()
        await c.subscribe(EDS, ["b"], nonce=first.nonce)
        r = await c.recv()
        assert r.names == ["b"]


async def test_nack_counted_and_not_resent(env: Env) -> None:
    env.push("v1", lds={"l": "1"})
    async with XdsClient(env.target, NODE, delta=True, auto_ack=False) as c:
        await c.subscribe(LDS)
        await c.ack(await c.recv())
        env.push("v2", lds={"l": "bad"})
        bad = await c.recv()
        await c.nack(bad, "listener l: bad filter")
        await c.expect_nothing(0.15)
        await wait_until(lambda: env.metric("pilot_total_xds_rejects", type="lds") == 1)
        conn = env.server.connections()[0]
        assert conn.watched[LDS].acked_version == "v1"
        assert conn.watched[LDS].last_nack == "listener l: bad filter"
        assert content_of(LDS, c.resources(LDS)["l"]) == "1"


async def test_reconnect_with_initial_resource_versions(env: Env) -> None:
    env.push("v1", cds={"a": "1", "b": "1", "c": "1"})
    async with XdsClient(env.target, NODE, delta=True) as c:
        await c.subscribe(CDS)
        await c.recv()
        have = c.resource_versions(CDS)
    env.push("v2", cds={"a": "1", "b": "2", "d": "1"})
    async with XdsClient(env.target, NODE, delta=True) as c2:
        await c2.subscribe(CDS, initial_resource_versions=have)
        r = await c2.recv()
        # a is current (same version): not resent; b changed; d new; c gone
        assert r.names == ["b", "d"] and r.removed == ["c"]
    async with XdsClient(env.target, NODE, delta=True) as c3:
        await c3.subscribe(CDS, initial_resource_versions={"a": "stale-version"})
        r = await c3.recv()
        assert r.names == ["a", "b", "d"] and r.removed == []


async def test_removed_clusters_are_sent_last(env: Env) -> None:
    env.push("v1", cds={"old": "1", "keep": "1"}, lds={"l": "to-old"}, rds={"r": "to-old"})
    async with XdsClient(env.target, NODE, delta=True) as c:
        await c.subscribe(CDS)
        await c.recv()
        await c.subscribe(LDS)
        await c.recv()
        await c.subscribe(RDS, ["r"])
        await c.recv()
        env.push("v2", cds={"new": "1", "keep": "1"}, lds={"l": "to-new"}, rds={"r": "to-new"})
        got = [await c.recv() for _ in range(4)]
        assert [(g.type_url, g.names, g.removed) for g in got] == [
            (CDS, ["new"], []),
            (LDS, ["l"], []),
            (RDS, ["r"], []),
            (CDS, [], ["old"]),
        ]
