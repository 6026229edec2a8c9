#!/usr/bin/env python3
"""ext-authz: a sample external authorizer for the CUSTOM AuthorizationPolicy action (the
HTTP side of Istio's samples/extauthz), used by Envoy's ``envoy.filters.http.ext_authz``.

Run as ``python3 src/ext_authz.py [port]`` from ``samples/extauthz``.
Environment: LISTEN_ADDRESS (0.0.0.0), PORT (8000; a positional argument wins).

Every request is a check: allowed (200) when it carries the header ``x-ext-authz: allow``,
denied (403, body ``denied by ext_authz for not found header `x-ext-authz: allow` in the
request``) otherwise. Both answers set ``x-ext-authz-check-result: allowed|denied`` (Envoy
forwards it upstream on allow / downstream on deny when the provider lists it in
``headersToUpstreamOnAllow`` / ``headersToDownstreamOnDeny``).
"""

from __future__ import annotations

import logging
import os
import sys

from aiohttp import web

LOG = logging.getLogger("ext-authz")

CHECK_HEADER = "x-ext-authz"
ALLOWED_VALUE = "allow"
RESULT_HEADER = "x-ext-authz-check-result"
DENY_BODY = f"denied by ext_authz for not found header `{CHECK_HEADER}: {ALLOWED_VALUE}` in the request"


async def check(request: web.Request) -> web.Response:
    allowed = request.headers.get(CHECK_HEADER, "") == ALLOWED_VALUE
    LOG.info(
        "[HTTP][%s]: %s %s%s", "allowed" if allowed else "denied", request.method,
        request.host, request.path_qs,
    )  # fmt: skip
    if allowed:
        return web.Response(status=200, headers={RESULT_HEADER: "allowed"})
    return web.Response(status=403, text=DENY_BODY, headers={RESULT_HEADER: "denied"})


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", check)
    return app


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    port = int(argv[1]) if len(argv) > 1 else int(os.environ.get("PORT", "8000"))
    host = os.environ.get("LISTEN_ADDRESS", "0.0.0.0")
    web.run_app(make_app(), host=host, port=port, print=None, access_log=None)


if __name__ == "__main__":
    main(sys.argv)
