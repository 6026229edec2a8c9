"""The CA's gRPC service: ``istio.v1.auth.IstioCertificateService/CreateCertificate`` over
TLS (port 15012, as istiod).

Each call is authenticated (:class:`CallerAuthenticator`; failure -> UNAUTHENTICATED "request
authenticate failure", as Istio), then the CSR is signed for the caller's identity. Signing
runs on the event loop by default (0.2 ms for ECDSA P-256, 0.4 ms for RSA 2048): cryptography
holds the GIL while it signs, so a thread pool (``sign_workers``) only adds overhead -- the
``ca`` bench measured 18-65% more CPU per CSR with 2 threads. CSR and TTL errors are
INVALID_ARGUMENT, anything else INTERNAL. The server's own certificate (SANs ``istiod.istio-system.svc`` and the
listen address) is issued by the CA and re-issued, for the next handshakes, at half its
lifetime or as soon as the CA switches to a new signer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from lateen.security._authn import AuthenticationError, CallerAuthenticator
from lateen.security._ca import CAError, CertificateAuthority
from lateen.security._proto import ISTIOD_SERVER_NAME, SERVICE, ca_messages

__all__ = ["CaServer", "CaServerOptions"]

log = logging.getLogger(__name__)

SERVING_CERT_TTL = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class CaServerOptions:
    address: str = "127.0.0.1:15012"  # host:port (port 0: any free port, see CaServer.port)
    dns_names: tuple[str, ...] = (ISTIOD_SERVER_NAME,)
    sign_workers: int = 0  # threads that sign (0: on the event loop, the fastest; see above)
    serving_cert_ttl: float = SERVING_CERT_TTL


def _split(address: str) -> tuple[str, str]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"CA address {address!r} is not HOST:PORT")
    return host.strip("[]"), port


class CaServer:
    """Serves ``IstioCertificateService`` for ``ca`` behind ``authenticator``."""

    def __init__(
        self,
        ca: CertificateAuthority,
        authenticator: CallerAuthenticator,
        options: CaServerOptions | None = None,
        *,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.ca = ca
        self.authenticator = authenticator
        self.options = options or CaServerOptions()
        self.port: int | None = None
        self.ready = asyncio.Event()
        self._serving_lock = threading.Lock()
        self._serving: tuple[str, float] | None = None  # (signer fingerprint, renew at)
        self._request, self._response = ca_messages()
        if registry is not None:
            registry.register(_CaCollector(ca))

    # -- the RPC -------------------------------------------------------------------------

    async def create_certificate(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        stats = self.ca.stats
        stats.csr += 1
        try:
            metadata = [(str(k), v) for k, v in context.invocation_metadata() or ()]
            identity = self.authenticator.authenticate(metadata, context.peer())
        except AuthenticationError as e:
            stats.authn_error += 1
            log.info("CSR from %s: authentication failed: %s", context.peer(), e)
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "request authenticate failure")
        ttl = float(request.validity_duration)
        try:
            if self._executor is not None:
                loop = asyncio.get_running_loop()
                chain = await loop.run_in_executor(self._executor, self.ca.sign, request.csr, identity, ttl)
            else:
                chain = self.ca.sign(request.csr, identity, ttl)
        except CAError as e:
            log.info("CSR from %s (%s): %s: %s", context.peer(), identity, e.kind, e)
            code = (
                grpc.StatusCode.INVALID_ARGUMENT
                if e.kind in ("CSR_ERROR", "TTL_ERROR")
                else grpc.StatusCode.INTERNAL
            )
            await context.abort(code, f"CSR signing error ({e})")
        stats.success += 1
        return self._response(cert_chain=chain)

    # -- TLS -------------------------------------------------------------------------------

    def _names(self) -> tuple[list[str], list[str]]:
        host, _ = _split(self.options.address)
        ips: list[str] = []
        try:
            ip = ipaddress.ip_address(host)
            if not ip.is_unspecified:
                ips.append(str(ip))
        except ValueError:
            pass
        dns = list(self.options.dns_names)
        if not ips and host and host not in dns:
            dns.append(host)
        return dns, ips

    def serving_config(self, *, force: bool = False) -> Any:
        """A new ``ServerCertificateConfiguration`` when the serving certificate is due (first
        call, half its life gone, or a new signer), else None. Called before each handshake."""
        signer = self.ca.signer.fingerprint
        now = self.ca.clock.now()
        with self._serving_lock:
            current = self._serving
            if not force and current is not None and current[0] == signer and now < current[1]:
                return None
            dns, ips = self._names()
            key_pem, chain_pem, expires = self.ca.issue_key_cert(
                dns_names=dns, ip_addresses=ips, ttl=self.options.serving_cert_ttl
            )
            self._serving = (signer, now + (expires - now) / 2)
        log.info("CA serving certificate issued for %s (signer %s)", ", ".join(dns + ips), signer[:12])
        return grpc.ssl_server_certificate_configuration([(key_pem, chain_pem)])

    def _fetch(self) -> Any:
        try:
            return self.serving_config()
        except Exception:  # never fail a handshake for a renewal: keep the current certificate
            log.exception("renewing the CA serving certificate failed")
            return None

    # -- running ---------------------------------------------------------------------------

    def add_to_server(self, server: grpc.aio.Server) -> None:
        """Register the service on ``server`` (e.g. one that also serves xDS on 15012)."""
        handler = grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "CreateCertificate": grpc.unary_unary_rpc_method_handler(
                    self.create_certificate,
                    request_deserializer=self._request.FromString,
                    response_serializer=self._response.SerializeToString,
                )
            },
        )
        server.add_generic_rpc_handlers([handler])

    def server_credentials(self) -> grpc.ServerCredentials:
        """TLS with the CA-issued serving certificate, renewed as :meth:`serving_config` says."""
        return grpc.dynamic_ssl_server_credentials(self.serving_config(force=True), self._fetch)

    async def run(self, *, grace: float = 0.5) -> None:
        """Serve on ``options.address`` until cancelled."""
        workers = self.options.sign_workers
        if workers > 0:
            self._executor = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="ca-sign")
        server = grpc.aio.server()
        self.add_to_server(server)
        try:
            self.port = server.add_secure_port(self.options.address, self.server_credentials())
            await server.start()
            log.info("CA (IstioCertificateService) listening on %s over TLS (port %d)",
                     self.options.address, self.port)
            self.ready.set()
            await asyncio.Event().wait()
        finally:
            await server.stop(grace)
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None

    _executor: concurrent.futures.ThreadPoolExecutor | None = None


class _CaCollector(Collector):
    """Istio's citadel counters (exact names, no ``_total``) and the root's expiry."""

    def __init__(self, ca: CertificateAuthority) -> None:
        self.ca = ca

    def collect(self) -> Iterator[Metric]:
        s = self.ca.stats
        for name, doc, value in (
            ("citadel_server_csr_count", "CSRs received.", s.csr),
            ("citadel_server_success_cert_issuance_count", "Certificates issued.", s.success),
            ("citadel_server_authentication_failure_count", "CSRs whose caller failed authentication.", s.authn_error),
        ):
            m = Metric(name, doc, "counter")
            m.add_sample(name, {}, float(value))
            yield m
        m = Metric("citadel_server_csr_sign_error_count", "CSR signing errors, by type.", "counter")
        for kind, n in sorted(s.sign_errors.items()):
            m.add_sample("citadel_server_csr_sign_error_count", {"error_type": kind}, float(n))
        yield m
        roots = self.ca.trust_bundle()
        m = Metric("citadel_server_root_cert_expiry_timestamp", "Expiry of the first root (POSIX seconds).", "gauge")
        m.add_sample("citadel_server_root_cert_expiry_timestamp", {}, roots[0].not_valid_after_utc.timestamp())
        yield m

