#!/usr/bin/env python3
"""Bookinfo details: book information as JSON (Istio's Bookinfo sample, v1).

Run as ``python3 src/details.py [port]`` from ``samples/bookinfo``.

Environment: LISTEN_ADDRESS (0.0.0.0), PORT (9080; a positional argument wins),
SERVICE_VERSION (v1; only reported in the log).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

from aiohttp import web

LOG = logging.getLogger("details")


def book_details(product_id: int) -> dict[str, Any]:
    return {
        "id": product_id,
        "author": "William Shakespeare",
        "year": 1595,
        "type": "paperback",
        "pages": 200,
        "publisher": "PublisherA",
        "language": "English",
        "ISBN-10": "1234567890",
        "ISBN-13": "123-1234567890",
    }


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data), status=status, content_type="application/json")


async def health(request: web.Request) -> web.Response:
    return _json({"status": "Details is healthy"})


async def details(request: web.Request) -> web.Response:
    raw = request.match_info.get("id", "")
    try:
        product_id = int(raw)
    except ValueError:
        return _json({"error": "please provide numeric product id"}, 400)
    return _json(book_details(product_id))


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/details/{id}", details)
    app.router.add_get("/details", details)
    app.router.add_get("/details/", details)
    return app


ACCESS_LOG_FORMAT = '%a "%r" %s %b %Tfs end-user=%{end-user}i x-request-id=%{x-request-id}i'


def main(argv: list[str]) -> int:
    logging.basicConfig(
        stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(name)s %(message)s"
    )
    port = int(argv[0]) if argv else int(os.environ.get("PORT", "9080"))
    host = os.environ.get("LISTEN_ADDRESS", "0.0.0.0")
    LOG.info("details %s listening on %s:%d", os.environ.get("SERVICE_VERSION", "v1"), host, port)
    web.run_app(
        make_app(),
        host=host,
        port=port,
        print=None,
        access_log=logging.getLogger("details.access"),
        access_log_format=ACCESS_LOG_FORMAT,
        shutdown_timeout=1.0,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
