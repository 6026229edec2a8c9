"""The agent's SDS: the workload certificate (``default``) and the trust bundle (``ROOTCA``)
served to Envoy with ``envoy.service.secret.v3.SecretDiscoveryService`` over a Unix socket,
as Istio's pilot-agent serves them on ``./var/run/secrets/workload-spiffe-uds/socket``.

* :class:`SecretManager` makes a key and CSR (the key never leaves the agent), has the CA
  sign it (:class:`CertificateSource`), and renews the certificate at half its life with a
  little jitter (Istio's ``SECRET_GRACE_PERIOD_RATIO`` 0.5, jitter 0.01). While the CA cannot
  be reached it retries with exponential backoff and keeps the current certificate. Time
  comes from an injectable :class:`lateen.security.WallClock`.
* :class:`SdsServer` streams the secrets each Envoy stream asks for, again whenever they
  change; :attr:`SdsServer.served` says whether ``default`` reached Envoy (readiness).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import grpc
from cryptography import x509
from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2
from envoy.service.discovery.v3 import discovery_pb2
from envoy.service.secret.v3 import sds_pb2_grpc
from google.protobuf import any_pb2

from lateen.security import CaClient, KeyType, SystemClock, WallClock, certs_to_pem, load_certs
from lateen.security import new_key_and_csr as _new_key_and_csr

__all__ = [
    "DEFAULT_SDS_SOCKET",
    "ROOT_SECRET",
    "SECRET_TYPE",
    "WORKLOAD_SECRET",
    "CaCertificateSource",
    "CertificateSource",
    "SdsServer",
    "SecretManager",
    "WorkloadSecret",
    "secret_resources",
    "socket_address",
]

log = logging.getLogger(__name__)

WORKLOAD_SECRET = "default"
ROOT_SECRET = "ROOTCA"
SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
DEFAULT_SDS_SOCKET = Path("var/run/secrets/workload-spiffe-uds/socket")  # under the work dir
_MAX_UNIX_PATH = 107


class CertificateSource(Protocol):
    """The CA as the agent sees it: sign a CSR, return the chain (leaf first, roots last)."""

    async def sign(self, csr_pem: bytes, ttl: int) -> list[str]: ...


class CaCertificateSource:
    """:class:`CertificateSource` over ``IstioCertificateService`` at ``address``; the root
    certificate and the pod's token are read from their files on every call (the runtime
    may replace them). The roots of the last answer are trusted too: during a root rotation
    the CA's bundle holds the new root before the CA's own certificate is signed by it."""

    def __init__(self, address: str, root_cert: Path, token_file: Path) -> None:
        self.address = address
        self.root_cert = root_cert
        self.token_file = token_file
        self._learned_roots = ""

    async def sign(self, csr_pem: bytes, ttl: int) -> list[str]:
        roots = self.root_cert.read_text() + self._learned_roots
        token = self.token_file.read_text().strip() or None
        async with CaClient(self.address, roots) as client:
            chain = await client.create_certificate(csr_pem, token, ttl)
        self._learned_roots = certs_to_pem(_split_chain(chain)[1])
        return chain


@dataclass(frozen=True, slots=True)
class WorkloadSecret:
    key_pem: bytes
    chain_pem: str  # leaf and intermediates
    roots_pem: str  # the trust bundle
    not_before: float
    not_after: float
    version: int


def _split_chain(chain: list[str]) -> tuple[list[x509.Certificate], list[x509.Certificate]]:
    """(leaf + intermediates, roots): roots are the self-issued certificates at the end; a
    chain without one trusts its last certificate."""
    certs = [c for pem in chain for c in load_certs(pem)]
    if not certs:
        raise ValueError("the CA returned an empty certificate chain")
    roots = [c for c in certs[1:] if c.issuer == c.subject]
    if not roots:
        roots = [certs[-1]] if len(certs) > 1 else []
    rest = [c for c in certs if all(c is not r for r in roots)]
    return rest, roots


class SecretManager:
    """Keeps a signed workload certificate; ``await run()`` until cancelled."""

    def __init__(
        self,
        source: CertificateSource,
        *,
        clock: WallClock | None = None,
        key_type: KeyType = "rsa",
        ttl_s: int = 0,  # 0: the CA's default (24 h)
        grace_ratio: float = 0.5,
        grace_jitter: float = 0.01,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 30.0,
        rand: Callable[[], float] = random.random,
        new_key_and_csr: Callable[[KeyType], tuple[bytes, bytes]] = _new_key_and_csr,
    ) -> None:
        self.source = source
        self.clock: WallClock = clock or SystemClock()
        self.key_type = key_type
        self.ttl_s = ttl_s
        self.grace_ratio = grace_ratio
        self.grace_jitter = grace_jitter
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self._rand = rand
        self._new_key_and_csr = new_key_and_csr
        self.current: WorkloadSecret | None = None
        self.failures = 0  # consecutive failed attempts
        self.last_error = ""
        self._versions = itertools.count(1)
        self._watchers: list[Callable[[], None]] = []

    def watch(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` on every new certificate; returns the unsubscribe function."""
        self._watchers.append(callback)
        return lambda: self._watchers.remove(callback)

    def rotation_delay(self, secret: WorkloadSecret) -> float:
        """Seconds from now until renewal: when ``grace_ratio`` (+/- jitter) of the
        certificate's life is left."""
        jitter = (2 * self._rand() - 1) * self.grace_jitter  # uniform in [-jitter, +jitter]
        grace = (self.grace_ratio + jitter) * (secret.not_after - secret.not_before)
        return max(0.0, secret.not_after - grace - self.clock.now())

    def backoff_delay(self, failures: int) -> float:
        """Delay after the ``failures``-th failure in a row: doubling from the initial delay
        up to the maximum, +/- 10% jitter."""
        base = min(self.backoff_max_s, self.backoff_initial_s * float(2 ** max(0, failures - 1)))
        return base * (0.9 + 0.2 * self._rand())

    async def refresh(self) -> WorkloadSecret:
        """One attempt: new key, CSR, signature; installs and returns the new secret."""
        key_pem, csr_pem = await asyncio.to_thread(self._new_key_and_csr, self.key_type)
        chain = await self.source.sign(csr_pem, self.ttl_s)
        certs, roots = _split_chain(chain)
        leaf = certs[0]
        secret = WorkloadSecret(
            key_pem=key_pem,
            chain_pem=certs_to_pem(certs),
            roots_pem=certs_to_pem(roots),
            not_before=leaf.not_valid_before_utc.timestamp(),
            not_after=leaf.not_valid_after_utc.timestamp(),
            version=next(self._versions),
        )
        self.current = secret
        for w in list(self._watchers):
            w()
        return secret

    async def run(self) -> None:
        while True:
            try:
                secret = await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.failures += 1
                self.last_error = str(e) or type(e).__name__
                delay = self.backoff_delay(self.failures)
                log.warning(
                    "certificate request failed (%d in a row), retrying in %.1fs%s: %s",
                    self.failures, delay,
                    " (still serving the current certificate)" if self.current else "",
                    self.last_error,
                )  # fmt: skip
                await self.clock.sleep(delay)
                continue
            self.failures, self.last_error = 0, ""
            delay = self.rotation_delay(secret)
            log.info("workload certificate %d valid until %s; renewing in %.0fs",
                     secret.version, leaf_expiry_text(secret), delay)  # fmt: skip
            await self.clock.sleep(delay)


def leaf_expiry_text(secret: WorkloadSecret) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(secret.not_after, datetime.UTC).isoformat()


def secret_resources(secret: WorkloadSecret, names: list[str]) -> list[secret_pb2.Secret]:
    """The Envoy ``Secret`` resources among ``names`` we know (``default``, ``ROOTCA``)."""
    out = []
    for name in names:
        if name == WORKLOAD_SECRET:
            out.append(
                secret_pb2.Secret(
                    name=name,
                    tls_certificate=common_pb2.TlsCertificate(
                        certificate_chain=base_pb2.DataSource(inline_bytes=secret.chain_pem.encode()),
                        private_key=base_pb2.DataSource(inline_bytes=secret.key_pem),
                    ),
                )
            )
        elif name == ROOT_SECRET:
            out.append(
                secret_pb2.Secret(
                    name=name,
                    validation_context=common_pb2.CertificateValidationContext(
                        trusted_ca=base_pb2.DataSource(inline_bytes=secret.roots_pem.encode())
                    ),
                )
            )
    return out


def socket_address(path: Path) -> str:
    """The shorter of ``path`` and its path relative to the working directory (Envoy, our
    child, shares it), within the 107 bytes a Unix socket path may have."""
    text = str(path.absolute())
    with contextlib.suppress(ValueError):
        rel = os.path.relpath(text)
        if len(rel) < len(text):
            text = rel
    if len(text.encode()) > _MAX_UNIX_PATH:
        raise ValueError(f"SDS socket path {text!r} is longer than {_MAX_UNIX_PATH} bytes")
    return text


class SdsServer:
    """SotW SDS over a Unix socket; ``await run()`` until cancelled."""

    def __init__(self, manager: SecretManager, path: Path) -> None:
        self.manager = manager
        self.path = path
        self.served = False  # `default` was sent to Envoy at least once
        self._nonces = itertools.count(1)

    async def run(self) -> None:
        address = socket_address(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        server = grpc.aio.server()
        sds_pb2_grpc.add_SecretDiscoveryServiceServicer_to_server(self, server)
        server.add_insecure_port(f"unix:{address}")
        await server.start()
        os.chmod(self.path, 0o600)
        log.info("SDS on unix:%s", address)
        try:
            await server.wait_for_termination()
        finally:
            await server.stop(None)
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    async def DeltaSecrets(self, request_iterator: Any, context: Any) -> None:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "use StreamSecrets (SotW)")

    async def FetchSecrets(self, request: Any, context: Any) -> None:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "use StreamSecrets (SotW)")

    async def StreamSecrets(self, request_iterator: Any, context: Any) -> None:
        names: list[str] = []
        wake = asyncio.Event()
        unwatch = self.manager.watch(wake.set)

        async def read() -> None:
            nonlocal names
            async for req in request_iterator:
                if req.HasField("error_detail"):
                    log.warning("Envoy rejected secrets %s (nonce %s): %s",
                                list(req.resource_names), req.response_nonce,
                                req.error_detail.message)  # fmt: skip
                if list(req.resource_names) != names:
                    names = list(req.resource_names)
                    wake.set()

        try:
            async with asyncio.TaskGroup() as tg:
                reader = tg.create_task(read())
                sent: tuple[tuple[str, ...], int] | None = None
                while not reader.done():
                    waiter = tg.create_task(wake.wait())
                    await asyncio.wait((reader, waiter), return_when=asyncio.FIRST_COMPLETED)
                    waiter.cancel()
                    wake.clear()
                    secret = self.manager.current
                    if secret is None or reader.done():
                        continue
                    key = (tuple(names), secret.version)
                    if key == sent:
                        continue
                    resources = secret_resources(secret, names)
                    if not resources:
                        continue
                    await context.write(
                        discovery_pb2.DiscoveryResponse(
                            version_info=str(secret.version),
                            type_url=SECRET_TYPE,
                            nonce=str(next(self._nonces)),
                            resources=[_pack(r) for r in resources],
                        )
                    )
                    sent = key
                    if WORKLOAD_SECRET in names:
                        self.served = True
        finally:
            unwatch()


def _pack(msg: secret_pb2.Secret) -> any_pb2.Any:
    out = any_pb2.Any()
    out.Pack(msg)
    return out
