"""The local mesh (``lateen up``): the runtime process runs the kubelet and the local API,
and supervises the control plane as its own process, like istiod next to a kubelet.

Config flows one way: the *config* store holds what was applied (Deployments, Services,
Istio config...); the *cluster* store is what the control plane sees: the applied config
except Pod manifests, plus the pods the kubelet runs (with addresses and readiness). The
cluster store is mirrored to ``<state>/cluster/`` (one YAML file per object, replaced
atomically), which the control plane (``lateen discovery --config-dir``) watches. So the
control plane can crash or be killed: proxies keep the last config, the runtime restarts
it, and it rebuilds everything from the directory. The API (HTTP over the Unix socket in
the state directory) is how ``lateen apply/delete/get/status`` reach a running mesh.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import shutil
import socket
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from lateen.api import ConfigKey, ConfigObject, LoadError, load_yaml, object_to_dict
from lateen.config import ConfigEvent, MemoryStore
from lateen.config._directory import KUSTOMIZATION_FILES, is_config_file
from lateen.platform.local._builtin import BUILTIN_SOURCE, builtin_objects
from lateen.platform.local._kubelet import Kubelet, KubeletOptions
from lateen.platform.local._network import AddressPool, ExplicitNetwork, PodNetwork, loopback_block
from lateen.platform.local._process import SupervisedProcess, proc_start_time
from lateen.platform.local._spec import pods_from_objects
from lateen.platform.local._state import ProcessRecord, RuntimeInfo, StateDir, kill_recorded
from lateen.platform.local._vips import assign_cluster_ips

__all__ = ["LocalMesh", "MeshError", "UpOptions", "read_documents"]

log = logging.getLogger(__name__)


class MeshError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class UpOptions:
    state_dir: Path
    sources: tuple[Path, ...] = ()  # files/directories to start from; empty: resume
    mode: str = "explicit"
    ingress_port: int = 8080
    ingress_tls_port: int = 8443
    ingress_address: str = "127.0.0.1"
    xds_port: int = 15010
    monitoring_port: int = 15014
    ca_port: int = 15012  # the CA (IstioCertificateService); pods get CA_ADDR
    agent_log_level: str = "info"


def _kustomization(directory: Path) -> list[Path] | None:
    """The ``resources`` a directory's kustomization lists (relative to it), if it has one."""
    for name in KUSTOMIZATION_FILES:
        path = directory / name
        if path.is_file():
            try:
                data = yaml.safe_load(path.read_text()) or {}
            except yaml.YAMLError as e:
                raise MeshError(f"{path}: {e}") from None
            resources = data.get("resources") if isinstance(data, dict) else None
            if not isinstance(resources, list):
                raise MeshError(f"{path}: resources: must be a list of files or directories")
            return [directory / str(r) for r in resources]
    return None


def read_documents(paths: Iterable[Path]) -> list[dict[str, str]]:
    """``[{source, text}]`` for every config file under ``paths``: files, or directories
    searched recursively (sorted by path), or, when a directory holds a
    ``kustomization.yaml``, just the ``resources`` it lists (as ``kubectl apply -k``)."""
    docs: list[dict[str, str]] = []
    for path in paths:
        path = path.absolute()
        if path.is_dir():
            listed = _kustomization(path)
            if listed is not None:
                docs.extend(read_documents(listed))
                continue
            files = sorted(p for p in path.rglob("*") if p.is_file() and is_config_file(p, path))
        elif path.is_file():
            files = [path]
        else:
            raise MeshError(f"{path}: no such file or directory")
        for f in files:
            docs.append({"source": str(f), "text": f.read_text()})
    return docs


def _load(docs: Sequence[dict[str, str]]) -> tuple[list[ConfigObject], list[LoadError]]:
    objects: list[ConfigObject] = []
    errors: list[LoadError] = []
    for d in docs:
        result = load_yaml(d.get("text", ""), d.get("source", ""))
        objects.extend(result.objects)
        errors.extend(result.errors)
    return objects, errors


def _free_block(first: int, ports: Sequence[int]) -> int:
    """The first loopback block from ``first`` on (even second octets 20..218) whose
    control-plane address has ``ports`` free: two meshes on one machine never collide."""
    for i in range(100):
        block = 20 + (first - 20 + 2 * i) % 200
        ok = True
        for port in ports:
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind((f"127.{block}.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return block
    raise MeshError(f"no free loopback block for the control plane ports {list(ports)}")


def _stamped(obj: ConfigObject, old: ConfigObject | None) -> ConfigObject:
    """The object with a ``creationTimestamp`` (kept from the object it replaces, as the API
    server keeps it), a ``generation`` and ``resourceVersion`` like the API server's."""
    if old is not None and old.spec == obj.spec and old.meta.labels == obj.meta.labels and old.meta.annotations == obj.meta.annotations:
        return old
    created = (old.meta.creation_timestamp if old is not None else "") or obj.meta.creation_timestamp
    if not created:
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    generation = (old.meta.generation + 1) if old is not None else 1
    meta = dataclasses.replace(
        obj.meta, creation_timestamp=created, generation=generation, resource_version=str(time.time_ns())
    )
    return dataclasses.replace(obj, meta=meta)


def _error_text(e: LoadError) -> str:
    return str(e)


class LocalMesh:
    def __init__(self, options: UpOptions, *, network: PodNetwork | None = None) -> None:
        self.options = options
        self.state = StateDir(options.state_dir)
        self.block = _free_block(loopback_block(str(self.state.root)), (options.xds_port, options.monitoring_port, options.ca_port))
        self.network: PodNetwork = network or self._network(options.mode)
        self.config = MemoryStore()
        self.cluster = MemoryStore()
        cp_ip = self.network.control_plane_address()
        self.cluster_dir = self.state.root / "cluster"
        # the CA (our Citadel): its files, and the per-pod tokens the kubelet issues
        self.ca_dir = self.state.root / "ca"
        self.ca_tokens = self.state.root / "ca-tokens.json"
        self.control_plane = SupervisedProcess(
            "control-plane",
            [
                sys.executable, "-m", "lateen", "discovery",
                "--config-dir", str(self.cluster_dir),
                "--xds-port", str(options.xds_port),
                "--monitoring-port", str(options.monitoring_port),
                "--listen-address", cp_ip,
                "--ca-dir", str(self.ca_dir),
                "--ca-port", str(options.ca_port),
                "--ca-tokens", str(self.ca_tokens),
            ],
            {**os.environ, "PYTHONUNBUFFERED": "1"},
            str(self.state.root),
            self.state.root / "control-plane.log",
            on_change=lambda _info: self._record_processes(),
        )  # fmt: skip
        self.kubelet = Kubelet(
            self.state,
            self.network,
            self.cluster,
            KubeletOptions(
                discovery_address=f"{cp_ip}:{options.xds_port}",
                agent_log_level=options.agent_log_level,
                ca_address=f"{cp_ip}:{options.ca_port}",
                ca_root_cert=self.ca_dir / "root-cert.pem",
                ca_tokens=self.ca_tokens,
            ),
            on_change=self._record_processes,
        )
        self.spec_errors: list[str] = []
        self._started_at = time.time()
        self.started = asyncio.Event()
        self.config.subscribe(self._on_config)
        self.cluster.subscribe(self._mirror)

    def _network(self, mode: str) -> PodNetwork:
        if mode == "transparent":
            import lateen
            from lateen.agent import envoy_binary
            from lateen.platform.local._transparent import TransparentNetwork

            return TransparentNetwork(
                self.state.root,
                read_paths=(sys.executable, str(Path(lateen.__file__).parent), str(envoy_binary())),
                loopback=AddressPool(self.block),
            )
        if mode != "explicit":
            raise MeshError(f"unknown mode {mode!r} (explicit or transparent)")
        return ExplicitNetwork(self.block)

    def _with_vips(self, objects: Sequence[ConfigObject]) -> list[ConfigObject]:
        """Transparent mode: Services get a VIP as the API server would allocate one."""
        if self.network.mode != "transparent":
            return list(objects)
        from lateen.platform.local._transparent import DNS_VIP, VIP_RANGE

        return assign_cluster_ips(objects, self.config.snapshot(), VIP_RANGE, reserved=(DNS_VIP,))

    # -- config ------------------------------------------------------------------------------

    def _on_config(self, events: list[ConfigEvent]) -> None:
        changes: list[ConfigObject] = []
        deletes: list[ConfigKey] = []
        for e in events:
            if e.key.group == "" and e.key.kind == "Pod":
                continue  # the kubelet publishes pods
            if e.new is not None:
                changes.append(e.new)
            else:
                deletes.append(e.key)
        if changes:
            self.cluster.apply(*changes)
        if deletes:
            self.cluster.delete(*deletes)
        self._desired()

    def _object_path(self, key: ConfigKey) -> Path:
        """One flat directory: a watcher can miss files created in a directory that was
        just created (inotify adds the new directory's watch after the fact)."""
        kind = f"{key.kind}.{key.group}" if key.group else key.kind
        return self.cluster_dir / f"{kind}_{key.namespace or '_'}_{key.name}.yaml"

    def _mirror(self, events: list[ConfigEvent]) -> None:
        """Write each changed object of the cluster store to its file (atomically)."""
        for e in events:
            path = self._object_path(e.key)
            if e.new is None:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                continue
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.unlink(missing_ok=True)
            # 0600: a Secret's file holds key material (and nothing here needs another reader)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(yaml.safe_dump(object_to_dict(e.new), sort_keys=False))
            os.replace(tmp, path)

    def _record_processes(self) -> None:
        records = self.kubelet.records()
        info = self.control_plane.info
        if info.running and info.pid:
            records.append(ProcessRecord(info.pid, info.start_time, "", "control-plane"))
        self.state.write_processes(records)

    def _pods(self, objects: Iterable[ConfigObject]) -> tuple[list[Any], list[str]]:
        return pods_from_objects(
            objects,
            base_dir=self.state.root.parent,
            python=sys.executable,
        )

    def _desired(self) -> None:
        pods, errors = self._pods(self.config.snapshot().values())
        self.spec_errors = errors
        for e in errors:
            log.error("%s", e)
        self.kubelet.set_desired(pods)

    def _persist(self) -> None:
        docs = [
            {"source": o.source, "text": yaml.safe_dump(object_to_dict(o), sort_keys=False)}
            for o in self.config.snapshot().values()
            if o.source != BUILTIN_SOURCE
        ]
        self.state.write_config(docs)

    def apply_documents(self, docs: Sequence[dict[str, str]], *, dry_run: bool = False) -> dict[str, Any]:
        """Validate everything first; apply all or nothing. Returns ``{results}`` or ``{errors}``."""
        objects, errors = _load(docs)
        if errors:
            return {"errors": [_error_text(e) for e in errors]}
        merged = dict(self.config.snapshot())
        merged.update({o.key: o for o in objects})
        _, spec_errors = self._pods(merged.values())
        new_errors = [e for e in spec_errors if e not in self.spec_errors]
        if new_errors:
            return {"errors": new_errors}
        results = []
        current = self.config.snapshot()
        objects = [_stamped(o, current.get(o.key)) for o in self._with_vips(objects)]
        for o in objects:
            old = current.get(o.key)
            if old is None:
                action = "created"
            elif old.spec == o.spec and old.meta == o.meta:
                action = "unchanged"
            else:
                action = "configured"
            results.append({"kind": o.kind, "group": o.group, "namespace": o.namespace, "name": o.name, "action": action})
        if not dry_run and objects:
            self.config.apply(*objects)
            self._persist()
        return {"results": results}

    def delete_documents(self, docs: Sequence[dict[str, str]], by_key: Sequence[dict[str, str]] = ()) -> dict[str, Any]:
        """Delete the objects the documents name, or (``by_key``) the objects with these
        ``{group, kind, namespace, name}``."""
        objects, errors = _load(docs)
        if errors:
            return {"errors": [_error_text(e) for e in errors]}
        wanted = [o.key for o in objects]
        for k in by_key:
            wanted.append(ConfigKey(str(k.get("group") or ""), str(k.get("kind") or ""), str(k.get("namespace") or ""), str(k.get("name") or "")))
        results = []
        keys = []
        current = self.config.snapshot()
        for key in wanted:
            found = key in current
            results.append({"kind": key.kind, "group": key.group, "namespace": key.namespace, "name": key.name, "action": "deleted" if found else "not found"})
            if found:
                keys.append(key)
        if keys:
            self.config.delete(*keys)
            self._persist()
        return {"results": results}

    def objects(self, group: str | None, kind: str | None, namespace: str | None, name: str | None) -> list[dict[str, Any]]:
        out = []
        source = self.cluster if kind == "Pod" and group == "" else self.config
        for key, o in sorted(source.snapshot().items()):
            if kind is not None and (key.kind != kind or key.group != (group or "")):
                continue
            if namespace is not None and key.namespace != namespace:
                continue
            if name is not None and key.name != name:
                continue
            out.append(object_to_dict(o))
        return out

    # -- info ----------------------------------------------------------------------------------

    def info(self) -> RuntimeInfo:
        cp_ip = self.network.control_plane_address()
        return RuntimeInfo(
            pid=os.getpid(),
            start_time=proc_start_time(os.getpid()) or 0,
            mode=self.network.mode,
            state_dir=str(self.state.root),
            api_socket=str(self.state.api_socket),
            xds_address=f"{cp_ip}:{self.options.xds_port}",
            monitoring_address=f"{cp_ip}:{self.options.monitoring_port}",
            ingress_url=f"http://{self.options.ingress_address}:{self.options.ingress_port}",
            control_plane_ip=cp_ip,
            started_at=self._started_at,
        )

    def status(self) -> dict[str, Any]:
        return {
            "info": dataclasses.asdict(self.info()),
            "pods": self.kubelet.statuses(),
            "control_plane": {
                "pid": self.control_plane.info.pid if self.control_plane.info.running else 0,
                "restarts": self.control_plane.info.restarts,
                "running": self.control_plane.info.running,
                "log": self.control_plane.info.log_path,
            },
            "all_ready": self.kubelet.all_ready(),
            "errors": list(self.spec_errors),
        }

    # -- API -----------------------------------------------------------------------------------

    def _app(self) -> web.Application:
        routes = web.RouteTableDef()

        @routes.get("/v1/info")
        async def info(_: web.Request) -> web.Response:
            return web.json_response(dataclasses.asdict(self.info()))

        @routes.get("/v1/status")
        async def status(_: web.Request) -> web.Response:
            return web.json_response(self.status())

        @routes.get("/v1/pods")
        async def pods(_: web.Request) -> web.Response:
            return web.json_response(self.kubelet.statuses())

        @routes.get("/v1/objects")
        async def objects(req: web.Request) -> web.Response:
            q = req.query
            return web.json_response(
                self.objects(q.get("group"), q.get("kind"), q.get("namespace"), q.get("name"))
            )

        @routes.post("/v1/apply")
        async def apply(req: web.Request) -> web.Response:
            body = await req.json()
            result = self.apply_documents(body.get("documents") or [], dry_run=bool(body.get("dry_run")))
            return web.json_response(result, status=400 if "errors" in result else 200)

        @routes.post("/v1/delete")
        async def delete(req: web.Request) -> web.Response:
            body = await req.json()
            result = self.delete_documents(body.get("documents") or [], body.get("keys") or [])
            return web.json_response(result, status=400 if "errors" in result else 200)

        app = web.Application()
        app.add_routes(routes)
        return app

    async def _serve_api(self) -> None:
        sock = self.state.api_socket
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()
        runner = web.AppRunner(self._app(), access_log=None)
        await runner.setup()
        site = web.UnixSite(runner, str(sock))
        try:
            await site.start()
            os.chmod(sock, 0o600)
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()
            with contextlib.suppress(FileNotFoundError):
                sock.unlink()

    # -- lifecycle -----------------------------------------------------------------------------

    def _initial_documents(self) -> list[dict[str, str]]:
        if self.options.sources:
            return read_documents(self.options.sources)
        return self.state.read_config()

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then stop every pod and the control plane."""
        live = self.state.live_runtime()
        if live is not None and live.pid != os.getpid():
            raise MeshError(f"a mesh is already running from {self.state.root} (pid {live.pid}); run `lateen down` first")
        stale = kill_recorded(self.state.read_processes())
        if stale:
            log.warning("killed %d process(es) left by a previous run", len(stale))
        self.state.root.mkdir(parents=True, exist_ok=True)
        docs = self._initial_documents()
        objects, errors = _load(docs)
        if errors:
            raise MeshError("invalid config:\n" + "\n".join(_error_text(e) for e in errors))
        user_keys = {o.key for o in objects}
        builtins = [o for o in builtin_objects(self.options.ingress_address, self.options.ingress_port, self.options.ingress_tls_port) if o.key not in user_keys]
        if self.cluster_dir.exists():
            shutil.rmtree(self.cluster_dir)
        self.cluster_dir.mkdir(parents=True)
        self.config.apply(*(_stamped(o, None) for o in self._with_vips([*builtins, *objects])))
        self._persist()
        await self.network.start()
        try:
            await self._run(stop)
        finally:
            await self.network.stop()

    async def _run(self, stop: asyncio.Event) -> None:
        async with asyncio.TaskGroup() as tg:
            cp = tg.create_task(self.control_plane.run(), name="control-plane")
            await self._control_plane_ready(cp)
            api = tg.create_task(self._serve_api(), name="api")
            kubelet = tg.create_task(self.kubelet.run(), name="kubelet")
            self.state.write_runtime(self.info())
            self.started.set()
            await stop.wait()
            log.info("stopping: %d pod(s)", len(self.kubelet.pods))
            try:
                await asyncio.wait_for(self.kubelet.shutdown(), 30)
            finally:
                kubelet.cancel()
                api.cancel()
                await self.control_plane.stop(5.0)
                cp.cancel()
                with contextlib.suppress(FileNotFoundError):
                    self.state.runtime_file.unlink()
                self.state.write_processes([])

    async def _control_plane_ready(self, task: asyncio.Task[None], timeout: float = 30.0) -> None:
        """Wait until the control plane answers on its monitoring port."""
        import aiohttp

        url = f"http://{self.network.control_plane_address()}:{self.options.monitoring_port}/debug/syncz"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as session:
            while loop.time() < deadline:
                if task.done():
                    task.result()
                info = self.control_plane.info
                if info.restarts:
                    raise MeshError(
                        f"the control plane exited ({info.reason}); see {info.log_path}"
                    )
                with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                    async with session.get(url) as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise MeshError(f"the control plane did not start in {timeout:.0f}s; see {self.control_plane.info.log_path}")
