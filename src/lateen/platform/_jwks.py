"""The control plane's JWKS fetcher (a :class:`lateen.model.JwksSource`) over aiohttp.

It refuses link-local and cloud-metadata destinations (``169.254.0.0/16``, ``fe80::/10``,
``metadata.google.internal``...) twice: the URI's host as written, and every address its
name resolves to. aiohttp then connects only to the addresses that passed the check (the
check is its resolver), so a name that changes its answer between check and connect (DNS
rebinding) never reaches such an address. Redirects are not followed and environment
proxies are not used. Only a 2xx answer of at most 1 MiB counts.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from lateen.api.security import jwks_address_refused, jwks_host_refused
from lateen.model import JwksFetchError

__all__ = ["HostResolver", "HttpJwksSource", "SystemHostResolver"]

_MAX_JWKS_BYTES = 1 << 20


class HostResolver(Protocol):
    """Name -> addresses (a fake in tests; the system resolver otherwise)."""

    async def resolve(self, host: str, port: int) -> list[str]: ...


class SystemHostResolver:
    async def resolve(self, host: str, port: int) -> list[str]:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _CheckingResolver(AbstractResolver):
    """aiohttp resolver: every address of the name must be allowed, or none is used."""

    def __init__(self, resolver: HostResolver) -> None:
        self._resolver = resolver

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        refused = jwks_host_refused(host)
        if refused:
            raise JwksFetchError(refused)
        try:
            addresses = await self._resolver.resolve(host, port)
        except OSError as e:
            raise JwksFetchError(f"cannot resolve {host}: {e}") from e
        if not addresses:
            raise JwksFetchError(f"cannot resolve {host}: no address")
        for address in addresses:
            refused = jwks_address_refused(address)
            if refused:
                raise JwksFetchError(f"{host} resolves to a refused address: {refused}")
        out: list[ResolveResult] = []
        for address in addresses:
            fam = socket.AF_INET6 if ":" in address else socket.AF_INET
            result: ResolveResult = {
                "hostname": host,
                "host": address,
                "port": port,
                "family": fam,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            out.append(result)
        return out

    async def close(self) -> None:
        return None


class HttpJwksSource:
    """Fetches ``http://`` and ``https://`` key sets (system CA bundle for HTTPS)."""

    def __init__(self, resolver: HostResolver | None = None) -> None:
        self.resolver: HostResolver = resolver or SystemHostResolver()

    async def fetch(self, uri: str, timeout: float) -> str:
        try:
            parts = urlsplit(uri)
            host = parts.hostname or ""
        except ValueError as e:
            raise JwksFetchError(f"invalid URI {uri!r}: {e}") from e
        if parts.scheme.lower() not in ("http", "https") or not host:
            raise JwksFetchError(f"invalid URI {uri!r}: want http(s)://host/...")
        refused = jwks_host_refused(host)  # literal addresses never reach the resolver
        if refused:
            raise JwksFetchError(refused)
        connector = aiohttp.TCPConnector(resolver=_CheckingResolver(self.resolver), use_dns_cache=False)
        client_timeout = aiohttp.ClientTimeout(total=timeout)
        try:
            async with (
                aiohttp.ClientSession(connector=connector, timeout=client_timeout, trust_env=False) as session,
                session.get(uri, allow_redirects=False, headers={"Accept": "application/json"}) as resp,
            ):
                if not 200 <= resp.status < 300:
                    raise JwksFetchError(f"{uri}: HTTP {resp.status}")
                body = await resp.content.read(_MAX_JWKS_BYTES + 1)
        except JwksFetchError:
            raise
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            cause: Any = e
            while isinstance(cause, aiohttp.ClientError) and cause.__cause__ is not None:
                cause = cause.__cause__
            if isinstance(cause, JwksFetchError):
                raise cause from e
            raise JwksFetchError(f"{uri}: {type(e).__name__}: {e}") from e
        if len(body) > _MAX_JWKS_BYTES:
            raise JwksFetchError(f"{uri}: key set larger than {_MAX_JWKS_BYTES} bytes")
        try:
            return body.decode()
        except UnicodeDecodeError as e:
            raise JwksFetchError(f"{uri}: not UTF-8") from e
