"""Envoy's admin interface as a dependency: the supervisor drains through it, the status
server reads readiness from it (a fake in :mod:`lateen.testing.fake_envoy`)."""

from __future__ import annotations

from typing import Protocol

import aiohttp

__all__ = ["EnvoyAdmin", "HttpEnvoyAdmin"]


class EnvoyAdmin(Protocol):
    """``GET``/``POST`` a path (with query) on Envoy's admin port: ``(status, body)``. Raises
    ``OSError`` (or ``aiohttp.ClientError``) when Envoy does not answer."""

    async def get(self, path: str) -> tuple[int, str]: ...

    async def post(self, path: str) -> tuple[int, str]: ...


class HttpEnvoyAdmin:
    """The real admin client (aiohttp), one short-lived connection per call."""

    def __init__(self, address: str, port: int, timeout: float = 2.0) -> None:
        host = f"[{address}]" if ":" in address else address
        self.base = f"http://{host}:{port}"
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def _request(self, method: str, path: str) -> tuple[int, str]:
        async with (
            aiohttp.ClientSession(timeout=self._timeout) as session,
            session.request(method, self.base + path) as resp,
        ):
            return resp.status, await resp.text()

    async def get(self, path: str) -> tuple[int, str]:
        return await self._request("GET", path)

    async def post(self, path: str) -> tuple[int, str]:
        return await self._request("POST", path)
