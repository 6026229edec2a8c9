"""Envoy's admin interface as a dependency: the supervisor drains through it, the status
server reads readiness from it (a fake in :mod:`lateen.testing.fake_envoy`)."""

from __future__ import annotations

from typing import Protocol

from lateen.agent._http import http_request

__all__ = ["EnvoyAdmin", "HttpEnvoyAdmin"]


class EnvoyAdmin(Protocol):
    """``GET``/``POST`` a path (with query) on Envoy's admin port: ``(status, body)``. Raises
    ``OSError`` (or ``TimeoutError``, ``h11.ProtocolError``) when Envoy does not answer."""

    async def get(self, path: str) -> tuple[int, str]: ...

    async def post(self, path: str) -> tuple[int, str]: ...


class HttpEnvoyAdmin:
    """The real admin client, one short-lived connection per call."""

    def __init__(self, address: str, port: int, timeout: float = 2.0) -> None:
        self.address = address
        self.port = port
        self._timeout = timeout

    async def _request(self, method: str, path: str) -> tuple[int, str]:
        return await http_request(self.address, self.port, method, path, self._timeout)

    async def get(self, path: str) -> tuple[int, str]:
        return await self._request("GET", path)

    async def post(self, path: str) -> tuple[int, str]:
        return await self._request("POST", path)
