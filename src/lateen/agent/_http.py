"""The agent's two small HTTP needs, on asyncio streams with h11 (a sans-I/O HTTP/1.1
library): GET/POST to Envoy's admin port, and the status server's plain responses. The
agent runs next to every Envoy, so it avoids a full HTTP framework: importing aiohttp
costs ~20 MB of resident memory and ~160 ms of start time per sidecar."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import h11

__all__ = ["Handler", "Response", "http_request", "serve_http"]

log = logging.getLogger(__name__)

Response = tuple[int, str]
Handler = Callable[[str, str], Awaitable[Response]]  # (method, target) -> (status, text)

_MAX_BODY = 16 * 1024 * 1024


async def _next_event(conn: h11.Connection, reader: asyncio.StreamReader) -> object:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        conn.receive_data(await reader.read(65536))


async def http_request(
    host: str, port: int, method: str, target: str, timeout: float = 2.0, local_address: str = ""
) -> Response:
    """One request on a fresh connection (from ``local_address`` when set): ``(status, body
    text)``. Raises ``OSError`` or ``TimeoutError`` when nothing answers,
    ``h11.ProtocolError`` on a broken response."""

    async def go() -> Response:
        local = (local_address, 0) if local_address else None
        reader, writer = await asyncio.open_connection(host, port, local_addr=local)
        try:
            conn = h11.Connection(h11.CLIENT)
            headers = [("Host", f"{host}:{port}"), ("Connection", "close"), ("Content-Length", "0")]
            writer.write(conn.send(h11.Request(method=method, target=target, headers=headers)) or b"")
            writer.write(conn.send(h11.EndOfMessage()) or b"")
            await writer.drain()
            status = 0
            body = bytearray()
            while True:
                event = await _next_event(conn, reader)
                if isinstance(event, h11.Response):
                    status = event.status_code
                elif isinstance(event, h11.Data):
                    body += event.data
                    if len(body) > _MAX_BODY:
                        raise h11.RemoteProtocolError("response body too large")
                elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    return status, body.decode("utf-8", "replace")
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    return await asyncio.wait_for(go(), timeout)


async def _serve_one(handler: Handler, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    conn = h11.Connection(h11.SERVER)
    try:
        while True:
            event = await asyncio.wait_for(_next_event(conn, reader), 30)
            if not isinstance(event, h11.Request):
                return
            while not isinstance(await _next_event(conn, reader), h11.EndOfMessage):
                pass  # a body is not expected; drain it
            method, target = event.method.decode(), event.target.decode()
            try:
                status, text = await handler(method, target)
            except Exception:
                log.exception("%s %s failed", method, target)
                status, text = 500, "internal error\n"
            body = text.encode()
            headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
            writer.write(conn.send(h11.Response(status_code=status, headers=headers)) or b"")
            writer.write(conn.send(h11.Data(data=body)) or b"")
            writer.write(conn.send(h11.EndOfMessage()) or b"")
            await writer.drain()
            if conn.our_state is h11.MUST_CLOSE:
                return
            conn.start_next_cycle()
    except (OSError, TimeoutError, h11.ProtocolError):
        return
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def serve_http(address: str, port: int, handler: Handler, started: Callable[[int], None] = lambda _: None) -> None:
    """Serve ``handler`` on ``address:port`` until cancelled (``started`` gets the bound port)."""
    server = await asyncio.start_server(
        lambda r, w: _serve_one(handler, r, w), address, port, reuse_address=True
    )
    try:
        started(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await server.wait_closed()
