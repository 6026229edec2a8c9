#!/usr/bin/env python3
"""httpbin: an HTTP request & response service, a compatible subset of httpbin.org.

Run as ``python3 src/httpbin.py [port]`` from ``samples/httpbin``.

Environment: LISTEN_ADDRESS (0.0.0.0), PORT (8000; a positional argument wins;
the manifest sets 8080, the Service maps 8000 -> 8080 like Istio's httpbin).

Endpoints: / /get /post /put /patch /delete /anything[/...] (any method) /headers /ip
/user-agent /uuid /status/<codes> (any method; ``200,503`` or ``200:0.9,503:0.1`` picks one)
/delay/<seconds> (at most 10) /response-headers?k=v /redirect/<n> /bytes/<n> /cookies.
Header names in the JSON are title-cased as httpbin.org does (``X-B3-Traceid``).

Failure mode for retry demos: with ``FAIL_FIRST_ATTEMPTS=N`` every request whose
``x-envoy-attempt-count`` (set by the calling sidecar; 1 when absent) is at most N answers 503,
so a request succeeds once the mesh has retried it N times.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import sys
import uuid
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

LOG = logging.getLogger("httpbin")

MAX_DELAY = 10.0

TEAPOT = """
    -=[ teapot ]=-

       _...._
     .'  _ _ `.
    | ."` ^ `". _,
    \\_;`"---"`|//
      |       ;/
      \\_     _/
        `\"\"\"`
"""

REDIRECT_CODES = {301, 302, 303, 305, 307, 308}


def title_case(name: str) -> str:
    """Header names as werkzeug presents them (``x-b3-traceid`` -> ``X-B3-Traceid``)."""
    return name.title()


def headers_dict(request: web.Request) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in request.headers.items():
        name = title_case(key)
        out[name] = f"{out[name]},{value}" if name in out else value
    return out


def args_dict(request: web.Request) -> dict[str, str | list[str]]:
    out: dict[str, str | list[str]] = {}
    for key in request.query:
        values = request.query.getall(key)
        out[key] = values[0] if len(values) == 1 else list(values)
    return out


def origin(request: web.Request) -> str:
    return request.headers.get("X-Forwarded-For") or request.remote or ""


def url(request: web.Request) -> str:
    return str(request.url)


async def body_parts(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    data = raw.decode("utf-8", errors="replace")
    form: dict[str, str] = {}
    parsed_json: Any = None
    ctype = request.content_type
    if ctype == "application/x-www-form-urlencoded":
        form = dict(parse_qsl(data, keep_blank_values=True))
        data = ""
    elif ctype == "application/json" or ctype.endswith("+json"):
        try:
            parsed_json = json.loads(raw) if raw else None
        except ValueError:
            parsed_json = None
    return {"data": data, "files": {}, "form": form, "json": parsed_json}


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        text=json.dumps(data, indent=2) + "\n",
        status=status,
        content_type="application/json",
        headers=headers,
    )


def get_dict(request: web.Request) -> dict[str, Any]:
    return {
        "args": args_dict(request),
        "headers": headers_dict(request),
        "origin": origin(request),
        "url": url(request),
    }


async def index(request: web.Request) -> web.Response:
    links = "".join(
        f'<li><a href="{p}">{p}</a></li>'
        for p in (
            "/get",
            "/headers",
            "/ip",
            "/user-agent",
            "/uuid",
            "/status/418",
            "/delay/1",
            "/anything",
        )
    )
    page = f"<!DOCTYPE html><html><head><title>httpbin</title></head><body><h1>httpbin</h1><ul>{links}</ul></body></html>\n"
    return web.Response(text=page, content_type="text/html")


async def get(request: web.Request) -> web.Response:
    return _json(get_dict(request))


async def with_body(request: web.Request) -> web.Response:
    return _json({**get_dict(request), **(await body_parts(request))})


async def anything(request: web.Request) -> web.Response:
    return _json({**get_dict(request), **(await body_parts(request)), "method": request.method})


async def headers(request: web.Request) -> web.Response:
    return _json({"headers": headers_dict(request)})


async def ip(request: web.Request) -> web.Response:
    return _json({"origin": origin(request)})


async def user_agent(request: web.Request) -> web.Response:
    return _json({"user-agent": request.headers.get("User-Agent")})


async def uuid4(request: web.Request) -> web.Response:
    return _json({"uuid": str(uuid.uuid4())})


def choose_status(spec: str) -> int | None:
    """``418`` | ``200,503`` (uniform) | ``200:0.9,503:0.1`` (weighted), as httpbin.org."""
    codes: list[int] = []
    weights: list[float] = []
    try:
        for part in spec.split(","):
            code, _, weight = part.strip().partition(":")
            codes.append(int(code))
            weights.append(float(weight) if weight else 1.0)
    except ValueError:
        return None
    if not codes or any(c < 100 or c > 599 for c in codes):
        return None
    return random.choices(codes, weights=weights)[0] if len(codes) > 1 else codes[0]


def status_response(code: int) -> web.Response:
    if code == 418:
        return web.Response(
            status=418, text=TEAPOT, headers={"x-more-info": "http://tools.ietf.org/html/rfc2324"}
        )
    if code in REDIRECT_CODES:
        return web.Response(status=code, headers={"Location": "/redirect/1"})
    if code == 401:
        return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="Fake Realm"'})
    if code == 407:
        return web.Response(status=407, headers={"Proxy-Authenticate": 'Basic realm="Fake Realm"'})
    if code == 406:
        return _json(
            {
                "message": "Client did not request a supported media type.",
                "accept": ["image/webp", "image/svg+xml", "image/jpeg", "image/png", "image/*"],
            },
            406,
        )
    return web.Response(status=code)


async def status(request: web.Request) -> web.Response:
    code = choose_status(request.match_info["codes"])
    if code is None:
        return web.Response(status=400, text="Invalid status code")
    return status_response(code)


async def delay(request: web.Request) -> web.Response:
    try:
        seconds = min(max(float(request.match_info["n"]), 0.0), MAX_DELAY)
    except ValueError:
        return web.Response(status=400, text="Invalid delay")
    await asyncio.sleep(seconds)
    return _json({**get_dict(request), **(await body_parts(request))})


async def response_headers(request: web.Request) -> web.Response:
    resp = _json(args_dict(request))
    for k, v in request.query.items():
        resp.headers.add(k, v)
    return resp


async def redirect(request: web.Request) -> web.Response:
    try:
        n = int(request.match_info["n"])
    except ValueError:
        return web.Response(status=400, text="Invalid redirect count")
    location = "/get" if n <= 1 else f"/relative-redirect/{n - 1}"
    return web.Response(status=302, headers={"Location": location})


async def bytes_(request: web.Request) -> web.Response:
    try:
        n = min(int(request.match_info["n"]), 100 * 1024)
    except ValueError:
        return web.Response(status=400, text="Invalid byte count")
    return web.Response(body=os.urandom(max(n, 0)), content_type="application/octet-stream")


async def cookies(request: web.Request) -> web.Response:
    return _json({"cookies": dict(request.cookies)})


FAIL_FIRST_ATTEMPTS = web.AppKey("fail_first_attempts", int)


@web.middleware
async def fail_first_attempts(request: web.Request, handler: Any) -> web.StreamResponse:
    limit = request.app[FAIL_FIRST_ATTEMPTS]
    if limit > 0:
        try:
            attempt = int(request.headers.get("x-envoy-attempt-count", "1"))
        except ValueError:
            attempt = 1
        if attempt <= limit:
            return web.Response(
                status=503, text=f"attempt {attempt} failed (FAIL_FIRST_ATTEMPTS={limit})\n"
            )
    response: web.StreamResponse = await handler(request)
    return response


def make_app(fail_first: int = 0) -> web.Application:
    app = web.Application(middlewares=[fail_first_attempts])
    app[FAIL_FIRST_ATTEMPTS] = fail_first
    r = app.router
    r.add_get("/", index)
    r.add_get("/get", get)
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        r.add_route(method, f"/{method.lower()}", with_body)
    r.add_route("*", "/anything", anything)
    r.add_route("*", "/anything/{tail:.*}", anything)
    r.add_get("/headers", headers)
    r.add_get("/ip", ip)
    r.add_get("/user-agent", user_agent)
    r.add_get("/uuid", uuid4)
    r.add_route("*", "/status/{codes}", status)
    r.add_route("*", "/delay/{n}", delay)
    r.add_route("*", "/response-headers", response_headers)
    r.add_get("/redirect/{n}", redirect)
    r.add_get("/relative-redirect/{n}", redirect)
    r.add_get("/bytes/{n}", bytes_)
    r.add_get("/cookies", cookies)
    return app


ACCESS_LOG_FORMAT = '%a "%r" %s %b %Tfs "%{User-Agent}i" x-request-id=%{x-request-id}i'


def main(argv: list[str]) -> int:
    logging.basicConfig(
        stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(name)s %(message)s"
    )
    port = int(argv[0]) if argv else int(os.environ.get("PORT", "8000"))
    host = os.environ.get("LISTEN_ADDRESS", "0.0.0.0")
    LOG.info("httpbin listening on %s:%d", host, port)
    web.run_app(
        make_app(int(os.environ.get("FAIL_FIRST_ATTEMPTS", "0") or 0)),
        host=host,
        port=port,
        print=None,
        access_log=logging.getLogger("httpbin.access"),
        access_log_format=ACCESS_LOG_FORMAT,
        shutdown_timeout=1.0,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
