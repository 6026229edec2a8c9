"""The state directory of a local mesh (``--state-dir``, default ``./.lateen``)::

    runtime.json        pid and start time of the running ``lateen up``, its addresses, mode
    runtime.log         the runtime's own log
    api.sock            the local API (HTTP over a Unix socket)
    config.json         the applied config, in order: [{source, text}] (survives restarts)
    processes.json      every process the runtime started: pid, start time, pod, container
    pods/NS/POD/        per pod: CONTAINER.log, istio-proxy.log, proxy/ (bootstrap, envoy)
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lateen.platform.local._process import proc_start_time

__all__ = ["ProcessRecord", "RuntimeInfo", "StateDir", "kill_recorded"]

_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux


@dataclass(frozen=True, slots=True)
class RuntimeInfo:
    pid: int
    start_time: int
    mode: str
    state_dir: str
    api_socket: str
    xds_address: str
    monitoring_address: str
    ingress_url: str
    control_plane_ip: str
    started_at: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProcessRecord:
    pid: int
    start_time: int
    pod: str  # NS/NAME
    container: str


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


class StateDir:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).absolute()

    @property
    def runtime_file(self) -> Path:
        return self.root / "runtime.json"

    @property
    def config_file(self) -> Path:
        return self.root / "config.json"

    @property
    def processes_file(self) -> Path:
        return self.root / "processes.json"

    @property
    def log_file(self) -> Path:
        return self.root / "runtime.log"

    @property
    def api_socket(self) -> Path:
        path = self.root / "api.sock"
        if len(str(path)) <= _SOCKET_PATH_MAX:
            return path
        digest = f"{zlib.crc32(str(self.root).encode()):08x}"
        return Path(tempfile.gettempdir()) / f"lateen-{digest}.sock"

    def pod_dir(self, namespace: str, name: str) -> Path:
        return self.root / "pods" / namespace / name

    # -- runtime ---------------------------------------------------------------------------

    def write_runtime(self, info: RuntimeInfo) -> None:
        _write_json(self.runtime_file, asdict(info))

    def read_runtime(self) -> RuntimeInfo | None:
        try:
            data = json.loads(self.runtime_file.read_text())
            return RuntimeInfo(**data)
        except (OSError, ValueError, TypeError):
            return None

    def live_runtime(self) -> RuntimeInfo | None:
        """The runtime recorded here if its process is still the one that wrote the file."""
        info = self.read_runtime()
        if info is None:
            return None
        if proc_start_time(info.pid) != info.start_time:
            return None
        return info

    # -- config ----------------------------------------------------------------------------

    def read_config(self) -> list[dict[str, str]]:
        try:
            data = json.loads(self.config_file.read_text())
        except (OSError, ValueError):
            return []
        return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []

    def write_config(self, documents: list[dict[str, str]]) -> None:
        _write_json(self.config_file, documents)

    # -- processes -------------------------------------------------------------------------

    def write_processes(self, records: list[ProcessRecord]) -> None:
        _write_json(self.processes_file, [asdict(r) for r in records])

    def read_processes(self) -> list[ProcessRecord]:
        try:
            data = json.loads(self.processes_file.read_text())
            return [ProcessRecord(**d) for d in data]
        except (OSError, ValueError, TypeError):
            return []


def kill_recorded(records: list[ProcessRecord]) -> list[ProcessRecord]:
    """SIGKILL the process group of every recorded process that is still the same process
    (PID and start time match); returns those it killed."""
    killed = []
    for r in records:
        if r.start_time and proc_start_time(r.pid) == r.start_time:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(r.pid, signal.SIGKILL)
                killed.append(r)
    return killed
