#!/usr/bin/env python3
"""Bookinfo reviews: two book reviews, with ratings from the ratings service in v2/v3
(Istio's Bookinfo sample).

Run as ``python3 src/reviews.py [port]`` from ``samples/bookinfo``.

Environment:
  LISTEN_ADDRESS (0.0.0.0), PORT (9080; a positional argument wins)
  SERVICE_VERSION  v1 | v2 | v3 (v1): picks the defaults of the two below, as Istio's images do
  ENABLE_RATINGS   true | false (false for v1, true for v2/v3): call ratings and add a rating
  STAR_COLOR       black | red | ... (black, red for v3); the ratings call times out after
                   10 s when the color is black and 2.5 s otherwise (Istio's v2 / v3)
  RATINGS_HOSTNAME (ratings), RATINGS_SERVICE_PORT (9080), SERVICES_DOMAIN
  POD_NAME / HOSTNAME  reported as ``podname`` (productpage shows "Reviews served by: ...")
  CLUSTER_NAME     reported as ``clustername`` ("null" when unset, as the original)
Outgoing calls honour HTTP_PROXY / http_proxy / NO_PROXY (explicit mesh mode).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

LOG = logging.getLogger("reviews")

RATINGS_UNAVAILABLE = "Ratings service is currently unavailable"

REVIEWS = (
    (
        "Reviewer1",
        "An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!",
    ),
    (
        "Reviewer2",
        "Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare.",
    ),
)

# Headers propagated to ratings (Istio's reviews list: tracing, request id, user context).
FORWARD_HEADERS = (
    "x-request-id",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "b3",
    "x-ot-span-context",
    "x-datadog-trace-id",
    "x-datadog-parent-id",
    "x-datadog-sampling-priority",
    "traceparent",
    "tracestate",
    "x-cloud-trace-context",
    "grpc-trace-bin",
    "sw8",
    "end-user",
    "user-agent",
    "cookie",
    "authorization",
    "jwt",
)


@dataclass(frozen=True, slots=True)
class Settings:
    version: str
    ratings_enabled: bool
    star_color: str
    ratings_url: str
    podname: str
    clustername: str

    @property
    def ratings_timeout(self) -> float:
        return 10.0 if self.star_color == "black" else 2.5


def settings_from_env(env: Mapping[str, str]) -> Settings:
    version = env.get("SERVICE_VERSION", "v1")
    enabled_default = "false" if version == "v1" else "true"
    color_default = "red" if version == "v3" else "black"
    host = env.get("RATINGS_HOSTNAME") or "ratings"
    port = env.get("RATINGS_SERVICE_PORT") or "9080"
    domain = env.get("SERVICES_DOMAIN")
    suffix = f".{domain}" if domain else ""
    return Settings(
        version=version,
        ratings_enabled=env.get("ENABLE_RATINGS", enabled_default).strip().lower() == "true",
        star_color=env.get("STAR_COLOR") or color_default,
        ratings_url=f"http://{host}{suffix}:{port}/ratings",
        podname=env.get("POD_NAME") or env.get("HOSTNAME") or socket.gethostname(),
        clustername=env.get("CLUSTER_NAME") or "null",
    )


SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
CLIENT: web.AppKey[aiohttp.ClientSession] = web.AppKey("client", aiohttp.ClientSession)


def reviews_body(
    settings: Settings, product_id: str, stars: Mapping[str, int] | None
) -> dict[str, Any]:
    reviews: list[dict[str, Any]] = []
    for reviewer, text in REVIEWS:
        review: dict[str, Any] = {"reviewer": reviewer, "text": text}
        if settings.ratings_enabled:
            if stars is not None and reviewer in stars:
                review["rating"] = {"stars": stars[reviewer], "color": settings.star_color}
            else:
                review["rating"] = {"error": RATINGS_UNAVAILABLE}
        reviews.append(review)
    return {
        "id": product_id,
        "podname": settings.podname,
        "clustername": settings.clustername,
        "reviews": reviews,
    }


async def fetch_ratings(
    app: web.Application, product_id: str, headers: Mapping[str, str]
) -> dict[str, int] | None:
    settings = app[SETTINGS]
    url = f"{settings.ratings_url}/{product_id}"
    timeout = aiohttp.ClientTimeout(total=settings.ratings_timeout)
    try:
        async with app[CLIENT].get(url, headers=dict(headers), timeout=timeout) as resp:
            body = await resp.read()
            if resp.status != 200:
                LOG.info("Error: unable to contact %s got status of %d", url, resp.status)
                return None
            ratings = json.loads(body).get("ratings", {})
            return {k: int(v) for k, v in ratings.items()}
    except (aiohttp.ClientError, TimeoutError, ValueError, AttributeError, TypeError) as e:
        LOG.info("Error: unable to contact %s: %r", url, e)
        return None


async def health(request: web.Request) -> web.Response:
    return web.Response(
        text=json.dumps({"status": "Reviews is healthy"}), content_type="application/json"
    )


async def reviews(request: web.Request) -> web.Response:
    raw = request.match_info["id"]
    try:
        product_id = str(int(raw))
    except ValueError:
        raise web.HTTPNotFound() from None
    settings = request.app[SETTINGS]
    stars: dict[str, int] | None = None
    if settings.ratings_enabled:
        headers = {h: v for h in FORWARD_HEADERS if (v := request.headers.get(h)) is not None}
        stars = await fetch_ratings(request.app, product_id, headers)
    body = reviews_body(settings, product_id, stars)
    return web.Response(text=json.dumps(body), content_type="application/json")


async def _client_ctx(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession(trust_env=True) as client:
        app[CLIENT] = client
        yield


def make_app(settings: Settings) -> web.Application:
    app = web.Application()
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_client_ctx)
    app.router.add_get("/health", health)
    app.router.add_get("/reviews/{id}", reviews)
    return app


ACCESS_LOG_FORMAT = '%a "%r" %s %b %Tfs end-user=%{end-user}i x-request-id=%{x-request-id}i'


def main(argv: list[str]) -> int:
    logging.basicConfig(
        stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(name)s %(message)s"
    )
    port = int(argv[0]) if argv else int(os.environ.get("PORT", "9080"))
    host = os.environ.get("LISTEN_ADDRESS", "0.0.0.0")
    settings = settings_from_env(os.environ)
    LOG.info("reviews %s listening on %s:%d (%s)", settings.version, host, port, settings)
    web.run_app(
        make_app(settings),
        host=host,
        port=port,
        print=None,
        access_log=logging.getLogger("reviews.access"),
        access_log_format=ACCESS_LOG_FORMAT,
        shutdown_timeout=1.0,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
