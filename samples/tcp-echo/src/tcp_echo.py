#!/usr/bin/env python3
"""tcp-echo: replies to each line with ``<prefix> <line>`` (Istio's tcp-echo-server sample).

Run from ``samples/tcp-echo`` as either
  ``python3 src/tcp_echo.py <ports> <prefix>``  ports comma-separated, e.g. ``9000,9001,9002 one``
  ``python3 src/tcp_echo.py <prefix>``          on $PORT (9000)
  ``python3 src/tcp_echo.py``                   prefix "hello" on $PORT
Environment: LISTEN_ADDRESS (0.0.0.0), PORT (9000).
As the original, only complete (newline-terminated) lines are answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence

LOG = logging.getLogger("tcp-echo")


def parse_args(argv: Sequence[str], env: Mapping[str, str]) -> tuple[list[int], str]:
    if len(argv) >= 2:
        ports = [int(p) for p in argv[0].split(",") if p.strip()]
        return ports, argv[1]
    port = int(env.get("PORT", "9000"))
    return [port], (argv[0] if argv else "hello")


async def handle(prefix: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    peer = writer.get_extra_info("peername")
    local = writer.get_extra_info("sockname")
    try:
        while True:
            try:
                line = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError:
                return  # EOF (a trailing partial line is dropped, as the original)
            except asyncio.LimitOverrunError:
                return
            reply = prefix.encode() + b" " + line
            LOG.info(
                "%s -> :%s request: %r response: %r", peer, local[1] if local else "?", line, reply
            )
            writer.write(reply)
            await writer.drain()
    except ConnectionError:
        return
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def serve(host: str, ports: Sequence[int], prefix: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handle(prefix, reader, writer)

    servers = [await asyncio.start_server(on_conn, host, port) for port in ports]
    LOG.info(
        "tcp-echo listening on %s ports %s with prefix %r", host, ",".join(map(str, ports)), prefix
    )
    await stop.wait()
    for server in servers:
        server.close()
    LOG.info("tcp-echo stopping")


def main(argv: list[str]) -> int:
    logging.basicConfig(
        stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(name)s %(message)s"
    )
    ports, prefix = parse_args(argv, os.environ)
    asyncio.run(serve(os.environ.get("LISTEN_ADDRESS", "0.0.0.0"), ports, prefix))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
