"""Lean simulated Envoy proxies for control-plane benchmarks.

One :class:`SimProxy` is one ADS stream (SotW or Delta) on a raw ``grpc.aio`` call that
behaves like Envoy: CDS and LDS wildcard, then EDS for the EDS clusters it got and RDS for
the route names its listeners use; every response is ACKed. To keep the benchmark process
from being the bottleneck with thousands of proxies:

* the response deserializer parses only the outer ``DiscoveryResponse`` and records the
  message's byte length;
* Cluster / Listener / ClusterLoadAssignment resources are decoded only to extract what the
  proxy needs (names, EDS-ness, RDS names, endpoint count), memoized by the resource's
  serialized bytes (:class:`Memo`): proxies with the same view get identical bytes, so each
  distinct resource is decoded once per benchmark process;
* proxies share a few gRPC channels (:func:`open_channels`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import grpc
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import struct_pb2
from google.protobuf.json_format import ParseDict

__all__ = [
    "CDS",
    "EDS",
    "LDS",
    "RDS",
    "Memo",
    "SimProxy",
    "Watch",
    "open_channels",
]

CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
EDS = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
LDS = "type.googleapis.com/envoy.config.listener.v3.Listener"
RDS = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"

_SOTW_METHOD = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
_DELTA_METHOD = "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources"
_HCM_TYPE = hcm_pb2.HttpConnectionManager.DESCRIPTOR.full_name


def _sotw_deserializer(data: bytes) -> tuple[int, Any]:
    return len(data), discovery_pb2.DiscoveryResponse.FromString(data)


def _delta_deserializer(data: bytes) -> tuple[int, Any]:
    return len(data), discovery_pb2.DeltaDiscoveryResponse.FromString(data)


class Memo:
    """Facts about resources, keyed by their serialized bytes (shared by all proxies)."""

    def __init__(self) -> None:
        self.clusters: dict[bytes, tuple[str, str]] = {}
        self.routes: dict[bytes, str] = {}
        self.listeners: dict[bytes, tuple[str, tuple[str, ...]]] = {}
        self.endpoints: dict[bytes, tuple[str, int]] = {}
        self.decoded = 0

    def cluster(self, value: bytes) -> tuple[str, str]:
        """(cluster name, EDS resource name or "" when the cluster is not of type EDS)."""
        hit = self.clusters.get(value)
        if hit is None:
            c = cluster_pb2.Cluster.FromString(value)
            eds = ""
            if c.type == cluster_pb2.Cluster.EDS:
                eds = c.eds_cluster_config.service_name or c.name
            hit = self.clusters[value] = (c.name, eds)
            self.decoded += 1
        return hit

    def route(self, value: bytes) -> str:
        hit = self.routes.get(value)
        if hit is None:
            hit = self.routes[value] = route_pb2.RouteConfiguration.FromString(value).name
            self.decoded += 1
        return hit

    def listener(self, value: bytes) -> tuple[str, tuple[str, ...]]:
        """(name, RDS route config names used by its HTTP connection managers)."""
        hit = self.listeners.get(value)
        if hit is None:
            lst = listener_pb2.Listener.FromString(value)
            routes: set[str] = set()
            chains = list(lst.filter_chains)
            if lst.HasField("default_filter_chain"):
                chains.append(lst.default_filter_chain)
            for chain in chains:
                for f in chain.filters:
                    tc = f.typed_config
                    if tc.type_url.rsplit("/", 1)[-1] != _HCM_TYPE:
                        continue
                    hcm = hcm_pb2.HttpConnectionManager.FromString(tc.value)
                    if hcm.HasField("rds"):
                        routes.add(hcm.rds.route_config_name)
            hit = self.listeners[value] = (lst.name, tuple(sorted(routes)))
            self.decoded += 1
        return hit

    def endpoints_of(self, value: bytes) -> tuple[str, int]:
        """(cluster name, number of endpoints)."""
        hit = self.endpoints.get(value)
        if hit is None:
            cla = endpoint_pb2.ClusterLoadAssignment.FromString(value)
            n = sum(len(loc.lb_endpoints) for loc in cla.endpoints)
            hit = self.endpoints[value] = (cla.cluster_name, n)
            self.decoded += 1
        return hit


@dataclass
class Watch:
    """What the benchmark is timing, shared by all proxies: EDS clusters (time of the first
    ACKed response giving the cluster ``n`` endpoints) and CDS clusters (first ACKed
    response containing it)."""

    eds: dict[str, int] = field(default_factory=dict)  # cluster -> expected endpoint count
    cds: set[str] = field(default_factory=set)


def open_channels(target: str, n: int) -> list[grpc.aio.Channel]:
    """``n`` channels, each on its own TCP connection (no global subchannel sharing)."""
    opts = [
        ("grpc.use_local_subchannel_pool", 1),
        ("grpc.max_receive_message_length", 256 * 1024 * 1024),
    ]
    return [grpc.aio.insecure_channel(target, options=opts) for _ in range(n)]


class SimProxy:
    """One simulated sidecar on one ADS stream."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        node_id: str,
        metadata: dict[str, Any],
        *,
        delta: bool,
        memo: Memo,
        watch: Watch,
        on_synced: Callable[[SimProxy], None] | None = None,
    ) -> None:
        self.channel = channel
        self.node_id = node_id
        self.metadata = metadata
        self.delta = delta
        self.memo = memo
        self.watch = watch
        self.on_synced = on_synced
        self._call: Any = None
        # subscriptions and what arrived
        self.clusters: dict[str, str] = {}  # CDS name -> EDS resource name ("": not EDS)
        self.eds_names: set[str] = set()
        self.rds_names: set[str] = set()
        self.listener_routes: dict[str, tuple[str, ...]] = {}
        self.nonce: dict[str, str] = {}
        self.version: dict[str, str] = {}
        self._eds_pending: set[str] | None = None  # until initially synced
        self._rds_pending: set[str] | None = None
        self._cds_acked = False
        self._lds_acked = False
        # results
        self.started = 0.0
        self.synced_at: float | None = None
        self.bytes_total = 0
        self.bytes_by_type: dict[str, int] = {}
        self.responses = 0
        self.eds_seen: dict[str, float] = {}  # watched cluster -> time it converged
        self.cds_seen: dict[str, float] = {}
        self.error: str | None = None

    # -- wire ------------------------------------------------------------------------------

    def _node(self) -> base_pb2.Node:
        node = base_pb2.Node(id=self.node_id, cluster="lateen-bench")
        md = struct_pb2.Struct()
        ParseDict(self.metadata, md)
        node.metadata.CopyFrom(md)
        return node

    async def _send(
        self,
        type_url: str,
        *,
        names: Iterable[str] = (),
        subscribe: Iterable[str] = (),
        unsubscribe: Iterable[str] = (),
        first: bool = False,
    ) -> None:
        nonce = self.nonce.get(type_url, "")
        if self.delta:
            req: Any = discovery_pb2.DeltaDiscoveryRequest(
                type_url=type_url,
                response_nonce=nonce,
                resource_names_subscribe=list(subscribe),
                resource_names_unsubscribe=list(unsubscribe),
            )
        else:
            req = discovery_pb2.DiscoveryRequest(
                type_url=type_url,
                version_info=self.version.get(type_url, ""),
                response_nonce=nonce,
                resource_names=sorted(names),
            )
        if first:
            req.node.CopyFrom(self._node())
        await self._call.write(req)

    # -- lifecycle -------------------------------------------------------------------------

    async def run(self) -> None:
        """Open the stream and process responses until cancelled or the stream ends."""
        method = _DELTA_METHOD if self.delta else _SOTW_METHOD
        deser = _delta_deserializer if self.delta else _sotw_deserializer
        req_type: Any = (
            discovery_pb2.DeltaDiscoveryRequest if self.delta else discovery_pb2.DiscoveryRequest
        )
        stream: Any = self.channel.stream_stream(
            method, request_serializer=req_type.SerializeToString, response_deserializer=deser
        )
        self.started = time.monotonic()
        self._call = stream()
        try:
            await self._send(CDS, first=True)
            await self._send(LDS)
            while True:
                item = await self._call.read()
                if item is grpc.aio.EOF:  # type: ignore[attr-defined]
                    self.error = "stream closed by server"
                    return
                size, resp = item
                await self._on_response(size, resp)
        except grpc.aio.AioRpcError as e:
            self.error = f"{e.code().name}: {e.details()}"
        finally:
            self._call.cancel()

    # -- responses -------------------------------------------------------------------------

    def _resources(self, resp: Any) -> list[bytes]:
        if self.delta:
            return [r.resource.value for r in resp.resources]
        return [a.value for a in resp.resources]

    async def _on_response(self, size: int, resp: Any) -> None:
        type_url: str = resp.type_url
        self.responses += 1
        self.bytes_total += size
        self.bytes_by_type[type_url] = self.bytes_by_type.get(type_url, 0) + size
        self.nonce[type_url] = resp.nonce
        values = self._resources(resp)
        removed: list[str] = list(resp.removed_resources) if self.delta else []
        if type_url == CDS:
            await self._on_cds(resp, values, removed)
        elif type_url == LDS:
            await self._on_lds(resp, values, removed)
        elif type_url == EDS:
            await self._on_eds(resp, values)
        elif type_url == RDS:
            await self._on_rds(resp, values)
        else:
            await self._ack(resp)

    async def _ack(self, resp: Any, names: Iterable[str] = ()) -> None:
        if not self.delta:
            self.version[resp.type_url] = resp.version_info
        await self._send(resp.type_url, names=names)

    async def _on_cds(self, resp: Any, values: list[bytes], removed: list[str]) -> None:
        memo = self.memo
        got = [memo.cluster(v) for v in values]
        if self.delta:
            for n in removed:
                self.clusters.pop(n, None)
            self.clusters.update(got)
        else:
            self.clusters = dict(got)
        # like Envoy: (un)subscribe the EDS clusters, then ACK CDS
        want = {eds for eds in self.clusters.values() if eds}
        if want != self.eds_names:
            add, gone = want - self.eds_names, self.eds_names - want
            self.eds_names = want
            if self._eds_pending is not None:
                self._eds_pending |= add
                self._eds_pending -= gone
            if self.delta:
                await self._send(EDS, subscribe=sorted(add), unsubscribe=sorted(gone))
            else:
                await self._send(EDS, names=want)
        if self._eds_pending is None and not self._cds_acked:
            self._eds_pending = set(want)
        await self._ack(resp)
        self._cds_acked = True
        if self.watch.cds:
            now = time.monotonic()
            for name, _ in got:
                if name in self.watch.cds and name not in self.cds_seen:
                    self.cds_seen[name] = now
        self._check_synced()

    async def _on_lds(self, resp: Any, values: list[bytes], removed: list[str]) -> None:
        got = [self.memo.listener(v) for v in values]
        if self.delta:
            for n in removed:
                self.listener_routes.pop(n, None)
            self.listener_routes.update(got)
        else:
            self.listener_routes = dict(got)
        want = {r for routes in self.listener_routes.values() for r in routes}
        if want != self.rds_names:
            add, gone = want - self.rds_names, self.rds_names - want
            self.rds_names = want
            if self._rds_pending is not None:
                self._rds_pending |= add
                self._rds_pending -= gone
            if self.delta:
                await self._send(RDS, subscribe=sorted(add), unsubscribe=sorted(gone))
            else:
                await self._send(RDS, names=want)
        if self._rds_pending is None and not self._lds_acked:
            self._rds_pending = set(want)
        await self._ack(resp)
        self._lds_acked = True
        self._check_synced()

    async def _on_eds(self, resp: Any, values: list[bytes]) -> None:
        got = [self.memo.endpoints_of(v) for v in values]
        await self._ack(resp, self.eds_names)
        if self._eds_pending:
            self._eds_pending.difference_update(n for n, _ in got)
        if self.watch.eds:
            now = time.monotonic()
            for name, count in got:
                want = self.watch.eds.get(name)
                if want is not None and count == want and name not in self.eds_seen:
                    self.eds_seen[name] = now
        self._check_synced()

    async def _on_rds(self, resp: Any, values: list[bytes]) -> None:
        await self._ack(resp, self.rds_names)
        if self._rds_pending:
            self._rds_pending.difference_update(self.memo.route(v) for v in values)
        self._check_synced()

    def _check_synced(self) -> None:
        if (
            self.synced_at is None
            and self._cds_acked
            and self._lds_acked
            and self._eds_pending is not None
            and not self._eds_pending
            and self._rds_pending is not None
            and not self._rds_pending
        ):
            self.synced_at = time.monotonic()
            self._eds_pending = set()
            self._rds_pending = set()
            if self.on_synced is not None:
                self.on_synced(self)


async def cancel_all(tasks: Iterable[asyncio.Task[Any]]) -> None:
    tasks = list(tasks)
    for t in tasks:
        t.cancel()
    for t in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await t


__all__ += ["cancel_all"]
