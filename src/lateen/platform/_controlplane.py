"""The control plane assembled from its parts: a config store in, xDS out.

Platform-independent: ``lateen discovery`` feeds it a watched directory, the local platform
its own store. Every change event becomes a :class:`PushRequest`; the debouncer merges
bursts; each debounced push builds one frozen :class:`PushContext` and hands it to the ADS
server, which pushes to the connections that need it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from lateen.api import ConfigObject
from lateen.config import ConfigEvent, ConfigStore
from lateen.model import (
    JwksResolver,
    MeshConfig,
    PushContext,
    PushRequest,
    TriggerReason,
    build_push_context,
    jwks_uris,
    load_mesh_config,
    mesh_config_from_configmap,
)
from lateen.platform._jwks import HttpJwksSource
from lateen.server import Clock, Debouncer, MonotonicClock, XdsServer, make_debug_app
from lateen.xds import default_generators

__all__ = ["ControlPlane", "ControlPlaneOptions", "mesh_service_accounts", "push_request_for"]

log = logging.getLogger(__name__)

# kinds whose change only moves endpoints: an incremental (EDS) push is enough (a Pod
# carries its address, labels and readiness: what endpoints are made of)
_ENDPOINT_KINDS = frozenset({"Endpoints", "EndpointSlice", "WorkloadEntry", "Pod"})
# kinds that do not affect any proxy's config
_IGNORED_KINDS = frozenset({"ServiceAccount", "Secret", "Deployment"})


@dataclass(frozen=True, slots=True)
class ControlPlaneOptions:
    xds_port: int = 15010
    monitoring_port: int = 15014
    listen_address: str = "127.0.0.1"
    mesh_config: Path | None = None
    debounce_after: float = 0.1
    debounce_max: float = 10.0


def push_request_for(events: Iterable[ConfigEvent], now: float) -> PushRequest | None:
    """The push a batch of config changes calls for (None when nothing a proxy sees changed)."""
    keys = frozenset(e.key for e in events if e.key.kind not in _IGNORED_KINDS)
    if not keys:
        return None
    endpoint_only = all(k.kind in _ENDPOINT_KINDS for k in keys)
    reason = TriggerReason.ENDPOINT if endpoint_only else TriggerReason.CONFIG
    return PushRequest(full=not endpoint_only, config_updated=keys, reasons=frozenset({reason}), start=now)


def mesh_service_accounts(push: Any) -> dict[tuple[str, str], frozenset[tuple[str, str]]]:
    """(hostname, namespace) -> the (namespace, service account) of its sidecar endpoints."""
    out: dict[tuple[str, str], frozenset[tuple[str, str]]] = {}
    for (host, ns), eps in push.registry.endpoints.items():
        accounts = frozenset((e.namespace, e.service_account) for e in eps if e.tls_mode == "istio")
        if accounts:
            out[(host, ns)] = accounts
    return out


def mesh_from_objects(objects: Iterable[ConfigObject], root_namespace: str = "istio-system") -> MeshConfig | None:
    """MeshConfig from ConfigMap ``istio`` in the root namespace (key ``mesh``), as istiod reads it."""
    for obj in objects:
        if obj.kind == "ConfigMap" and obj.name == "istio" and obj.namespace == root_namespace:
            data = obj.spec.get("data") or {}
            return mesh_config_from_configmap(data)
    return None


class ControlPlane:
    """Config store -> debounced pushes -> ADS server, plus the monitoring/debug HTTP app."""

    def __init__(
        self,
        store: ConfigStore,
        options: ControlPlaneOptions | None = None,
        *,
        clock: Clock | None = None,
        metrics: CollectorRegistry | None = None,
        jwks: JwksResolver | None = None,
    ) -> None:
        self.store = store
        self.options = options or ControlPlaneOptions()
        self.clock: Clock = clock or MonotonicClock()
        # RequestAuthentication jwksUri: fetched here and inlined, as istiod does by default
        self.jwks = jwks or JwksResolver(HttpJwksSource(), self.clock)
        self.metrics = metrics or CollectorRegistry()
        self.server = XdsServer(default_generators(), self.metrics, self.clock)
        self.debouncer = Debouncer(
            self.clock,
            self._push,
            debounce_after=self.options.debounce_after,
            debounce_max=self.options.debounce_max,
        )
        self._versions = itertools.count(1)
        self._fixed_mesh: MeshConfig | None = None
        self._service_accounts: dict[tuple[str, str], frozenset[tuple[str, str]]] = {}
        if self.options.mesh_config is not None:
            self._fixed_mesh = load_mesh_config(self.options.mesh_config.read_text())
        self.ready = asyncio.Event()
        self._gateway_conflicts: set[str] = set()
        self.monitoring_port: int | None = None
        store.subscribe(self._on_events)

    # -- building snapshots ----------------------------------------------------------------

    def mesh(self, objects: Iterable[ConfigObject]) -> MeshConfig:
        if self._fixed_mesh is not None:
            return self._fixed_mesh
        try:
            return mesh_from_objects(objects) or MeshConfig()
        except ValueError as e:
            log.error("ConfigMap istio-system/istio: invalid mesh config, using defaults: %s", e)
            return MeshConfig()

    def build(self, objects: list[ConfigObject] | None = None) -> PushContext:
        """The snapshot of ``objects`` (default: the store's), with the key sets fetched so
        far (see :meth:`sync_jwks`)."""
        if objects is None:
            objects = list(self.store.snapshot().values())
        push = build_push_context(
            objects, self.mesh(objects), str(next(self._versions)), jwks=self.jwks.snapshot()
        )
        conflicts = {c.message() for c in push.gateway_conflicts()}
        for message in sorted(conflicts - self._gateway_conflicts):
            log.warning("%s", message)  # as istiod, once per new conflict
        self._gateway_conflicts = conflicts
        return push

    async def sync_jwks(self, objects: list[ConfigObject]) -> None:
        """Fetch the jwksUris the config names that were never fetched (before the push that
        first needs them, as istiod does) and forget the ones no longer named."""
        await self.jwks.sync(jwks_uris(objects))

    def _on_jwks_change(self, uris: frozenset[str]) -> None:
        """A refreshed key set changed: push the proxies whose policies name it."""
        keys = frozenset(
            o.key
            for o in self.store.snapshot().values()
            if (o.group, o.kind) == ("security.istio.io", "RequestAuthentication")
            and any(r.jwks_uri in uris for r in o.spec.jwt_rules)
        )
        log.info("jwks changed for %s: pushing", ", ".join(sorted(uris)))
        self.debouncer.enqueue(
            PushRequest(
                full=True,
                config_updated=keys,
                reasons=frozenset({TriggerReason.CONFIG}),
                start=self.clock.now(),
            )
        )

    def _on_events(self, events: list[ConfigEvent]) -> None:
        request = push_request_for(events, self.clock.now())
        if request is not None:
            self.debouncer.enqueue(request)

    async def _push(self, request: PushRequest) -> None:
        objects = list(self.store.snapshot().values())
        await self.sync_jwks(objects)
        push = self.build(objects)
        accounts = mesh_service_accounts(push)
        if not request.full and accounts != self._service_accounts:
            # the SANs clients check (auto mTLS) are in CDS: a full push, as Istio does
            # when an endpoint update changes a service's accounts
            request = dataclasses.replace(request, full=True, config_updated=frozenset())
        self._service_accounts = accounts
        log.info(
            "push %s: %s (%d change(s) merged, %d object(s) changed)",
            push.version,
            "full" if request.full else "endpoints",
            request.count,
            len(request.config_updated),
        )
        self.server.push(push, request)

    # -- running ---------------------------------------------------------------------------

    async def _serve_monitoring(self) -> None:
        app = make_debug_app(self.server, self.metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.options.listen_address, self.options.monitoring_port)
        try:
            await site.start()
            server = getattr(site, "_server", None)
            sockets = getattr(server, "sockets", None) or []
            self.monitoring_port = sockets[0].getsockname()[1] if sockets else self.options.monitoring_port
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    async def run(self) -> None:
        """Serve until cancelled. The first snapshot is built before the server accepts streams."""
        objects = list(self.store.snapshot().values())
        await self.sync_jwks(objects)
        self.server.push(
            self.build(objects), PushRequest(full=True, reasons=frozenset({TriggerReason.GLOBAL}))
        )
        address = f"{self.options.listen_address}:{self.options.xds_port}"
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.server.run(address))
            tg.create_task(self.debouncer.run())
            tg.create_task(self._serve_monitoring())
            tg.create_task(self.jwks.run(self._on_jwks_change))
            await self.server.ready.wait()
            self.ready.set()
