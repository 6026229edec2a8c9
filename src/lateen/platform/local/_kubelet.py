"""A small kubelet for processes: runs the pods the config asks for, each with its
containers (and the agent + Envoy when it has a proxy), probes readiness, and publishes
every pod as a ``Pod`` object (address, labels, Ready condition) to the cluster store,
which is where the registry finds Service endpoints, as Kubernetes' endpoints controller
would."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from lateen.api import ConfigKey, ConfigObject, ObjectMeta
from lateen.config import MemoryStore
from lateen.platform.local._network import PodAddress, PodNetwork, inherited_env
from lateen.platform.local._process import ProcessInfo, Spawner, SupervisedProcess
from lateen.platform.local._spec import PROXY_CONTAINER, PodSpec, Probe, ProxyRole
from lateen.platform.local._state import ProcessRecord, StateDir
from lateen.security import TokenIssuer

__all__ = ["Kubelet", "KubeletOptions", "PodState", "pod_object"]

log = logging.getLogger(__name__)

PROXY_CONFIG_ANNOTATION = "proxy.istio.io/config"
STATUS_PORT = 15021


def _app_probe_path(container: str) -> str:
    return f"/app-health/{container}/readyz"
KUBELET_SOURCE = "lateen:kubelet"


@dataclass(frozen=True, slots=True)
class KubeletOptions:
    discovery_address: str
    python: str = sys.executable
    agent_log_level: str = "info"
    envoy_log_level: str = "warning"
    max_grace_s: float = 10.0  # cap on terminationGracePeriodSeconds
    proxy_concurrency: int = 1
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    # the CA: proxies get CA_ADDR, a per-pod token (TokenIssuer on ca_tokens) and the root
    ca_address: str = ""
    ca_root_cert: Path | None = None
    ca_tokens: Path | None = None


@dataclass(slots=True)
class PodState:
    spec: PodSpec
    created: float = field(default_factory=time.time)
    address: PodAddress | None = None
    phase: str = "Pending"  # Pending | Running | Terminating | Failed
    ready: bool = False
    reason: str = ""
    env: dict[str, str] = field(default_factory=dict)  # what the platform sets for the pod's apps
    exec_prefix: list[str] = field(default_factory=list)  # runs a command inside the pod
    admin_exec: list[str] = field(default_factory=list)  # reaches the proxy's admin (transparent)
    processes: dict[str, SupervisedProcess] = field(default_factory=dict)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def _admin(self) -> str:
        """Where the proxy's Envoy admin listens: the pod address when it is a loopback one
        (explicit mode, gateways), else 127.0.0.1 inside the pod (reached with admin_exec)."""
        if self.address is None or self.spec.proxy is None:
            return ""
        if self.admin_exec:
            return "127.0.0.1:15000"
        return f"{self.address.admin_address or self.address.ip}:15000"

    def to_dict(self) -> dict[str, Any]:
        containers = []
        for p in self.processes.values():
            i = p.info
            containers.append(
                {
                    "name": i.name,
                    "pid": i.pid if i.running else 0,
                    "restarts": i.restarts,
                    "running": i.running,
                    "ready": i.ready,
                    "last_exit": i.last_exit,
                    "reason": i.reason,
                    "log": i.log_path,
                }
            )
        s = self.spec
        return {
            "name": s.name,
            "namespace": s.namespace,
            "labels": dict(s.labels),
            "annotations": dict(s.annotations),
            "service_account": s.service_account,
            "owner": s.owner,
            "proxy": str(s.proxy) if s.proxy else "",
            "ip": self.address.ip if self.address else "",
            "app_address": self.address.app_address if self.address else "",
            "admin": self._admin(),
            "admin_exec": list(self.admin_exec),
            "phase": self.phase,
            "ready": self.ready,
            "reason": self.reason,
            "restarts": sum(p.info.restarts for p in self.processes.values()),
            "created": self.created,
            "containers": containers,
            "env": dict(self.env),
            "exec_prefix": list(self.exec_prefix),
        }


def pod_object(state: PodState) -> ConfigObject:
    """The pod as the registry reads it: labels, service account, container ports,
    ``status.podIP`` and the Ready condition."""
    s = state.spec
    ip = state.address.ip if state.address else ""
    body: dict[str, Any] = {
        "spec": {
            "serviceAccountName": s.service_account,
            "containers": [
                {"name": c.name, "ports": [{"name": n, "containerPort": p} for n, p in c.ports if n]}
                for c in s.containers
            ],
        },
        "status": {
            "phase": state.phase,
            "conditions": [{"type": "Ready", "status": "True" if state.ready else "False"}],
        },
    }
    if ip:
        body["status"]["podIP"] = ip
        body["status"]["podIPs"] = [{"ip": ip}]
    return ConfigObject(
        group="",
        kind="Pod",
        api_version="v1",
        meta=ObjectMeta(name=s.name, namespace=s.namespace, labels=s.labels, annotations=s.annotations),
        spec=body,
        source=KUBELET_SOURCE,
    )


def _proxy_metadata_env(annotations: Mapping[str, str]) -> dict[str, str]:
    """``proxyMetadata`` of the ``proxy.istio.io/config`` annotation: environment variables
    of the proxy (``ISTIO_META_*`` ones become node metadata), as Istio's injector does."""
    raw = annotations.get(PROXY_CONFIG_ANNOTATION)
    if not raw:
        return {}
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError:
        return {}
    md = data.get("proxyMetadata") if isinstance(data, dict) else None
    return {str(k): str(v) for k, v in md.items()} if isinstance(md, dict) else {}


class Kubelet:
    def __init__(
        self,
        state_dir: StateDir,
        network: PodNetwork,
        cluster: MemoryStore,
        options: KubeletOptions,
        *,
        spawner: Spawner | None = None,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.state_dir = state_dir
        self.network = network
        self.cluster = cluster
        self.options = options
        self.spawner = spawner
        self.on_change = on_change
        self.pods: dict[tuple[str, str], PodState] = {}
        self._desired: dict[tuple[str, str], PodSpec] = {}
        self._wake = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None

    # -- desired state -----------------------------------------------------------------------

    def set_desired(self, pods: list[PodSpec]) -> None:
        self._desired = {p.key: p for p in pods}
        self._wake.set()

    def all_ready(self) -> bool:
        return bool(self.pods) and all(
            p.ready for k, p in self.pods.items() if k in self._desired
        ) and self._desired.keys() <= self.pods.keys()

    def statuses(self) -> list[dict[str, Any]]:
        return [p.to_dict() for _, p in sorted(self.pods.items())]

    def records(self) -> list[ProcessRecord]:
        out = []
        for p in self.pods.values():
            for proc in p.processes.values():
                if proc.info.running and proc.info.pid:
                    out.append(
                        ProcessRecord(proc.info.pid, proc.info.start_time, f"{p.spec.namespace}/{p.spec.name}", proc.info.name)
                    )
        return sorted(out, key=lambda r: r.pid)

    def _changed(self) -> None:
        self.on_change()

    # -- running -------------------------------------------------------------------------------

    async def run(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            self._session = session
            async with asyncio.TaskGroup() as tg:
                while True:
                    await self._wake.wait()
                    self._wake.clear()
                    self._reconcile(tg)

    def _reconcile(self, tg: asyncio.TaskGroup) -> None:
        for key, state in list(self.pods.items()):
            desired = self._desired.get(key)
            if desired is None or desired != state.spec:
                state.stop.set()
        for key, spec in self._desired.items():
            if key not in self.pods:
                state = PodState(spec)
                self.pods[key] = state
                tg.create_task(self._run_pod(state), name=f"pod {spec.namespace}/{spec.name}")

    async def shutdown(self) -> None:
        """Stop every pod (gracefully, concurrently) and forget the desired state."""
        self._desired = {}
        states = list(self.pods.values())
        for s in states:
            s.stop.set()
        await asyncio.gather(*(s.done.wait() for s in states))

    def _publish(self, state: PodState) -> None:
        self.cluster.apply(pod_object(state))
        self._changed()

    async def _run_pod(self, state: PodState) -> None:
        spec = state.spec
        key = spec.key
        try:
            await self._pod_lifecycle(state)
        except Exception as e:  # a pod's failure must not take the platform down
            log.exception("pod %s/%s failed", spec.namespace, spec.name)
            state.phase, state.reason = "Failed", str(e)
            for proc in state.processes.values():
                with contextlib.suppress(Exception):
                    await proc.stop(1.0)
        finally:
            with contextlib.suppress(Exception):
                await self.network.teardown(spec)
            if spec.proxy is not None and self.options.ca_tokens is not None:
                with contextlib.suppress(Exception):
                    TokenIssuer(self.options.ca_tokens).revoke(spec.namespace, spec.name)
            existing = self.cluster.get(ConfigKey("", "Pod", spec.namespace, spec.name))
            if existing is not None and existing.source == KUBELET_SOURCE:
                self.cluster.delete(existing.key)
            if self.pods.get(key) is state:
                del self.pods[key]
            state.done.set()
            self._changed()
            self._wake.set()  # a replacement may be due

    async def _pod_lifecycle(self, state: PodState) -> None:
        spec = state.spec
        pod_dir = self.state_dir.pod_dir(spec.namespace, spec.name)
        pod_dir.mkdir(parents=True, exist_ok=True)
        state.address = await self.network.setup(spec)
        self._publish(state)
        procs: list[SupervisedProcess] = []
        if spec.proxy is not None:
            procs.append(self._proxy_process(state, pod_dir))
        app_env = self._app_env(state)
        for c in spec.containers:
            env = {**app_env, **dict(c.env)}
            argv = self.network.wrap(spec, c.argv, proxy=False)
            procs.append(self._supervised(c.name, argv, env, c.working_dir, pod_dir / f"{c.name}.log"))
        for p in procs:
            state.processes[p.info.name] = p
        state.phase = "Running"
        self._publish(state)
        async with asyncio.TaskGroup() as tg:
            for p in procs:
                tg.create_task(p.run(), name=f"{spec.name}/{p.info.name}")
            prober = tg.create_task(self._probe_loop(state), name=f"{spec.name}/probes")
            await state.stop.wait()
            prober.cancel()
            state.phase, state.ready = "Terminating", False
            self._publish(state)
            grace = min(spec.termination_grace_s, self.options.max_grace_s)
            await asyncio.gather(*(p.stop(grace) for p in procs))

    def _supervised(self, name: str, argv: list[str], env: dict[str, str], cwd: str, log_path: Path) -> SupervisedProcess:
        return SupervisedProcess(
            name,
            argv,
            env,
            cwd,
            log_path,
            spawner=self.spawner,
            on_change=lambda _info: self._changed(),
            initial=self.options.backoff_initial_s,
            maximum=self.options.backoff_max_s,
        )

    def _app_env(self, state: PodState) -> dict[str, str]:
        assert state.address is not None
        spec = state.spec
        env = inherited_env(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        platform = {
            "HOSTNAME": spec.name,
            "POD_NAME": spec.name,
            "POD_NAMESPACE": spec.namespace,
            "SERVICE_ACCOUNT": spec.service_account,
            **self.network.app_env(state.address, spec.proxy is not None),
        }
        state.env = platform
        state.exec_prefix = self.network.wrap(spec, [], proxy=False)
        if spec.proxy is ProxyRole.SIDECAR and self.network.mode == "transparent":
            state.admin_exec = self.network.wrap(spec, [], proxy=True)
        env.update(platform)
        return env

    def _proxy_process(self, state: PodState, pod_dir: Path) -> SupervisedProcess:
        assert state.address is not None and state.spec.proxy is not None
        spec = state.spec
        labels = ",".join(f"{k}={v}" for k, v in sorted(spec.labels.items()))
        argv = [
            self.options.python, "-m", "lateen", "agent",
            "--type", str(spec.proxy),
            "--pod-name", spec.name,
            "--namespace", spec.namespace,
            "--pod-ip", state.address.ip,
            "--service-account", spec.service_account,
            "--discovery-address", self.options.discovery_address,
            "--work-dir", str(pod_dir / "proxy"),
            "--envoy-log", str(pod_dir / f"{PROXY_CONTAINER}.log"),
            "--concurrency", str(self.options.proxy_concurrency),
            "--log-level", self.options.envoy_log_level,
            "--agent-log-level", self.options.agent_log_level,
        ]  # fmt: skip
        if labels:
            argv += ["--labels", labels]
        if state.address.admin_address:
            argv += ["--admin-address", state.address.admin_address]
        if spec.owner:
            argv += ["--workload-name", spec.owner.partition("/")[2]]
        env = inherited_env(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        sidecar = spec.proxy is ProxyRole.SIDECAR
        env["ISTIO_META_INTERCEPTION_MODE"] = self.network.interception_mode if sidecar else "NONE"
        if sidecar and self.network.interception_mode != "NONE":
            env["ISTIO_META_DNS_CAPTURE"] = "true"
        env["ISTIO_META_LATEEN_APP_ADDRESS"] = state.address.app_address
        if self._rewrites_probes(spec):
            env["ISTIO_KUBE_APP_PROBERS"] = json.dumps(
                {
                    _app_probe_path(c.name): {
                        "httpGet": {"path": c.readiness.path, "port": c.readiness.port},
                        "timeoutSeconds": c.readiness.timeout_s,
                    }
                    for c in spec.containers
                    if c.readiness is not None and c.readiness.kind == "http"
                }
            )
        env.update(_proxy_metadata_env(spec.annotations))
        if raw_proxy_config := spec.annotations.get(PROXY_CONFIG_ANNOTATION):
            env["PROXY_CONFIG"] = raw_proxy_config  # the pod's ProxyConfig, as Istio injects it
        argv = self.network.wrap(spec, argv, proxy=True)
        owner = self.network.proxy_owner()
        owned: list[Path] = []
        if self.options.ca_address:
            env.update(self._ca_credentials(spec, pod_dir / "proxy", owned))
        if owner is not None:  # the proxy's own files: its work dir and its Envoy log
            work = pod_dir / "proxy"
            work.mkdir(parents=True, exist_ok=True)
            log_file = pod_dir / f"{PROXY_CONTAINER}.log"
            log_file.touch()
            for path in (work, log_file, *owned):
                os.chown(path, owner, owner)
        return self._supervised(PROXY_CONTAINER, argv, env, str(pod_dir), pod_dir / f"{PROXY_CONTAINER}.log")

    def _ca_credentials(self, spec: PodSpec, work: Path, owned: list[Path]) -> dict[str, str]:
        """A new CA token for the pod and the mesh's root certificate, in the proxy's work
        dir where Istio mounts them (``var/run/secrets/tokens/istio-token``,
        ``var/run/secrets/istio/root-cert.pem``); the agent's environment naming them."""
        secrets = work / "var" / "run" / "secrets"
        token_file = secrets / "tokens" / "istio-token"
        root_file = secrets / "istio" / "root-cert.pem"
        for d in (work, work / "var", work / "var" / "run", secrets, token_file.parent, root_file.parent):
            d.mkdir(mode=0o700, exist_ok=True)
            owned.append(d)
        assert self.options.ca_tokens is not None
        token = TokenIssuer(self.options.ca_tokens).issue(spec.namespace, spec.service_account, spec.name)
        token_file.write_text(token + "\n")
        token_file.chmod(0o600)
        owned.append(token_file)
        if self.options.ca_root_cert is not None and self.options.ca_root_cert.is_file():
            root_file.write_bytes(self.options.ca_root_cert.read_bytes())
            owned.append(root_file)
        return {
            "CA_ADDR": self.options.ca_address,
            "LATEEN_CA_TOKEN_FILE": str(token_file),
            "LATEEN_CA_ROOT_CERT": str(root_file),
        }

    # -- readiness -----------------------------------------------------------------------------

    async def _probe_loop(self, state: PodState) -> None:
        spec = state.spec
        probes: dict[str, Probe | None] = {c.name: c.readiness for c in spec.containers}
        started = time.monotonic()
        while True:
            results: dict[str, bool] = {}
            for name, proc in state.processes.items():
                if not proc.info.running:
                    results[name] = False
                elif name == PROXY_CONTAINER:
                    results[name] = await self._http_ok(state.address.ip if state.address else "", STATUS_PORT, "/healthz/ready")
                else:
                    probe = probes.get(name)
                    if probe is None:
                        results[name] = True
                    elif time.monotonic() - started < probe.initial_delay_s:
                        results[name] = False
                    else:
                        results[name] = await self._probe(state, probe, name)
            changed = False
            for name, ok in results.items():
                info: ProcessInfo = state.processes[name].info
                if info.ready != ok:
                    info.ready, changed = ok, True
            ready = all(results.values()) and bool(results)
            if ready != state.ready or changed:
                state.ready = ready
                self._publish(state)
            periods = [p.period_s for p in probes.values() if p is not None]
            period = min(periods, default=2.0)
            await asyncio.sleep(min(period, 0.25) if not ready else min(period, 2.0))

    def _rewrites_probes(self, spec: PodSpec) -> bool:
        """Istio's probe rewrite: with traffic capture a sidecar pod's HTTP probes go to the
        agent's status port (not captured), which calls the app over loopback, so that the
        probes do not pass the inbound listener and its AuthorizationPolicies."""
        return spec.proxy is ProxyRole.SIDECAR and self.network.interception_mode != "NONE"

    async def _probe(self, state: PodState, probe: Probe, container: str = "") -> bool:
        addr = state.address.app_address if state.address else ""
        if probe.kind == "http" and container and self._rewrites_probes(state.spec):
            ip = state.address.ip if state.address else ""
            return await self._http_ok(ip, STATUS_PORT, _app_probe_path(container), probe.timeout_s + 1)
        if probe.kind == "http":
            return await self._http_ok(addr, probe.port, probe.path, probe.timeout_s)
        if probe.kind == "tcp":
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(addr, probe.port), probe.timeout_s)
            except (OSError, TimeoutError):
                return False
            writer.close()
            return True
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.network.wrap(state.spec, probe.command, proxy=False),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                env=self._app_env(state),
            )
            return await asyncio.wait_for(proc.wait(), max(probe.timeout_s, 1.0)) == 0
        except (OSError, TimeoutError):
            return False

    async def _http_ok(self, host: str, port: int, path: str, timeout: float = 1.0) -> bool:
        if not host or self._session is None:
            return False
        try:
            async with self._session.get(
                f"http://{host}:{port}{path}", timeout=aiohttp.ClientTimeout(total=timeout)
            ) as resp:
                return 200 <= resp.status < 400
        except (aiohttp.ClientError, OSError, TimeoutError):
            return False

