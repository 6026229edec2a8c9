"""The agent (our pilot-agent): writes the bootstrap, supervises Envoy, serves readiness,
with a CA address the SDS server (workload certificate and trust bundle over a Unix socket;
readiness waits for the certificate) and, with DNS capture, the DNS proxy (its own NDS stream;
readiness does not wait for it). ``await Agent(options).run()`` until cancelled; cancellation drains Envoy first
(the status server keeps answering, 503 "draining", until Envoy is gone), then stops."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lateen.agent._admin import EnvoyAdmin, HttpEnvoyAdmin
from lateen.agent._bootstrap import BootstrapOptions, ProxyKind, base_id, render_bootstrap
from lateen.agent._envoy import Clock, EnvoyOptions, EnvoySupervisor, ProcessRunner
from lateen.agent._envoy_binary import envoy_binary
from lateen.agent._status import StatusServer, parse_app_probers

if TYPE_CHECKING:  # the SDS code (grpc, cryptography) is imported only when SDS is on
    from lateen.agent._sds import CertificateSource, SdsServer, SecretManager
    from lateen.security import KeyType

__all__ = ["Agent", "AgentOptions"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AgentOptions:
    bootstrap: BootstrapOptions
    work_dir: Path
    status_address: str = ""  # default: the pod address
    # ``ISTIO_KUBE_APP_PROBERS``: the app's rewritten HTTP probes, served on the status port
    app_probers: str = ""
    log_level: str = "warning"  # Envoy's --log-level
    envoy_binary: Path | None = None  # default: lateen.agent.envoy_binary()
    terminate_timeout_s: float = 5.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    envoy_log: Path | None = None  # default: envoy.log in the work dir
    dns_capture: bool = False  # ISTIO_META_DNS_CAPTURE: run the DNS proxy
    dns_address: str = "127.0.0.1"
    dns_port: int = 15053
    resolv_conf: Path = Path("/etc/resolv.conf")  # its search list expands short names
    # SDS (Istio's CA_ADDR): on when ca_address is set; the token and root cert are files
    ca_address: str = ""
    ca_root_cert: Path | None = None
    ca_token_file: Path | None = None
    sds_socket: Path | None = None  # default: var/run/secrets/workload-spiffe-uds/socket in work_dir
    cert_ttl_s: int = 0  # 0: the CA's default (24 h)
    key_type: str = "rsa"

    @property
    def sds_enabled(self) -> bool:
        return bool(self.ca_address)

    @property
    def sds_socket_path(self) -> Path:
        return self.sds_socket or self.work_dir / "var/run/secrets/workload-spiffe-uds/socket"

    @property
    def bootstrap_path(self) -> Path:
        return self.work_dir / "envoy-rev.json"

    @property
    def envoy_log_path(self) -> Path:
        return self.envoy_log or self.work_dir / "envoy.log"


class Agent:
    def __init__(
        self,
        options: AgentOptions,
        *,
        runner: ProcessRunner | None = None,
        clock: Clock | None = None,
        admin: EnvoyAdmin | None = None,
        certificates: CertificateSource | None = None,
    ) -> None:
        self.options = options
        b = options.bootstrap
        self.secrets: SecretManager | None = None
        self.sds: SdsServer | None = None
        if options.sds_enabled:
            from lateen.agent._sds import (
                CaCertificateSource,
                SdsServer,
                SecretManager,
                socket_address,
            )

            if certificates is None:
                if options.ca_root_cert is None or options.ca_token_file is None:
                    raise ValueError("SDS needs the CA root certificate and the token file")
                certificates = CaCertificateSource(
                    options.ca_address, options.ca_root_cert, options.ca_token_file
                )
            key_type: KeyType = "ecdsa" if options.key_type == "ecdsa" else "rsa"
            self.secrets = SecretManager(certificates, key_type=key_type, ttl_s=options.cert_ttl_s)
            self.sds = SdsServer(self.secrets, options.sds_socket_path)
            b = dataclasses.replace(b, sds_socket=socket_address(options.sds_socket_path))
        self.bootstrap = b
        self.admin: EnvoyAdmin = admin or HttpEnvoyAdmin(b.resolved_admin_address, b.admin_port)
        self.envoy = EnvoySupervisor(
            EnvoyOptions(
                bootstrap_path=options.bootstrap_path,
                log_path=options.envoy_log_path,
                binary=options.envoy_binary or envoy_binary(),
                base_id=base_id(b),
                log_level=options.log_level,
                concurrency=b.concurrency,
                drain_time_s=max(1, round(b.drain_duration_s)),
                termination_drain_s=b.termination_drain_duration_s,
                terminate_timeout_s=options.terminate_timeout_s,
                drain_inbound_only=b.kind is ProxyKind.SIDECAR,
                backoff_initial_s=options.backoff_initial_s,
                backoff_max_s=options.backoff_max_s,
            ),
            self.admin,
            runner=runner,
            clock=clock,
        )
        self.status = StatusServer(
            self.admin,
            options.status_address or b.pod_ip,
            b.status_port,
            is_draining=lambda: self.envoy.draining,
            cert_served=self._cert_problem if self.sds is not None else None,
            app_probers=parse_app_probers(options.app_probers),
        )

    def _cert_problem(self) -> str | None:
        """None once Envoy was sent the workload certificate, else why it was not."""
        if self.sds is None or self.sds.served:
            return None
        assert self.secrets is not None
        if self.secrets.current is None:
            why = self.secrets.last_error or "waiting for the CA"
            return f"workload certificate not issued yet: {why}"
        return "workload certificate not served to Envoy yet"

    def write_bootstrap(self) -> Path:
        path = self.options.bootstrap_path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(render_bootstrap(self.bootstrap), indent=2, sort_keys=True))
        tmp.replace(path)
        return path

    async def run(self) -> None:
        path = self.write_bootstrap()
        log.info("bootstrap written to %s", path)
        async with asyncio.TaskGroup() as tg:
            status = tg.create_task(self.status.run(), name="status-server")
            dns = tg.create_task(self._run_dns(), name="dns-proxy") if self.options.dns_capture else None
            sds = []
            if self.sds is not None and self.secrets is not None:
                sds = [
                    tg.create_task(self.secrets.run(), name="secret-manager"),
                    tg.create_task(self.sds.run(), name="sds-server"),
                ]
            try:
                # in this task, so that cancelling the agent drains Envoy while the status
                # server (and DNS) still answer; then they stop
                await self.envoy.run()
            finally:
                status.cancel()
                if dns is not None:
                    dns.cancel()
                for task in sds:
                    task.cancel()

    async def _run_dns(self) -> None:
        from lateen.agent._dns import DnsOptions, DnsProxy

        b = self.options.bootstrap
        node = render_bootstrap(b)["node"]
        await DnsProxy(
            DnsOptions(
                discovery_address=b.discovery_address,
                node=node,
                namespace=b.namespace,
                address=self.options.dns_address,
                port=self.options.dns_port,
                resolv_conf=self.options.resolv_conf,
            )
        ).run()
