"""The agent's status server (``:15021``): ``GET /healthz/ready``.

Readiness follows Istio's agent (``pilot/cmd/pilot-agent/status/ready``): Envoy is ready once
its CDS and LDS updates were accepted at least once (``update_success > 0`` for both) and
``/server_info`` says ``LIVE``. After the first success only the ``LIVE`` check is repeated,
as Istio does. With SDS, the first success also needs the workload certificate served to
Envoy. 200 when ready, 503 with the reason otherwise.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from lateen.agent._admin import EnvoyAdmin
from lateen.agent._http import http_request, serve_http

__all__ = ["READY_STATS_PATH", "Readiness", "StatusServer", "parse_readiness_stats", "readiness"]

log = logging.getLogger(__name__)

READY_STATS_PATH = (
    "/stats?usedonly&filter=^(cluster_manager\\.cds|listener_manager\\.lds)\\.(update_success|update_rejected)$"
)
_STAT_LINE = re.compile(r"^(?P<name>[\w.]+):\s*(?P<value>\d+)\s*$", re.M)


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    reason: str = ""


def parse_readiness_stats(text: str) -> dict[str, int]:
    return {m.group("name"): int(m.group("value")) for m in _STAT_LINE.finditer(text)}


def _server_state(server_info: str) -> str:
    try:
        data = json.loads(server_info)
    except ValueError:
        return "UNKNOWN"
    return str(data.get("state", "UNKNOWN")) if isinstance(data, dict) else "UNKNOWN"


def readiness(stats_text: str | None, server_info: str) -> Readiness:
    """Pure: readiness from the admin ``/stats`` text (``None``: skip the stats check, Envoy
    was ready before) and the ``/server_info`` JSON."""
    if stats_text is not None:
        stats = parse_readiness_stats(stats_text)
        cds_ok = stats.get("cluster_manager.cds.update_success", 0)
        cds_bad = stats.get("cluster_manager.cds.update_rejected", 0)
        lds_ok = stats.get("listener_manager.lds.update_success", 0)
        lds_bad = stats.get("listener_manager.lds.update_rejected", 0)
        if cds_ok == 0 or lds_ok == 0:
            return Readiness(
                False,
                "config not received from XDS server (is the control plane running?): "
                f"cds updates: {cds_ok} successful, {cds_bad} rejected; "
                f"lds updates: {lds_ok} successful, {lds_bad} rejected",
            )
    state = _server_state(server_info)
    if state != "LIVE":
        return Readiness(False, f"server is not live, current state is: {state}")
    return Readiness(True)


@dataclass(frozen=True, slots=True)
class AppProber:
    """One rewritten HTTP probe: ``/app-health/<container>/readyz`` -> GET ``path`` on the
    app's ``port`` over the pod's loopback (not captured: the probe bypasses Envoy and so
    the AuthorizationPolicies, as Istio's probe rewrite)."""

    port: int
    path: str = "/"
    timeout_s: float = 1.0


def parse_app_probers(text: str) -> dict[str, AppProber]:
    """Istio's ``ISTIO_KUBE_APP_PROBERS`` JSON: ``{"/app-health/<c>/readyz": {"httpGet":
    {"path": ..., "port": ...}, "timeoutSeconds": ...}}``; unusable entries are left out."""
    if not text.strip():
        return {}
    try:
        raw = json.loads(text)
    except ValueError:
        log.warning("ISTIO_KUBE_APP_PROBERS is not JSON; probes are not rewritten")
        return {}
    out: dict[str, AppProber] = {}
    for url, probe in (raw.items() if isinstance(raw, dict) else ()):
        get = probe.get("httpGet") if isinstance(probe, dict) else None
        if not isinstance(get, dict) or not isinstance(get.get("port"), int):
            continue
        timeout = probe.get("timeoutSeconds")
        out[str(url)] = AppProber(
            get["port"], str(get.get("path") or "/"), float(timeout) if timeout else 1.0
        )
    return out


class StatusServer:
    """``async def run()``: serves ``/healthz/ready`` on ``address:port`` until cancelled."""

    def __init__(
        self,
        admin: EnvoyAdmin,
        address: str,
        port: int = 15021,
        *,
        is_draining: Callable[[], bool] = lambda: False,
        cert_served: Callable[[], str | None] | None = None,
        app_probers: dict[str, AppProber] | None = None,
        app_host: str = "127.0.0.1",
    ) -> None:
        self._app_probers = app_probers or {}
        self._app_host = app_host
        self._admin = admin
        self.address = address
        self.port = port
        self._is_draining = is_draining
        # with SDS: None once the workload certificate was served, else why not
        self._cert_served = cert_served
        self._once_ready = False
        self.bound_port = 0

    async def check(self) -> Readiness:
        if self._is_draining():
            return Readiness(False, "envoy is draining")
        try:
            stats: str | None = None
            if not self._once_ready:
                status, stats = await self._admin.get(READY_STATS_PATH)
                if status != 200:
                    return Readiness(False, f"failed to get readiness stats: admin returned {status}")
            status, info = await self._admin.get("/server_info")
            if status != 200:
                return Readiness(False, f"failed to get server info: admin returned {status}")
        except Exception as e:
            return Readiness(False, f"envoy admin is not reachable: {e!r}")
        result = readiness(stats, info)
        if result.ready and not self._once_ready and self._cert_served is not None:
            problem = self._cert_served()
            if problem is not None:
                return Readiness(False, problem)
        if result.ready:
            self._once_ready = True
        return result

    async def handle(self, method: str, target: str) -> tuple[int, str]:
        """``GET /healthz/ready``: 200 when ready, 503 with the reason; a rewritten app probe
        (``/app-health/...``): the app's answer; 404 otherwise."""
        path = target.partition("?")[0]
        prober = self._app_probers.get(path)
        if prober is not None:
            try:
                status, _ = await http_request(
                    self._app_host, prober.port, "GET", prober.path, prober.timeout_s
                )
            except Exception as e:
                return 503, f"app probe failed: {e!r}\n"
            return (200, "") if 200 <= status < 400 else (status or 503, "")
        if path != "/healthz/ready":
            return 404, "not found\n"
        if method not in ("GET", "HEAD"):
            return 405, "method not allowed\n"
        result = await self.check()
        if result.ready:
            return 200, ""
        log.debug("not ready: %s", result.reason)
        return 503, result.reason + "\n"

    async def run(self) -> None:
        def started(port: int) -> None:
            self.bound_port = port
            log.info("status server on %s:%d", self.address, port)

        await serve_http(self.address, self.port, self.handle, started)
