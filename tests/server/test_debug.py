"""The monitoring/debug HTTP app: /metrics, /debug/syncz, /debug/config_dump, /debug/connections."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer
from xds_server_fakes import NODE, Env, wait_until

from lateen.server import CDS, EDS, make_debug_app
from lateen.testing.xds_client import XdsClient


async def test_debug_endpoints(env: Env) -> None:
    env.push("v1", cds={"a": "1"}, eds={"a": "1"})
    app = make_debug_app(env.server, env.registry)
    async with TestClient(TestServer(app)) as http, XdsClient(env.target, NODE) as c:
        await c.subscribe(CDS)
        await c.recv()
        await c.subscribe(EDS, ["a"])
        await c.recv()
        conn = env.server.connections()[0]
        await wait_until(lambda: conn.watched[EDS].acked_nonce == conn.watched[EDS].sent_nonce)

        resp = await http.get("/metrics")
        text = await resp.text()
        assert resp.status == 200
        assert 'pilot_xds_pushes{type="cds"} 1.0' in text
        assert 'pilot_xds{version="unknown"} 1.0' in text
        assert "pilot_proxy_convergence_time_bucket" in text

        syncz = await (await http.get("/debug/syncz")).json()
        assert len(syncz) == 1
        s = syncz[0]
        assert s["proxy"] == "a.default" and s["node_id"] == NODE and s["connection_id"] == conn.id
        assert (
            s["types"]["cds"]["sent_version"] == "v1" and s["types"]["cds"]["acked_version"] == "v1"
        )
        assert s["cluster_sent"] == s["cluster_acked"] == conn.watched[CDS].sent_nonce
        assert s["types"]["eds"]["subscribed"] == ["a"]

        dump = await (await http.get("/debug/config_dump", params={"proxyID": "a.default"})).json()
        cds = next(x for x in dump["configs"] if x["type"] == "cds")
        assert cds["resources"][0]["name"] == "a"
        assert cds["resources"][0]["resource"]["@type"] == CDS
        assert cds["resources"][0]["resource"]["altStatName"] == "1"

        assert (await http.get("/debug/config_dump", params={"proxyID": "nope"})).status == 404
        assert (await http.get("/debug/config_dump")).status == 400

        conns = await (await http.get("/debug/connections")).json()
        assert conns[0]["connection_id"] == conn.id and conns[0]["protocol"] == "sotw"
