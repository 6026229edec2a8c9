#!/usr/bin/env python3
"""Bookinfo ratings: star ratings per product (Istio's Bookinfo sample, in-memory v1).

Run as ``python3 src/ratings.py [port]`` from ``samples/bookinfo``.

Environment: LISTEN_ADDRESS (0.0.0.0), PORT (9080; a positional argument wins),
SERVICE_VERSION:
  v1 (default)  ratings held in memory (``POST /ratings/<id>`` replaces them)
  v-faulty      half of the requests answer 503 ``{"error": "Service unavailable"}``
  v-delayed     half of the requests are answered after 7 s
(Istio's v2, backed by MongoDB/MySQL, is not provided; any other value behaves as v1.)
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import sys
from typing import Any

from aiohttp import web

LOG = logging.getLogger("ratings")

DEFAULT_RATINGS = {"Reviewer1": 5, "Reviewer2": 4}

VERSION: web.AppKey[str] = web.AppKey("version", str)
ADDED: web.AppKey[dict[int, dict[str, Any]]] = web.AppKey("added", dict)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data), status=status, content_type="application/json")


def _product_id(request: web.Request) -> int | None:
    try:
        return int(request.match_info.get("id", ""))
    except ValueError:
        return None


def local_ratings(app: web.Application, product_id: int) -> dict[str, Any]:
    return app[ADDED].get(product_id) or {"id": product_id, "ratings": dict(DEFAULT_RATINGS)}


async def health(request: web.Request) -> web.Response:
    return _json({"status": "Ratings is healthy"})


async def get_ratings(request: web.Request) -> web.Response:
    product_id = _product_id(request)
    if product_id is None:
        return _json({"error": "please provide numeric product ID"}, 400)
    version = request.app[VERSION]
    if version == "v-faulty" and random.random() <= 0.5:
        return _json({"error": "Service unavailable"}, 503)
    if version == "v-delayed" and random.random() <= 0.5:
        await asyncio.sleep(7)
    return _json(local_ratings(request.app, product_id))


async def post_ratings(request: web.Request) -> web.Response:
    product_id = _product_id(request)
    if product_id is None:
        return _json({"error": "please provide numeric product ID"}, 400)
    try:
        ratings = json.loads(await request.read())
    except ValueError:
        return _json({"error": "please provide valid ratings JSON"}, 400)
    request.app[ADDED][product_id] = {"id": product_id, "ratings": ratings}
    return _json(local_ratings(request.app, product_id))


def make_app(version: str) -> web.Application:
    app = web.Application()
    app[VERSION] = version
    app[ADDED] = {}
    app.router.add_get("/health", health)
    app.router.add_get("/ratings/{id}", get_ratings)
    app.router.add_get("/ratings/", get_ratings)
    app.router.add_post("/ratings/{id}", post_ratings)
    return app


ACCESS_LOG_FORMAT = '%a "%r" %s %b %Tfs end-user=%{end-user}i x-request-id=%{x-request-id}i'


def main(argv: list[str]) -> int:
    logging.basicConfig(
        stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(name)s %(message)s"
    )
    port = int(argv[0]) if argv else int(os.environ.get("PORT", "9080"))
    host = os.environ.get("LISTEN_ADDRESS", "0.0.0.0")
    version = os.environ.get("SERVICE_VERSION", "v1")
    LOG.info("ratings %s listening on %s:%d", version, host, port)
    web.run_app(
        make_app(version),
        host=host,
        port=port,
        print=None,
        access_log=logging.getLogger("ratings.access"),
        access_log_format=ACCESS_LOG_FORMAT,
        shutdown_timeout=1.0,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
