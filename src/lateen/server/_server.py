"""The ADS gRPC server (our Pilot's xDS server): SotW and Delta over one service."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import grpc
from envoy.service.discovery.v3 import ads_pb2_grpc
from google.protobuf.json_format import MessageToDict
from prometheus_client import CollectorRegistry

from lateen.model import (
    NodeIdError,
    Proxy,
    PushRequest,
    TriggerReason,
    VerifiedIdentity,
    parse_node,
)
from lateen.server._cache import CachedResource, ResourceCache
from lateen.server._clock import Clock, MonotonicClock
from lateen.server._connection import Connection
from lateen.server._metrics import XdsMetrics
from lateen.server._queue import PushQueue
from lateen.server._types import (
    AGENT_TYPES,
    PushContextLike,
    XdsGenerator,
    short_type,
    type_order,
)

__all__ = ["StreamAuthenticator", "XdsServer"]

#: From a stream's metadata and peer to the identity it proves (None: none, or refused).
StreamAuthenticator = Callable[[Sequence[tuple[str, Any]], str], VerifiedIdentity | None]

log = logging.getLogger(__name__)


class XdsServer:
    """Serves ``envoy.service.discovery.v3.AggregatedDiscoveryService``.

    ``generators`` maps type URLs to generators; ``push(push_context, request)`` installs a new
    snapshot and queues a push to every connection that needs it. ``run(address)`` is the
    long-running component (gRPC server + push queue workers).
    """

    def __init__(
        self,
        generators: Mapping[str, XdsGenerator],
        registry: CollectorRegistry,
        clock: Clock | None = None,
        *,
        max_concurrent_pushes: int = 100,
        authenticate: StreamAuthenticator | None = None,
    ) -> None:
        self.generators: dict[str, XdsGenerator] = dict(generators)
        # who a stream's proxy is (its token); without it no proxy is verified and none
        # gets credentials (SDS)
        self.authenticate = authenticate
        self.metrics = XdsMetrics(registry)
        self.clock: Clock = clock or MonotonicClock()
        self.cache = ResourceCache(self.metrics)
        self.queue: PushQueue[Connection] = PushQueue(self._deliver, max_concurrent_pushes)
        self._push_context: PushContextLike | None = None
        self._connections: dict[str, Connection] = {}
        # agents' own streams (NDS for the DNS proxy): served and pushed like any other,
        # but not proxies: not listed (syncz, proxy-status) nor counted in pilot_xds
        self._agent_streams: set[str] = set()
        self._ids = itertools.count(1)
        self.port: int | None = None
        self.ready = asyncio.Event()

    # -- snapshots and pushes -------------------------------------------------------------

    @property
    def push_context(self) -> PushContextLike | None:
        return self._push_context

    def push(self, push_context: PushContextLike, request: PushRequest) -> None:
        """Install ``push_context`` (new connections use it at once) and queue ``request`` for
        every connection whose proxy needs it."""
        self._push_context = push_context
        self.cache.invalidate(push_context.version)
        for conn in list(self._connections.values()):
            if self._needs_push(conn, request):
                self.queue.enqueue(conn, request)

    def _needs_push(self, conn: Connection, request: PushRequest) -> bool:
        for type_url in conn.watched:
            gen = self.generators.get(type_url)
            if gen is not None and gen.needs_push(conn.proxy, request):
                return True
        return False

    async def _deliver(self, conn: Connection, request: PushRequest) -> None:
        await conn.push(request)

    def resources(
        self, proxy: Proxy, type_url: str, push: PushContextLike
    ) -> tuple[CachedResource, ...]:
        return self.cache.get(self.generators[type_url], proxy, push)

    # -- introspection --------------------------------------------------------------------

    def connections(self) -> list[Connection]:
        """The proxies' streams (agents' own streams left out), by id."""
        return sorted(
            (c for c in self._connections.values() if c.id not in self._agent_streams),
            key=lambda c: c.id,
        )

    def agent_streams(self) -> list[Connection]:
        """Streams opened by agents for their own types (the DNS proxy's NDS), by id."""
        return sorted(
            (c for c in self._connections.values() if c.id in self._agent_streams),
            key=lambda c: c.id,
        )

    def find_connections(self, proxy_id: str) -> list[Connection]:
        """Connections whose proxy id (``POD.NS``), node id or connection id is ``proxy_id``."""
        return [c for c in self.connections() if proxy_id in (c.proxy.id, c.node_id, c.id)]

    def config_dump(self, proxy: Proxy) -> dict[str, Any]:
        """What the generators produce for ``proxy`` from the current push context, per type."""
        push = self._push_context
        configs: list[dict[str, Any]] = []
        for type_url in sorted(self.generators, key=type_order):
            resources: list[dict[str, Any]] = []
            if push is not None:
                for e in self.resources(proxy, type_url, push):
                    resources.append(
                        {
                            "name": e.name,
                            "version": e.hash,
                            "resource": MessageToDict(e.any, preserving_proto_field_name=False),
                        }
                    )
            configs.append(
                {"type": short_type(type_url), "type_url": type_url, "resources": resources}
            )
        return {
            "version": push.version if push else "",
            "node_id": proxy.node_id,
            "configs": configs,
        }

    # -- gRPC -----------------------------------------------------------------------------

    def add_to_server(self, server: grpc.aio.Server) -> None:
        ads_pb2_grpc.add_AggregatedDiscoveryServiceServicer_to_server(_Servicer(self), server)

    async def run(self, address: str | None = None, *, grace: float = 0.5) -> None:
        """Serve on ``address`` (``host:port``; port 0 picks a free one, see :attr:`port`) and
        run the push queue until cancelled. Without an address only the push queue runs (the
        caller added this server to its own gRPC server with :meth:`add_to_server`)."""
        server: grpc.aio.Server | None = None
        try:
            if address is not None:
                server = grpc.aio.server()
                self.add_to_server(server)
                self.port = server.add_insecure_port(address)
                await server.start()
                log.info("xDS server listening on %s (port %d)", address, self.port)
            self.ready.set()
            await self.queue.run()
        finally:
            if server is not None:
                await server.stop(grace)

    async def handle_stream(
        self, context: grpc.aio.ServicerContext[Any, Any], protocol: Literal["sotw", "delta"]
    ) -> None:
        first = await context.read()
        if first is grpc.aio.EOF:  # type: ignore[attr-defined]
            return
        node = first.node
        node_id: str = node.id
        try:
            if not node_id:
                raise NodeIdError("the first request of a stream carries no node id")
            metadata = MessageToDict(node.metadata) if node.HasField("metadata") else {}
            proxy = parse_node(node_id, metadata)
        except NodeIdError as e:
            log.warning("rejecting stream from %s: %s", context.peer(), e)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
            return
        proxy = self._verify(proxy, context)
        conn = Connection(
            self,
            f"{proxy.id}-{next(self._ids)}",
            proxy,
            node_id,
            protocol,
            context.write,
            peer=context.peer(),
        )
        version = str(proxy.metadata.get("ISTIO_VERSION") or "unknown")
        agent_stream = first.type_url in AGENT_TYPES
        self._connections[conn.id] = conn
        if agent_stream:
            self._agent_streams.add(conn.id)
        else:
            self.metrics.connected.labels(version).inc()
        log.info(
            "%s: connected (%s%s) from %s",
            conn.id,
            protocol,
            ", agent stream" if agent_stream else "",
            conn.peer,
        )
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(_read_loop(context, conn))
                await conn.run(first)
        finally:
            conn.close()
            self.queue.remove(conn)
            self._connections.pop(conn.id, None)
            if agent_stream:
                self._agent_streams.discard(conn.id)
            else:
                self.metrics.connected.labels(version).dec()
            log.info("%s: disconnected", conn.id)

    def _verify(self, proxy: Proxy, context: grpc.aio.ServicerContext[Any, Any]) -> Proxy:
        """The proxy with the identity its stream proves (Istio: the client certificate on
        15012; here the pod's token in the stream's ``authorization`` metadata). A proxy
        claiming another namespace than its token's stays unverified."""
        if self.authenticate is None:
            return proxy
        metadata = tuple(context.invocation_metadata() or ())
        identity = self.authenticate(metadata, context.peer())
        if identity is None:
            return proxy
        if identity.namespace != proxy.namespace:
            log.warning(
                "%s: token of namespace %s, node claims %s: not verified",
                proxy.id,
                identity.namespace,
                proxy.namespace,
            )
            return proxy
        return dataclasses.replace(proxy, verified_identity=identity)

    def trigger(self, reason: TriggerReason = TriggerReason.DEBUG) -> None:
        """Push the current snapshot to everyone again (debug)."""
        if self._push_context is not None:
            self.push(
                self._push_context,
                PushRequest(full=True, reasons=frozenset({reason}), start=self.clock.now()),
            )


async def _read_loop(context: grpc.aio.ServicerContext[Any, Any], conn: Connection) -> None:
    try:
        while True:
            msg = await context.read()
            if msg is grpc.aio.EOF:  # type: ignore[attr-defined]
                return
            conn.deliver_request(msg)
    except (grpc.aio.AioRpcError, grpc.RpcError, ConnectionError) as e:
        log.debug("%s: read ended: %s", conn.id, e)
    finally:
        conn.deliver_eof()


class _Servicer:
    """Duck-typed ``AggregatedDiscoveryServiceServicer`` delegating to :class:`XdsServer`."""

    def __init__(self, server: XdsServer) -> None:
        self._server = server

    async def StreamAggregatedResources(
        self, request_iterator: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        await self._server.handle_stream(context, "sotw")

    async def DeltaAggregatedResources(
        self, request_iterator: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        await self._server.handle_stream(context, "delta")
