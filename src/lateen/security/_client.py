"""The agent's side of the CA: ``CreateCertificate`` over TLS, authenticated by a bearer token.

The agent makes its key and CSR itself (:func:`lateen.security.new_key_and_csr`; the key never
leaves it), then calls :func:`request_certificate`. The server is verified against the trust
bundle the agent was given and the name ``istiod.istio-system.svc``, as Istio's agent does.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

import grpc

from lateen.security._proto import CREATE_CERTIFICATE, ISTIOD_SERVER_NAME, ca_messages

__all__ = ["CaClient", "CertificateRequestError", "request_certificate"]


class CertificateRequestError(Exception):
    """The CA refused or could not be reached: the gRPC status and its details."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


class CaClient:
    """One TLS channel to the CA; :meth:`create_certificate` may be called many times."""

    def __init__(
        self,
        address: str,
        root_pem: bytes | str,
        *,
        server_name: str = ISTIOD_SERVER_NAME,
    ) -> None:
        roots = root_pem.encode() if isinstance(root_pem, str) else root_pem
        self._channel = grpc.aio.secure_channel(
            address,
            grpc.ssl_channel_credentials(root_certificates=roots),
            options=[("grpc.ssl_target_name_override", server_name)],
        )
        request, response = ca_messages()
        self._request = request
        self._call = self._channel.unary_unary(
            CREATE_CERTIFICATE,
            request_serializer=request.SerializeToString,
            response_deserializer=response.FromString,
        )

    async def create_certificate(
        self,
        csr_pem: bytes | str,
        token: str | None,
        ttl: int = 0,
        *,
        metadata: Mapping[str, Any] | None = None,
        timeout: float = 10.0,
    ) -> list[str]:
        """The signed chain (leaf first, roots last); :class:`CertificateRequestError` if refused."""
        csr = csr_pem.decode() if isinstance(csr_pem, bytes) else csr_pem
        req = self._request(csr=csr, validity_duration=int(ttl))
        if metadata:
            req.metadata.update(dict(metadata))
        call_metadata = (("authorization", f"Bearer {token}"),) if token else ()
        try:
            resp = await self._call(req, metadata=call_metadata, timeout=timeout)
        except grpc.aio.AioRpcError as e:
            raise CertificateRequestError(e.code(), e.details() or "") from None
        return list(resp.cert_chain)

    async def close(self) -> None:
        await self._channel.close(None)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


async def request_certificate(
    address: str,
    root_pem: bytes | str,
    token: str | None,
    csr_pem: bytes | str,
    ttl: int = 0,
    *,
    server_name: str = ISTIOD_SERVER_NAME,
    timeout: float = 10.0,
) -> list[str]:
    """Ask the CA at ``address`` (``host:port``) to sign ``csr_pem``: the chain, leaf first.
    ``ttl`` in seconds (0: the CA's default, 24 h)."""
    async with CaClient(address, root_pem, server_name=server_name) as client:
        return await client.create_certificate(csr_pem, token, ttl, timeout=timeout)
