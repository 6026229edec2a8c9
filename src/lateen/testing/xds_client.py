"""An asyncio xDS client (SotW and Delta ADS) for tests and benchmarks.

One :class:`XdsClient` is one ADS stream of one simulated proxy::

    async with XdsClient("127.0.0.1:15010", "sidecar~198.18.0.1~a.default~default.svc.cluster.local") as c:
        await c.subscribe(CDS)                 # wildcard
        resp = await c.recv()                  # decoded resources, ACKed automatically
        c.resources(CDS)["outbound|80||a.default.svc.cluster.local"]

With ``auto_ack=False`` every response waits in :meth:`recv` for an explicit :meth:`ack` or
:meth:`nack`; the client's state (resources, versions) changes only on ACK, like Envoy.
The reader runs in a task group owned by the ``async with`` block: nothing outlives it.
Many clients may share one ``grpc.aio.Channel`` (pass ``channel=``) to simulate hundreds
of proxies from one process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import grpc
from envoy.config.cluster.v3 import cluster_pb2  # noqa: F401  (registers the type)
from envoy.config.core.v3 import base_pb2
from envoy.config.endpoint.v3 import endpoint_pb2  # noqa: F401
from envoy.config.listener.v3 import listener_pb2  # noqa: F401
from envoy.config.route.v3 import route_pb2  # noqa: F401
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from google.protobuf import descriptor_pool, message_factory, struct_pb2
from google.protobuf.any_pb2 import Any as AnyPb
from google.protobuf.json_format import ParseDict
from google.protobuf.message import Message
from google.rpc import status_pb2  # type: ignore[import-untyped]

__all__ = ["CDS", "EDS", "LDS", "RDS", "XdsClient", "XdsResponse", "XdsStreamError", "decode_any"]

log = logging.getLogger(__name__)

CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
EDS = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
LDS = "type.googleapis.com/envoy.config.listener.v3.Listener"
RDS = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
_FULL_STATE = frozenset({CDS, LDS})


class XdsStreamError(Exception):
    """The stream ended (``code`` is ``grpc.StatusCode.OK`` when the server closed it cleanly)."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


def decode_any(any_msg: AnyPb) -> Message:
    """Decode an ``Any`` whose type is in the default descriptor pool (else return it as is)."""
    name = any_msg.type_url.rsplit("/", 1)[-1]
    try:
        desc = descriptor_pool.Default().FindMessageTypeByName(name)
    except KeyError:
        return any_msg
    msg: Message = message_factory.GetMessageClass(desc)()
    msg.ParseFromString(any_msg.value)
    return msg


def _resource_name(msg: Message) -> str:
    fields = msg.DESCRIPTOR.fields_by_name
    for f in ("name", "cluster_name"):
        if f in fields:
            return str(getattr(msg, f))
    return ""


@dataclass
class XdsResponse:
    """One response as received: ``resources`` decoded (name -> message, in order),
    ``names`` as received (duplicates kept, to check the server never sends them)."""

    type_url: str
    version: str
    nonce: str
    resources: dict[str, Message]
    names: list[str]
    removed: list[str]
    delta: bool
    raw: Any
    versions: dict[str, str] = field(default_factory=dict)  # Delta: name -> resource version


@dataclass
class _TypeState:
    names: set[str] = field(default_factory=set)
    version: str = ""  # last accepted version (SotW version_info / Delta system_version_info)
    nonce: str = ""  # last nonce received
    resources: dict[str, Message] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    acks: int = 0
    nacks: int = 0


class XdsClient:
    def __init__(
        self,
        target: str,
        node_id: str,
        metadata: Mapping[str, Any] | None = None,
        *,
        delta: bool = False,
        auto_ack: bool = True,
        channel: grpc.aio.Channel | None = None,
        call_metadata: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.target = target
        # gRPC metadata of the stream (Envoy's ``initial_metadata``: the pod's token)
        self.call_metadata = tuple(call_metadata)
        self.node_id = node_id
        self.metadata = dict(metadata or {})
        self.delta = delta
        self.auto_ack = auto_ack
        self._channel = channel
        self._own_channel = channel is None
        self._call: Any = None
        self._tg: asyncio.TaskGroup | None = None
        self._queue: asyncio.Queue[XdsResponse | XdsStreamError] = asyncio.Queue()
        self._write_lock = asyncio.Lock()
        self._node_sent = False
        self._closing = False
        self._state: dict[str, _TypeState] = {}
        self.error: XdsStreamError | None = None
        self.received: list[XdsResponse] = []

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> XdsClient:
        if self._channel is None:
            # like Envoy's gRPC client, no 4 MB cap on what the server may send
            self._channel = grpc.aio.insecure_channel(
                self.target, options=[("grpc.max_receive_message_length", -1)]
            )
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(self._channel)
        md = self.call_metadata or None
        self._call = (
            stub.DeltaAggregatedResources(metadata=md)
            if self.delta
            else stub.StreamAggregatedResources(metadata=md)
        )
        self._tg = asyncio.TaskGroup()
        await self._tg.__aenter__()
        self._tg.create_task(self._read_loop())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing = True
        if self._call is not None:
            self._call.cancel()
        try:
            if self._tg is not None:
                # the body's own exception propagates as is (not wrapped in a group)
                await self._tg.__aexit__(None, None, None)
        finally:
            if self._own_channel and self._channel is not None:
                await self._channel.close(None)

    # -- sending --------------------------------------------------------------------------

    def _node(self) -> base_pb2.Node:
        node = base_pb2.Node(id=self.node_id, cluster="lateen-test")
        if self.metadata:
            md = struct_pb2.Struct()
            ParseDict(self.metadata, md)
            node.metadata.CopyFrom(md)
        return node

    async def send_raw(self, msg: Any) -> None:
        """Send a request as is (the node is added to the first message of the stream)."""
        async with self._write_lock:
            if not self._node_sent:
                if not msg.HasField("node"):
                    msg.node.CopyFrom(self._node())
                self._node_sent = True
            await self._call.write(msg)

    def _st(self, type_url: str) -> _TypeState:
        return self._state.setdefault(type_url, _TypeState())

    async def subscribe(
        self,
        type_url: str,
        names: Iterable[str] = (),
        *,
        version_info: str | None = None,
        initial_resource_versions: Mapping[str, str] | None = None,
        nonce: str | None = None,
    ) -> None:
        """Add ``names`` (none: wildcard on the first request of CDS/LDS). SotW sends the full
        name list with the last accepted version and nonce (override with ``version_info`` /
        ``nonce``, e.g. to resume like a reconnecting Envoy or to send a stale nonce)."""
        st = self._st(type_url)
        new = [n for n in names if n not in st.names]
        st.names.update(new)
        if self.delta:
            req = discovery_pb2.DeltaDiscoveryRequest(
                type_url=type_url,
                resource_names_subscribe=new,
                initial_resource_versions=dict(initial_resource_versions or {}),
                response_nonce=st.nonce if nonce is None else nonce,
            )
        else:
            req = discovery_pb2.DiscoveryRequest(
                type_url=type_url,
                resource_names=sorted(st.names),
                version_info=st.version if version_info is None else version_info,
                response_nonce=st.nonce if nonce is None else nonce,
            )
        await self.send_raw(req)

    async def unsubscribe(
        self, type_url: str, names: Iterable[str], *, nonce: str | None = None
    ) -> None:
        st = self._st(type_url)
        gone = [n for n in names if n in st.names]
        st.names.difference_update(gone)
        for n in gone:
            st.resources.pop(n, None)
            st.versions.pop(n, None)
        if self.delta:
            req: Any = discovery_pb2.DeltaDiscoveryRequest(
                type_url=type_url,
                resource_names_unsubscribe=gone,
                response_nonce=st.nonce if nonce is None else nonce,
            )
        else:
            req = discovery_pb2.DiscoveryRequest(
                type_url=type_url,
                resource_names=sorted(st.names),
                version_info=st.version,
                response_nonce=st.nonce if nonce is None else nonce,
            )
        await self.send_raw(req)

    async def ack(self, resp: XdsResponse) -> None:
        st = self._st(resp.type_url)
        self._apply(st, resp)
        st.acks += 1
        if self.delta:
            req: Any = discovery_pb2.DeltaDiscoveryRequest(
                type_url=resp.type_url, response_nonce=resp.nonce
            )
        else:
            req = discovery_pb2.DiscoveryRequest(
                type_url=resp.type_url,
                version_info=resp.version,
                response_nonce=resp.nonce,
                resource_names=sorted(st.names),
            )
        await self.send_raw(req)

    async def nack(
        self, resp: XdsResponse, message: str = "rejected by test", code: int = 3
    ) -> None:
        """Reject ``resp``: the state stays at the last accepted version (like Envoy)."""
        st = self._st(resp.type_url)
        st.nacks += 1
        err = status_pb2.Status(code=code, message=message)
        if self.delta:
            req: Any = discovery_pb2.DeltaDiscoveryRequest(
                type_url=resp.type_url, response_nonce=resp.nonce, error_detail=err
            )
        else:
            req = discovery_pb2.DiscoveryRequest(
                type_url=resp.type_url,
                version_info=st.version,
                response_nonce=resp.nonce,
                resource_names=sorted(st.names),
                error_detail=err,
            )
        await self.send_raw(req)

    def _apply(self, st: _TypeState, resp: XdsResponse) -> None:
        st.version = resp.version
        if resp.delta:
            for n in resp.removed:
                st.resources.pop(n, None)
                st.versions.pop(n, None)
            st.resources.update(resp.resources)
            st.versions.update(resp.versions)
        elif resp.type_url in _FULL_STATE:
            st.resources = dict(resp.resources)
        else:
            st.resources.update(resp.resources)

    # -- receiving ------------------------------------------------------------------------

    def _decode(self, raw: Any) -> XdsResponse:
        resources: dict[str, Message] = {}
        names: list[str] = []
        versions: dict[str, str] = {}
        if self.delta:
            for r in raw.resources:
                names.append(r.name)
                resources[r.name] = decode_any(r.resource)
                versions[r.name] = r.version
            return XdsResponse(
                raw.type_url,
                raw.system_version_info,
                raw.nonce,
                resources,
                names,
                list(raw.removed_resources),
                True,
                raw,
                versions,
            )
        for a in raw.resources:
            msg = decode_any(a)
            name = _resource_name(msg)
            names.append(name)
            resources[name] = msg
        return XdsResponse(
            raw.type_url, raw.version_info, raw.nonce, resources, names, [], False, raw
        )

    async def _read_loop(self) -> None:
        try:
            while True:
                raw = await self._call.read()
                if raw is grpc.aio.EOF:  # type: ignore[attr-defined]
                    self._end(XdsStreamError(grpc.StatusCode.OK, "stream closed by server"))
                    return
                resp = self._decode(raw)
                st = self._st(resp.type_url)
                st.nonce = resp.nonce
                self.received.append(resp)
                if self.auto_ack:
                    await self.ack(resp)
                self._queue.put_nowait(resp)
        except grpc.aio.AioRpcError as e:
            self._end(XdsStreamError(e.code(), e.details() or ""))
        except asyncio.CancelledError:
            if not self._closing:
                raise
            self._end(XdsStreamError(grpc.StatusCode.CANCELLED, "closed by client"))

    def _end(self, err: XdsStreamError) -> None:
        self.error = err
        self._queue.put_nowait(err)

    async def recv(self, timeout: float = 5.0) -> XdsResponse:
        """The next response (raises :class:`XdsStreamError` once the stream ended and
        ``TimeoutError`` when nothing comes within ``timeout``)."""
        item = await asyncio.wait_for(self._queue.get(), timeout)
        if isinstance(item, XdsStreamError):
            self._queue.put_nowait(item)  # keep raising it
            raise item
        return item

    async def recv_type(self, type_url: str, timeout: float = 5.0) -> XdsResponse:
        """The next response of ``type_url``, skipping others."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            resp = await self.recv(max(0.0, deadline - loop.time()))
            if resp.type_url == type_url:
                return resp

    async def expect_nothing(self, timeout: float = 0.2) -> None:
        """Assert that no response arrives within ``timeout``."""
        try:
            item = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected response: {item!r}")

    # -- state ----------------------------------------------------------------------------

    def resources(self, type_url: str) -> dict[str, Message]:
        return dict(self._st(type_url).resources)

    def names(self, type_url: str) -> list[str]:
        return sorted(self._st(type_url).resources)

    def version(self, type_url: str) -> str:
        return self._st(type_url).version

    def nonce(self, type_url: str) -> str:
        return self._st(type_url).nonce

    def resource_versions(self, type_url: str) -> dict[str, str]:
        return dict(self._st(type_url).versions)

    def subscribed(self, type_url: str) -> set[str]:
        return set(self._st(type_url).names)
