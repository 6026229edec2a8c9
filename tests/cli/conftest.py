"""A fake of the local *runtime* (``lateen up``'s API): a real aiohttp server on a Unix
socket, in a thread, answering ``/v1/info``, ``/v1/pods`` and ``/v1/objects`` from canned
JSON, with a ``runtime.json`` that names it, so the CLI connects to it as to a real mesh."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from lateen.platform.local import RuntimeInfo, StateDir, proc_start_time


@dataclass
class FakeMesh:
    state_dir: Path
    socket: Path
    pods: list[dict[str, Any]] = field(default_factory=list)
    objects: list[dict[str, Any]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def write_runtime(self, monitoring_address: str = "127.0.0.1:9") -> RuntimeInfo:
        info = RuntimeInfo(
            pid=os.getpid(),
            start_time=proc_start_time(os.getpid()) or 0,
            mode="explicit",
            state_dir=str(self.state_dir),
            api_socket=str(self.socket),
            xds_address="127.0.0.1:15010",
            monitoring_address=monitoring_address,
            ingress_url="http://127.0.0.1:8080",
            control_plane_ip="127.0.0.1",
            started_at=time.time(),
        )
        StateDir(self.state_dir).write_runtime(info)
        return info

    def args(self) -> list[str]:
        return ["--state-dir", str(self.state_dir)]

    def _objects(self, q: Any) -> list[dict[str, Any]]:
        out = []
        for o in self.objects:
            group, _, _ = str(o.get("apiVersion", "")).rpartition("/")
            meta = o.get("metadata") or {}
            if "kind" in q and (o.get("kind") != q["kind"] or group != q.get("group", "")):
                continue
            if "namespace" in q and meta.get("namespace", "") != q["namespace"]:
                continue
            if "name" in q and meta.get("name") != q["name"]:
                continue
            out.append(o)
        return out

    def app(self) -> web.Application:
        async def info(_: web.Request) -> web.Response:
            return web.json_response(asdict(StateDir(self.state_dir).read_runtime()))  # type: ignore[arg-type]

        async def pods(req: web.Request) -> web.Response:
            self.requests.append(str(req.rel_url))
            return web.json_response(self.pods)

        async def objects(req: web.Request) -> web.Response:
            self.requests.append(str(req.rel_url))
            return web.json_response(self._objects(req.query))

        app = web.Application()
        app.router.add_get("/v1/info", info)
        app.router.add_get("/v1/pods", pods)
        app.router.add_get("/v1/objects", objects)
        return app


@pytest.fixture
def fake_mesh() -> Iterator[FakeMesh]:
    root = Path(tempfile.mkdtemp(prefix="lateen-cli-"))  # short: Unix socket paths are limited
    mesh = FakeMesh(root / "state", root / "api.sock")
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(mesh.app(), access_log=None)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.UnixSite(runner, str(mesh.socket)).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    mesh.write_runtime()
    try:
        yield mesh
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        shutil.rmtree(root, ignore_errors=True)


def pod(
    name: str,
    *,
    namespace: str = "default",
    owner: str = "",
    ready: bool = True,
    phase: str = "Running",
    ip: str = "127.42.0.10",
    containers: list[dict[str, Any]] | None = None,
    created: float = 0.0,
    proxy: str = "sidecar",
    env: dict[str, str] | None = None,
    exec_prefix: list[str] | None = None,
) -> dict[str, Any]:
    """A pod as ``/v1/pods`` returns it (``PodState.to_dict()``)."""
    if containers is None:
        app = name.split("-")[0]
        containers = [
            {"name": "istio-proxy", "pid": 100, "restarts": 0, "running": True, "ready": ready,
             "last_exit": None, "reason": "", "log": ""},
            {"name": app, "pid": 101, "restarts": 0, "running": True, "ready": ready,
             "last_exit": None, "reason": "", "log": ""},
        ]
    return {
        "name": name, "namespace": namespace, "labels": {}, "annotations": {},
        "service_account": "default", "owner": owner, "proxy": proxy, "ip": ip,
        "app_address": ip, "admin": f"{ip}:15000" if proxy else "", "phase": phase,
        "ready": ready, "reason": "", "restarts": sum(c["restarts"] for c in containers),
        "created": created or time.time(), "containers": containers,
        "env": env or {"POD_NAME": name, "POD_NAMESPACE": namespace},
        "exec_prefix": exec_prefix or [],
    }


@pytest.fixture
def make_pod() -> Any:
    return pod
