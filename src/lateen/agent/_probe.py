"""The app probes the agent runs for the kubelet (Istio's ``/app-health``).

Istio's injector rewrites a sidecar pod's HTTP and TCP probes to
``GET :15020/app-health/<container>/readyz`` on the agent and hands the originals to the
agent in ``ISTIO_KUBE_APP_PROBERS`` (JSON: path -> ``{"httpGet": {"path", "port",
"scheme"}}`` or ``{"tcpSocket": {"port"}}``, with ``timeoutSeconds``). The agent runs them
against the app from inside the pod, so they work whatever the inbound mTLS mode: the
kubelet has no mesh certificate, and under STRICT its plaintext probe would be refused.

With traffic capture the probe leaves from ``127.0.0.6`` (as Istio's agent does): the
capture rules let that source through, where the proxy's uid alone would be redirected to
the inbound listener. The answer is the app's status code (500 when the app cannot be
reached), so the kubelet's ``200..399`` rule decides as it would have.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import h11

from lateen.agent._http import http_request

__all__ = ["APP_PROBERS_ENV", "PROBE_SOURCE_ADDRESS", "AppProbe", "AppProber", "parse_app_probers"]

APP_PROBERS_ENV = "ISTIO_KUBE_APP_PROBERS"
PROBE_SOURCE_ADDRESS = "127.0.0.6"
_PATH = re.compile(r"^/app-health/[^/]+/(livez|readyz|startupz)$")


@dataclass(frozen=True, slots=True)
class AppProbe:
    kind: Literal["http", "tcp"]
    port: int
    path: str = "/"
    timeout_s: float = 1.0


def _port(raw: Any, where: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 < raw < 65536:
        raise ValueError(f"{where}.port: must be a port number (1..65535), got {raw!r}")
    return raw


def parse_app_probers(text: str) -> dict[str, AppProbe]:
    """``ISTIO_KUBE_APP_PROBERS`` -> probes by agent path. Raises ``ValueError`` naming the
    path and field of the first bad entry."""
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ValueError(f"{APP_PROBERS_ENV}: not JSON: {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{APP_PROBERS_ENV}: must be an object of path -> probe")
    out: dict[str, AppProbe] = {}
    for path, raw in data.items():
        where = f"{APP_PROBERS_ENV}[{path!r}]"
        if not _PATH.match(path):
            raise ValueError(f"{where}: the path must be /app-health/<container>/readyz|livez|startupz")
        if not isinstance(raw, dict):
            raise ValueError(f"{where}: must be an object")
        timeout = raw.get("timeoutSeconds", 1) or 1
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ValueError(f"{where}.timeoutSeconds: must be a positive number")
        actions = [k for k in ("httpGet", "tcpSocket", "grpc") if k in raw]
        if len(actions) != 1:
            raise ValueError(f"{where}: needs exactly one of httpGet, tcpSocket")
        action = raw[actions[0]]
        if actions[0] == "grpc" or not isinstance(action, dict):
            raise ValueError(f"{where}.{actions[0]}: only httpGet and tcpSocket objects are supported")
        port = _port(action.get("port"), f"{where}.{actions[0]}")
        if actions[0] == "tcpSocket":
            out[path] = AppProbe("tcp", port, timeout_s=float(timeout))
            continue
        scheme = str(action.get("scheme") or "HTTP").upper()
        if scheme != "HTTP":
            raise ValueError(f"{where}.httpGet.scheme: only HTTP is supported, got {scheme!r}")
        probe_path = str(action.get("path") or "/")
        if not probe_path.startswith("/"):
            probe_path = "/" + probe_path
        out[path] = AppProbe("http", port, probe_path, float(timeout))
    return out


class AppProber:
    """Runs the app probes against ``host`` (the app's address in the pod), from
    ``source`` when set."""

    def __init__(self, probes: Mapping[str, AppProbe], host: str, source: str = "") -> None:
        self.probes = dict(probes)
        self.host = host
        self.source = source

    def __contains__(self, path: str) -> bool:
        return path in self.probes

    async def probe(self, path: str) -> tuple[int, str]:
        """(status, text) for the agent path: the app's status for HTTP, 200 when a TCP
        connection opens, 500 (with the reason) when the app cannot be reached; 404 for an
        unknown path."""
        p = self.probes.get(path)
        if p is None:
            return 404, f"no app probe for {path}\n"
        local = (self.source, 0) if self.source else None
        try:
            if p.kind == "tcp":
                _, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, p.port, local_addr=local), p.timeout_s
                )
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                return 200, ""
            status, _ = await http_request(
                self.host, p.port, "GET", p.path, timeout=p.timeout_s, local_address=self.source
            )
        except (OSError, TimeoutError, h11.ProtocolError) as e:
            return 500, f"app probe to {self.host}:{p.port} failed: {e!r}\n"
        return status, ""
