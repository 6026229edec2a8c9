"""The agent (our pilot-agent): writes the bootstrap, supervises Envoy, serves readiness,
with a CA address the SDS server (workload certificate and trust bundle over a Unix socket;
readiness waits for the certificate) and, with DNS capture, the DNS proxy (its own NDS stream;
readiness does not wait for it), and the app probes the injector rewrote (``/app-health``, on
the status port and on ``app_probe_port``). ``await Agent(options).run()`` until cancelled; cancellation drains Envoy first
(the status server keeps answering, 503 "draining", until Envoy is gone), then stops."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lateen.agent._admin import EnvoyAdmin, HttpEnvoyAdmin
from lateen.agent._bootstrap import BootstrapOptions, ProxyKind, base_id, render_bootstrap
from lateen.agent._envoy import Clock, EnvoyOptions, EnvoySupervisor, ProcessRunner
from lateen.agent._envoy_binary import envoy_binary
from lateen.agent._http import serve_http
from lateen.agent._probe import AppProbe, AppProber
from lateen.agent._status import StatusServer

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
    # ISTIO_KUBE_APP_PROBERS: the app's probes, run against app_probe_host (default: the pod
    # address) from app_probe_source (127.0.0.6 with traffic capture), served on the status
    # port and on app_probe_port (Istio's 15020, where rewritten probes point)
    app_probers: Mapping[str, AppProbe] = field(default_factory=dict)
    app_probe_host: str = ""
    app_probe_source: str = ""
    app_probe_port: int = 15020

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
            if options.ca_token_file is not None and not b.xds_token:
                try:
                    token = options.ca_token_file.read_text().strip()
                except OSError as e:
                    log.warning("no token for the xDS stream (%s): %s", options.ca_token_file, e)
                    token = ""
                b = dataclasses.replace(b, xds_token=token)
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
        prober = None
        if options.app_probers:
            host = options.app_probe_host or b.pod_ip
            prober = AppProber(options.app_probers, host, options.app_probe_source)
        self.status = StatusServer(
            self.admin,
            options.status_address or b.pod_ip,
            b.status_port,
            is_draining=lambda: self.envoy.draining,
            cert_served=self._cert_problem if self.sds is not None else None,
            app_prober=prober,
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
        tmp.unlink(missing_ok=True)
        # 0600: it carries the pod's token (the ADS stream's credential)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(render_bootstrap(self.bootstrap), indent=2, sort_keys=True))
        tmp.replace(path)
        return path

    async def run(self) -> None:
        path = self.write_bootstrap()
        log.info("bootstrap written to %s", path)
        async with asyncio.TaskGroup() as tg:
            status = tg.create_task(self.status.run(), name="status-server")
            probes = None
            if self.status.app_prober is not None:
                probes = tg.create_task(
                    serve_http(self.status.address, self.options.app_probe_port, self.status.handle),
                    name="app-probes",
                )
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
                if probes is not None:
                    probes.cancel()
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
