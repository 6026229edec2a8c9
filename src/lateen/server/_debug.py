"""Monitoring and debug HTTP endpoints (Istio's :15014): metrics, syncz, config_dump."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from lateen.server._server import XdsServer

__all__ = ["make_debug_app"]


def make_debug_app(server: XdsServer, registry: CollectorRegistry) -> web.Application:
    """``GET /metrics``, ``/debug/syncz``, ``/debug/config_dump?proxyID=ID``, ``/debug/connections``."""

    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(registry)
        resp = web.Response(body=body)
        resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return resp

    async def syncz(_: web.Request) -> web.Response:
        return web.json_response([c.syncz() for c in server.connections()])

    async def connections(_: web.Request) -> web.Response:
        now = server.clock.now()
        out: list[dict[str, Any]] = [
            {
                "connection_id": c.id,
                "node_id": c.node_id,
                "proxy": c.proxy.id,
                "protocol": c.protocol,
                "peer": c.peer,
                "connected_for": round(now - c.connected_at, 3),
                "pushes": c.pushes,
                "watched": {
                    t: {"wildcard": w.wildcard, "names": sorted(w.names)}
                    for t, w in c.watched.items()
                },
            }
            for c in server.connections()
        ]
        return web.json_response(out)

    async def config_dump(request: web.Request) -> web.Response:
        proxy_id = request.query.get("proxyID") or request.query.get("proxy")
        if not proxy_id:
            return web.json_response({"error": "missing query parameter proxyID"}, status=400)
        conns = server.find_connections(proxy_id)
        if not conns:
            return web.json_response({"error": f"proxy {proxy_id!r} is not connected"}, status=404)
        dump = server.config_dump(conns[0].proxy)
        dump["connection_id"] = conns[0].id
        return web.json_response(dump)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/stats/prometheus", metrics)
    app.router.add_get("/debug/syncz", syncz)
    app.router.add_get("/debug/connections", connections)
    app.router.add_get("/debug/config_dump", config_dump)
    return app
