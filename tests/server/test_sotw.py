"""State-of-the-world ADS: the protocol rules of Envoy's xDS document."""

from __future__ import annotations

import grpc
import pytest
from envoy.service.discovery.v3 import discovery_pb2
from xds_server_fakes import NODE, Env, content_of, wait_until

from lateen.server import CDS, EDS, LDS, RDS
from lateen.testing.xds_client import XdsClient, XdsStreamError


def contents(client: XdsClient, type_url: str) -> dict[str, str]:
    return {n: content_of(type_url, m) for n, m in client.resources(type_url).items()}


async def test_wildcard_cds_gets_full_set_with_push_version(env: Env) -> None:
    env.push("v1", cds={"a": "1", "b": "1"})
    async with XdsClient(env.target, NODE) as c:
        await c.subscribe(CDS)
        resp = await c.recv()
        assert resp.type_url == CDS and resp.version == "v1" and resp.nonce
        assert resp.names == ["a", "b"]
        await wait_until(lambda: env.server.connections()[0].watched[CDS].acked_version == "v1")
        # an equal snapshot under a new version sends nothing (nothing changed)
        env.push("v2", cds={"a": "1", "b": "1"})
        await c.expect_nothing(0.15)
        # one change: the full set again (CDS is state of the world)
        env.push("v3", cds={"a": "2", "b": "1"})
        resp = await c.recv()
        assert resp.names == ["a", "b"] and contents(c, CDS) == {"a": "2", "b": "1"}
        # removal by omission
        env.push("v4", cds={"b": "1"})
        resp = await c.recv()
        assert resp.names == ["b"] and c.names(CDS) == ["b"]
    assert env.metric("pilot_xds_pushes", type="cds") == 3


async def test_eds_sends_only_changed_and_newly_requested(env: Env) -> None:
    env.push("v1", eds={"a": "1", "b": "1", "c": "1"})
    async with XdsClient(env.target, NODE) as c:
        await c.subscribe(EDS, ["a", "b"])
        assert (await c.recv()).names == ["a", "b"]
        env.push("v2", eds={"a": "1", "b": "2", "c": "2"})
        assert (await c.recv()).names == ["b"]  # c is not subscribed, a unchanged
        await c.subscribe(EDS, ["c"])
        assert (await c.recv()).names == ["c"]
        assert contents(c, EDS) == {"a": "1", "b": "2", "c": "2"}
        # SotW EDS removal: nothing is sent (the parent cluster goes away instead)
        env.push("v3", eds={"a": "1", "b": "2"})
        await c.expect_nothing(0.15)
        # ...and when it comes back it is sent again
        env.push("v4", eds={"a": "1", "b": "2", "c": "2"})
        assert (await c.recv()).names == ["c"]


async def test_nack_is_counted_last_good_kept_and_not_resent(env: Env) -> None:
    env.push("v1", cds={"a": "good"})
    async with XdsClient(env.target, NODE, auto_ack=False) as c:
        await c.subscribe(CDS)
        await c.ack(await c.recv())
        await wait_until(lambda: env.server.connections()[0].watched[CDS].acked_version == "v1")
        env.push("v2", cds={"a": "bad"})
        bad = await c.recv()
        await c.nack(bad, "cluster a: invalid")
        await c.expect_nothing(0.15)  # no resend loop
        conn = env.server.connections()[0]
        await wait_until(lambda: conn.watched[CDS].last_nack == "cluster a: invalid")
        assert env.metric("pilot_total_xds_rejects", type="cds") == 1
        assert conn.watched[CDS].acked_version == "v1"
        assert contents(c, CDS) == {"a": "good"} and c.version(CDS) == "v1"
        # the same rejected content under a new push version is not sent again
        env.push("v3", cds={"a": "bad"})
        await c.expect_nothing(0.15)
        # a fix is
        env.push("v4", cds={"a": "fixed"})
        fixed = await c.recv()
        await c.ack(fixed)
        assert contents(c, CDS) == {"a": "fixed"}
        assert conn.syncz()["types"]["cds"]["last_nack"] == "cluster a: invalid"
        await wait_until(lambda: conn.watched[CDS].acked_version == "v4")


async def test_stale_nonce_is_ignored(env: Env) -> None:
    env.push("v1", eds={"a": "1", "b": "1"})
    async with XdsClient(env.target, NODE, auto_ack=False) as c:
        await c.subscribe(EDS, ["a"])
        first = await c.recv()
        await c.ack(first)
        env.push("v2", eds={"a": "2", "b": "1"})
        second = await c.recv()
        # a request still answering the first response (stale nonce) asks for b: ignored
        await c.subscribe(EDS, ["b"], nonce=first.nonce, version_info="v1")
        await c.expect_nothing(0.15)
        # a NACK with a stale nonce is not counted either
        await c.nack(first, "late")
        await c.expect_nothing(0.1)
        assert env.metric("pilot_total_xds_rejects", type="eds") == 0
        # ACKing the latest response with the new names gets b
        await c.ack(second)
        third = await c.recv()
        assert third.names == ["b"]


async def test_resource_requested_before_it_exists_is_sent_when_it_appears(env: Env) -> None:
    env.push("v1", rds={})
    async with XdsClient(env.target, NODE) as c:
        await c.subscribe(RDS, ["9080"])
        await wait_until(
            lambda: bool(env.server.connections()) and RDS in env.server.connections()[0].watched
        )
        await c.expect_nothing(0.1)
        env.push("v2", rds={"9080": "r1", "other": "x"})
        resp = await c.recv()
        assert resp.names == ["9080"]


async def test_subscription_before_any_push_context(env: Env) -> None:
    async with XdsClient(env.target, NODE) as c:
        await c.subscribe(CDS)
        await wait_until(lambda: bool(env.server.connections()))
        await c.expect_nothing(0.1)
        env.push("v1", cds={"a": "1"})
        assert (await c.recv()).names == ["a"]


async def test_unsubscribe_stops_updates(env: Env) -> None:
    env.push("v1", eds={"a": "1", "b": "1"})
    async with XdsClient(env.target, NODE) as c:
        await c.subscribe(EDS, ["a", "b"])
        await c.recv()
        await c.unsubscribe(EDS, ["b"])
        await c.expect_nothing(0.1)
        env.push("v2", eds={"a": "2", "b": "2"})
        assert (await c.recv()).names == ["a"]
        await c.unsubscribe(EDS, ["a"])
        await c.expect_nothing(0.1)
        env.push("v3", eds={"a": "3", "b": "3"})
        await c.expect_nothing(0.1)
        # re-subscribing sends the current state again
        await c.subscribe(EDS, ["b"])
        resp = await c.recv()
        assert resp.names == ["b"] and contents(c, EDS)["b"] == "3"


async def test_reconnect_with_versions_gets_current_state(env: Env) -> None:
    env.push("v1", cds={"a": "1"}, eds={"a": "1"})
    async with XdsClient(env.target, NODE) as c:
        await c.subscribe(CDS)
        await c.recv()
        await c.subscribe(EDS, ["a"])
        await c.recv()
        old_cds, old_eds = c.version(CDS), c.version(EDS)
    env.push("v2", cds={"a": "1", "b": "1"}, eds={"a": "1"})
    async with XdsClient(env.target, NODE) as c2:
        # like Envoy after a reconnect: last version, the names, no nonce
        await c2.subscribe(CDS, version_info=old_cds, nonce="")
        assert (await c2.recv()).names == ["a", "b"]
        await c2.subscribe(EDS, ["a"], version_info=old_eds, nonce="")
        resp = await c2.recv()
        assert resp.names == ["a"] and resp.version == "v2"


async def test_full_push_order_is_cds_eds_lds_rds(env: Env) -> None:
    env.push("v1", cds={"c": "1"}, eds={"c": "1"}, lds={"l": "1"}, rds={"r": "1"})
    async with XdsClient(env.target, NODE) as c:
        # subscribe in the "wrong" order on purpose
        await c.subscribe(RDS, ["r"])
        await c.recv()
        await c.subscribe(LDS)
        await c.recv()
        await c.subscribe(EDS, ["c"])
        await c.recv()
        await c.subscribe(CDS)
        await c.recv()
        env.push("v2", cds={"c": "2"}, eds={"c": "2"}, lds={"l": "2"}, rds={"r": "2"})
        got = [(await c.recv()).type_url for _ in range(4)]
        assert got == [CDS, EDS, LDS, RDS]


async def test_endpoint_only_push_sends_only_eds(env: Env) -> None:
    env.push("v1", cds={"c": "1"}, eds={"c": "1"})
    async with XdsClient(env.target, NODE) as c:
        await c.subscribe(CDS)
        await c.recv()
        await c.subscribe(EDS, ["c"])
        await c.recv()
        env.push("v2", full=False, cds={"c": "2"}, eds={"c": "2"})
        resp = await c.recv()
        assert resp.type_url == EDS
        await c.expect_nothing(0.1)


@pytest.mark.parametrize("full", [True, False], ids=["full-push", "config-only-push"])
async def test_changed_cluster_gets_its_endpoints_again(env: Env, full: bool) -> None:
    """Envoy re-warms a cluster whose definition changed and waits for its endpoints: they
    are resent right after CDS even though they did not change (else the cluster stays
    warming until Envoy's initial fetch timeout); an unchanged cluster's are not."""
    env.push("v1", cds={"a": "1", "b": "1"}, eds={"a": "1", "b": "1"})
    async with XdsClient(env.target, NODE) as c:
        await c.subscribe(CDS)
        await c.recv()
        await c.subscribe(EDS, ["a", "b"])
        await c.recv()
        await wait_until(lambda: env.server.connections()[0].watched[EDS].acked_version == "v1")
        env.push("v2", full=full, cds={"a": "2", "b": "1"}, eds={"a": "1", "b": "1"})
        if full:
            assert (await c.recv()).type_url == CDS
            resp = await c.recv()
            assert (resp.type_url, resp.names) == (EDS, ["a"])
        await c.expect_nothing(0.15)


async def test_no_duplicate_names_in_a_response(env: Env) -> None:
    env.generators[CDS].duplicate = "a"
    env.push("v1", cds={"a": "1", "b": "1"})
    async with XdsClient(env.target, NODE) as c:
        await c.subscribe(CDS)
        assert (await c.recv()).names == ["a", "b"]


async def test_two_streams_for_one_node_are_independent(env: Env) -> None:
    env.push("v1", cds={"a": "1"})
    async with XdsClient(env.target, NODE, auto_ack=False) as c1, XdsClient(env.target, NODE) as c2:
        await c1.subscribe(CDS)
        await c2.subscribe(CDS)
        r1 = await c1.recv()
        await c2.recv()
        await c1.nack(r1, "no")
        await wait_until(lambda: env.metric("pilot_total_xds_rejects", type="cds") == 1)
        ids = {x.id for x in env.server.connections()}
        assert len(ids) == 2
        env.push("v2", cds={"a": "2"})
        assert (await c2.recv()).version == "v2"
        # c1 rejected v1 but still gets the change
        assert (await c1.recv()).version == "v2"
        nacks = sorted(x.watched[CDS].nacks for x in env.server.connections())
        assert nacks == [0, 1]
    await wait_until(lambda: not env.server.connections())
    assert env.metric("pilot_xds", version="unknown") == 0


@pytest.mark.parametrize(
    "node_id",
    [
        "",
        "garbage",
        "sidecar~1.2.3.4",
        "robot~1.2.3.4~a.b~b.svc.cluster.local",
        "sidecar~1.2.3.4~~d",
    ],
    ids=["empty", "no-tilde", "short", "bad-type", "empty-id"],
)
@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
async def test_malformed_node_id_is_invalid_argument(env: Env, node_id: str, delta: bool) -> None:
    async with XdsClient(env.target, node_id, delta=delta) as c:
        await c.subscribe(CDS)
        with pytest.raises(XdsStreamError) as exc:
            await c.recv()
        assert exc.value.code == grpc.StatusCode.INVALID_ARGUMENT
    env.push("v1", cds={"a": "1"})
    async with XdsClient(env.target, NODE, delta=delta) as ok:
        await ok.subscribe(CDS)
        assert (await ok.recv()).names == ["a"]


@pytest.mark.parametrize(
    "type_url",
    ["", "type.googleapis.com/garbage.Nothing", "not a url at all \x00"],
    ids=["empty", "unknown", "junk"],
)
async def test_garbage_type_url_is_ignored(env: Env, type_url: str) -> None:
    env.push("v1", cds={"a": "1"})
    async with XdsClient(env.target, NODE) as c:
        await c.send_raw(
            discovery_pb2.DiscoveryRequest(
                type_url=type_url, resource_names=["x"], response_nonce="zz"
            )
        )
        await c.expect_nothing(0.1)
        await c.subscribe(CDS)
        assert (await c.recv()).names == ["a"]


async def test_convergence_time_is_observed(env: Env) -> None:
    env.push("v1", cds={"a": "1"})
    async with XdsClient(env.target, NODE) as c:
        await c.subscribe(CDS)
        await c.recv()
        env.push("v2", start=env.clock.now() - 2.0, cds={"a": "2"})
        await c.recv()
    assert env.metric("pilot_proxy_convergence_time_count") == 1
    assert env.metric("pilot_proxy_convergence_time_bucket", le="3.0") == 1
    assert env.metric("pilot_proxy_convergence_time_bucket", le="1.0") == 0


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
async def test_first_push_with_empty_set_still_answers_wildcard(env: Env, delta: bool) -> None:
    async with XdsClient(env.target, NODE, delta=delta) as c:
        await c.subscribe(LDS)
        await wait_until(lambda: bool(env.server.connections()))
        env.push("v1", lds={})
        resp = await c.recv()
        assert resp.type_url == LDS and resp.names == [] and resp.version == "v1"
        env.push("v2", lds={})
        await c.expect_nothing(0.1)
