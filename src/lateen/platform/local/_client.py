"""A small synchronous client of the local API (HTTP over the state directory's Unix
socket), for the CLI: no event loop, no third-party HTTP client."""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from lateen.platform.local._state import RuntimeInfo, StateDir

__all__ = ["ApiClient", "NotRunning", "connect"]


class NotRunning(Exception):
    """No mesh is running from this state directory."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class ApiClient:
    def __init__(self, socket_path: Path | str, timeout: float = 30.0) -> None:
        self.socket_path = str(socket_path)
        self.timeout = timeout

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        conn = _UnixConnection(self.socket_path, self.timeout)
        try:
            data = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": "application/json"} if data is not None else {}
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
        except (FileNotFoundError, ConnectionRefusedError) as e:
            raise NotRunning(f"no mesh answers on {self.socket_path}: {e}") from None
        finally:
            conn.close()

    def get(self, path: str, **query: str | None) -> Any:
        q = {k: v for k, v in query.items() if v is not None}
        status, data = self.request("GET", f"{path}?{urlencode(q)}" if q else path)
        if status != 200:
            raise RuntimeError(f"GET {path}: HTTP {status}: {data}")
        return data

    def info(self) -> dict[str, Any]:
        data: dict[str, Any] = self.get("/v1/info")
        return data

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = self.get("/v1/status")
        return data

    def pods(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self.get("/v1/pods")
        return data

    def objects(
        self, group: str | None = None, kind: str | None = None, namespace: str | None = None, name: str | None = None
    ) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self.get("/v1/objects", group=group, kind=kind, namespace=namespace, name=name)
        return data

    def apply(self, documents: list[dict[str, str]], *, dry_run: bool = False) -> tuple[int, dict[str, Any]]:
        return self.request("POST", "/v1/apply", {"documents": documents, "dry_run": dry_run})

    def delete(self, documents: list[dict[str, str]]) -> tuple[int, dict[str, Any]]:
        return self.request("POST", "/v1/delete", {"documents": documents})

    def delete_keys(self, keys: list[dict[str, str]]) -> tuple[int, dict[str, Any]]:
        """Delete by ``{group, kind, namespace, name}`` (``lateen delete KIND NAME``)."""
        return self.request("POST", "/v1/delete", {"keys": keys})


def connect(state_dir: Path | str) -> tuple[ApiClient, RuntimeInfo]:
    """The client of the mesh running from ``state_dir``; :class:`NotRunning` if none is."""
    state = StateDir(state_dir)
    info = state.live_runtime()
    if info is None:
        raise NotRunning(f"no mesh is running from {state.root} (start one with `lateen up DIR`)")
    return ApiClient(info.api_socket), info
