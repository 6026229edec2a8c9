#!/usr/bin/env python3
"""Bookinfo productpage: the page that calls details and reviews (Istio's Bookinfo sample).

Run as ``python3 src/productpage.py [port]`` from ``samples/bookinfo``.

Environment (as Istio's productpage):
  LISTEN_ADDRESS (0.0.0.0), PORT (9080; a positional argument wins),
  DETAILS_HOSTNAME / REVIEWS_HOSTNAME / RATINGS_HOSTNAME (details / reviews / ratings),
  DETAILS_SERVICE_PORT / REVIEWS_SERVICE_PORT / RATINGS_SERVICE_PORT (9080),
  SERVICES_DOMAIN (appended to each hostname as ``.<domain>`` when set).
Outgoing calls honour HTTP_PROXY / http_proxy / NO_PROXY (explicit mesh mode).
"""

from __future__ import annotations

import html
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

LOG = logging.getLogger("productpage")

DETAILS_TIMEOUT = 3.0  # seconds, as Istio's productpage
REVIEWS_TIMEOUT = 3.0  # seconds per attempt; two attempts (the "1 retry" of Istio's productpage)
REVIEWS_ATTEMPTS = 2
RATINGS_TIMEOUT = 3.0

DETAILS_UNAVAILABLE = "Sorry, product details are currently unavailable for this book."
REVIEWS_UNAVAILABLE = "Sorry, product reviews are currently unavailable for this book."
RATINGS_UNAVAILABLE = "Sorry, product ratings are currently unavailable for this book."

SESSION_COOKIE = "session"

# Headers copied from the incoming request onto the calls to details/reviews/ratings
# (Istio's list: tracing context, request id, and the user's context). ``end-user`` is
# added from the session, never copied.
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
    "user-agent",
    "cookie",
    "authorization",
    "jwt",
)

PRODUCTS: list[dict[str, Any]] = [
    {
        "id": 0,
        "title": "The Comedy of Errors",
        "descriptionHtml": (
            '<a href="https://en.wikipedia.org/wiki/The_Comedy_of_Errors">Wikipedia Summary</a>: '
            "The Comedy of Errors is one of <b>William Shakespeare's</b> early plays. It is his "
            "shortest and one of his most farcical comedies, with a major part of the humour coming "
            "from slapstick and mistaken identity, in addition to puns and word play."
        ),
    }
]

STATIC_DIR = Path(__file__).resolve().parent / "static"

UPSTREAMS: web.AppKey[dict[str, str]] = web.AppKey("upstreams", dict)
CLIENT: web.AppKey[aiohttp.ClientSession] = web.AppKey("client", aiohttp.ClientSession)


def service_url(name: str, env: Mapping[str, str]) -> str:
    """``http://<NAME_HOSTNAME>[.<SERVICES_DOMAIN>]:<NAME_SERVICE_PORT>``, as Istio's productpage."""
    host = env.get(f"{name.upper()}_HOSTNAME") or name
    port = env.get(f"{name.upper()}_SERVICE_PORT") or "9080"
    domain = env.get("SERVICES_DOMAIN")
    suffix = f".{domain}" if domain else ""
    return f"http://{host}{suffix}:{port}"


def session_user(request: web.Request) -> str:
    return request.cookies.get(SESSION_COOKIE, "")


def forward_headers(request: web.Request) -> dict[str, str]:
    headers: dict[str, str] = {}
    user = session_user(request)
    if user:
        headers["end-user"] = user
    for name in FORWARD_HEADERS:
        value = request.headers.get(name)
        if value is not None:
            headers[name] = value
    return headers


async def fetch(
    client: aiohttp.ClientSession, url: str, headers: Mapping[str, str], timeout: float
) -> tuple[int | None, Any]:
    """GET ``url``; returns (status, parsed JSON body or None); status None when the call failed."""
    try:
        async with client.get(
            url, headers=dict(headers), timeout=aiohttp.ClientTimeout(total=timeout)
        ) as resp:
            body = await resp.read()
            if resp.status != 200:
                return resp.status, None
            return 200, json.loads(body)
    except (aiohttp.ClientError, TimeoutError, ValueError) as e:
        LOG.info("GET %s failed: %r", url, e)
        return None, None


async def get_details(
    app: web.Application, product_id: str, headers: Mapping[str, str]
) -> tuple[int, Any]:
    url = f"{app[UPSTREAMS]['details']}/details/{product_id}"
    status, body = await fetch(app[CLIENT], url, headers, DETAILS_TIMEOUT)
    if status == 200:
        return 200, body
    return status or 500, {"error": DETAILS_UNAVAILABLE}


async def get_reviews(
    app: web.Application, product_id: str, headers: Mapping[str, str]
) -> tuple[int, Any]:
    url = f"{app[UPSTREAMS]['reviews']}/reviews/{product_id}"
    status: int | None = None
    for _ in range(REVIEWS_ATTEMPTS):
        status, body = await fetch(app[CLIENT], url, headers, REVIEWS_TIMEOUT)
        if status == 200:
            return 200, body
    return status or 500, {"error": REVIEWS_UNAVAILABLE}


async def get_ratings(
    app: web.Application, product_id: str, headers: Mapping[str, str]
) -> tuple[int, Any]:
    url = f"{app[UPSTREAMS]['ratings']}/ratings/{product_id}"
    status, body = await fetch(app[CLIENT], url, headers, RATINGS_TIMEOUT)
    if status == 200:
        return 200, body
    return status or 500, {"error": RATINGS_UNAVAILABLE}


# ---------------------------------------------------------------- rendering


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1.0">\n'
        f"<title>{_e(title)}</title>\n"
        '<link rel="stylesheet" href="static/css/bookinfo.css">\n'
        "</head>\n<body>\n"
        f"{body}"
        "</body>\n</html>\n"
    )


def _navbar(user: str) -> str:
    if user:
        right = (
            '<p class="navbar-text navbar-right">\n'
            '<i class="glyphicon glyphicon-user" aria-hidden="true"></i>\n'
            f'<span style="padding-left: 5px;">{_e(user)} ( <a href="logout">sign out</a> )</span>\n'
            "</p>\n"
        )
    else:
        right = (
            '<form class="navbar-right login-form" method="post" action="login" name="login_form">\n'
            '<input type="text" name="username" id="username" placeholder="User Name">\n'
            '<input type="password" name="passwd" placeholder="Password">\n'
            '<button type="submit" class="btn btn-default navbar-btn">Sign in</button>\n'
            "</form>\n"
        )
    return (
        '<nav class="navbar navbar-inverse navbar-static-top">\n<div class="container">\n'
        '<div class="navbar-header"><a class="navbar-brand" href="#">BookInfo Sample</a></div>\n'
        f"{right}</div>\n</nav>\n"
    )


def render_stars(rating: Mapping[str, Any]) -> str:
    stars = int(rating["stars"])
    color = rating.get("color", "black")
    full = "".join('<span class="glyphicon glyphicon-star"></span>\n' for _ in range(stars))
    empty = "".join(
        '<span class="glyphicon glyphicon-star-empty"></span>\n' for _ in range(5 - stars)
    )
    return (
        f'<font color="{_e(color)}">\n'
        "<!-- full stars: -->\n"
        f"{full}"
        "<!-- empty stars: -->\n"
        f"{empty}"
        "</font>\n"
    )


def render_details(status: int, details: Mapping[str, Any]) -> str:
    if status != 200:
        out = '<h4 class="text-center text-primary">Error fetching product details!</h4>\n'
        if details.get("error"):
            out += f"<p>{_e(details['error'])}</p>\n"
        return out
    rows = [
        ("Type", details.get("type")),
        ("Pages", details.get("pages")),
        ("Publisher", details.get("publisher")),
        ("Language", details.get("language")),
        ("ISBN-10", details.get("ISBN-10")),
        ("ISBN-13", details.get("ISBN-13")),
    ]
    items = "".join(f"<dt>{name}:</dt>{_e(value)}\n" for name, value in rows)
    return f'<h4 class="text-center text-primary">Book Details</h4>\n<dl>\n{items}</dl>\n'


def render_reviews(status: int, reviews: Mapping[str, Any]) -> str:
    if status != 200:
        out = '<h4 class="text-center text-primary">Error fetching product reviews!</h4>\n'
        if reviews.get("error"):
            out += f"<p>{_e(reviews['error'])}</p>\n"
        return out
    out = '<h4 class="text-center text-primary">Book Reviews</h4>\n'
    for review in reviews.get("reviews", []):
        out += f"<blockquote>\n<p>{_e(review.get('text', ''))}</p>\n<small>{_e(review.get('reviewer', ''))}</small>\n"
        rating = review.get("rating")
        if rating:
            if rating.get("stars"):
                out += render_stars(rating)
            elif rating.get("error"):
                out += f"<p><i>{_e(rating['error'])}</i></p>\n"
        out += "</blockquote>\n"
    out += f"<dl>\n<dt>Reviews served by:</dt>\n<u>{_e(reviews.get('podname'))}</u>\n"
    cluster = reviews.get("clustername")
    if cluster and cluster != "null":
        out += f"on cluster <u>{_e(cluster)}</u>\n"
    out += "</dl>\n"
    return out


def render_productpage(
    user: str, product: Mapping[str, Any], details: tuple[int, Any], reviews: tuple[int, Any]
) -> str:
    body = (
        _navbar(user)
        + '<div class="container-fluid">\n'
        + '<div class="row">\n<div class="col-md-12">\n'
        + f'<h3 class="text-center text-primary">{_e(product["title"])}</h3>\n'
        + f"<p>Summary: {product['descriptionHtml']}</p>\n"
        + "</div>\n</div>\n"
        + '<div class="row">\n'
        + f'<div class="col-md-6">\n{render_details(*details)}</div>\n'
        + f'<div class="col-md-6">\n{render_reviews(*reviews)}</div>\n'
        + "</div>\n</div>\n"
    )
    return _page("Simple Bookstore App", body)


def render_index(upstreams: dict[str, str]) -> str:
    def table(node: Mapping[str, Any]) -> str:
        children = "".join(f"<li>{table(c)}</li>" for c in node["children"])
        return (
            '<table class="table table-condensed table-bordered table-hover">'
            f"<tr><th>name</th><td>{_e(node['name'])}</td></tr>"
            f"<tr><th>endpoint</th><td>{_e(node['endpoint'])}</td></tr>"
            f"<tr><th>children</th><td><ul>{children}</ul></td></tr></table>"
        )

    ratings = {"name": upstreams["ratings"], "endpoint": "ratings", "children": []}
    tree = {
        "name": "productpage",
        "endpoint": "details",
        "children": [
            {"name": upstreams["details"], "endpoint": "details", "children": []},
            {"name": upstreams["reviews"], "endpoint": "reviews", "children": [ratings]},
        ],
    }
    body = (
        '<div class="container">\n'
        "<h3>Hello! This is a simple bookstore application consisting of three services as shown below</h3>\n"
        f"{table(tree)}\n"
        "<h4>Click on one of the links below to auto generate a request to the backend as a real user or a tester</h4>\n"
        '<p><a href="productpage?u=normal">Normal user</a></p>\n'
        '<p><a href="productpage?u=test">Test user</a></p>\n'
        "</div>\n"
    )
    return _page("Simple Bookstore App", body)


# ---------------------------------------------------------------- handlers


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data), status=status, content_type="application/json")


async def index(request: web.Request) -> web.Response:
    return web.Response(text=render_index(request.app[UPSTREAMS]), content_type="text/html")


async def health(request: web.Request) -> web.Response:
    return web.Response(text="Product page is healthy")


async def productpage(request: web.Request) -> web.Response:
    product_id = "0"
    headers = forward_headers(request)
    details = await get_details(request.app, product_id, headers)
    reviews = await get_reviews(request.app, product_id, headers)
    page = render_productpage(session_user(request), PRODUCTS[0], details, reviews)
    return web.Response(text=page, content_type="text/html")


def _back(request: web.Request) -> str:
    return request.headers.get("Referer") or "/productpage"


async def login(request: web.Request) -> web.Response:
    form = await request.post()
    user = str(form.get("username") or request.query.get("username") or "")
    resp = web.HTTPFound(_back(request))
    if user:
        resp.set_cookie(SESSION_COOKIE, user, path="/")
    else:
        resp.del_cookie(SESSION_COOKIE, path="/")
    return resp


async def logout(request: web.Request) -> web.Response:
    resp = web.HTTPFound(_back(request))
    resp.del_cookie(SESSION_COOKIE, path="/")
    return resp


async def api_products(request: web.Request) -> web.Response:
    return _json(PRODUCTS)


async def api_product(request: web.Request) -> web.Response:
    status, details = await get_details(
        request.app, request.match_info["id"], forward_headers(request)
    )
    return _json(details, status)


async def api_reviews(request: web.Request) -> web.Response:
    status, reviews = await get_reviews(
        request.app, request.match_info["id"], forward_headers(request)
    )
    return _json(reviews, status)


async def api_ratings(request: web.Request) -> web.Response:
    status, ratings = await get_ratings(
        request.app, request.match_info["id"], forward_headers(request)
    )
    return _json(ratings, status)


async def _client_ctx(app: web.Application) -> AsyncIterator[None]:
    # trust_env: HTTP_PROXY/http_proxy/NO_PROXY route calls through the sidecar in explicit mode.
    async with aiohttp.ClientSession(trust_env=True) as client:
        app[CLIENT] = client
        yield


def make_app(env: Mapping[str, str]) -> web.Application:
    app = web.Application()
    app[UPSTREAMS] = {name: service_url(name, env) for name in ("details", "reviews", "ratings")}
    app.cleanup_ctx.append(_client_ctx)
    app.router.add_get("/", index)
    app.router.add_get("/index.html", index)
    app.router.add_get("/health", health)
    app.router.add_get("/productpage", productpage)
    app.router.add_post("/login", login)
    app.router.add_get("/logout", logout)
    app.router.add_get("/api/v1/products", api_products)
    app.router.add_get("/api/v1/products/{id}", api_product)
    app.router.add_get("/api/v1/products/{id}/reviews", api_reviews)
    app.router.add_get("/api/v1/products/{id}/ratings", api_ratings)
    app.router.add_static("/static", STATIC_DIR)
    return app


ACCESS_LOG_FORMAT = '%a "%r" %s %b %Tfs end-user=%{end-user}i x-request-id=%{x-request-id}i'


def main(argv: list[str]) -> int:
    logging.basicConfig(
        stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(name)s %(message)s"
    )
    port = int(argv[0]) if argv else int(os.environ.get("PORT", "9080"))
    host = os.environ.get("LISTEN_ADDRESS", "0.0.0.0")
    app = make_app(os.environ)
    LOG.info("listening on %s:%d, upstreams %s", host, port, app[UPSTREAMS])
    web.run_app(
        app,
        host=host,
        port=port,
        print=None,
        access_log=logging.getLogger("productpage.access"),
        access_log_format=ACCESS_LOG_FORMAT,
        shutdown_timeout=1.0,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
