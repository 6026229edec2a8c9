"""The agent's NDS client: its own ADS stream (SotW) to the control plane, subscribed to the
name table only, under the node id of its Envoy. Istio's agent multiplexes this request
onto Envoy's stream through its xDS proxy; Lateen's Envoy talks to the control plane
directly, so the agent opens a second stream, which the server recognises as an agent
stream (not a second proxy) by its first request's type.

Each response's table is handed to ``on_table`` and acknowledged; one that cannot be decoded
is NACKed. When the stream ends or cannot be opened, it is reopened with exponential backoff
(reset once a response arrives); the DNS proxy keeps answering from the last table."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from google.protobuf import struct_pb2
from google.protobuf.json_format import ParseDict
from google.rpc import status_pb2  # type: ignore[import-untyped]

from lateen.protos.nds import NAME_TABLE_TYPE, NameInfo, name_table_class, name_table_from_message

__all__ = ["NdsClient"]

log = logging.getLogger(__name__)

_INVALID_ARGUMENT = 3


class NdsClient:
    def __init__(
        self,
        address: str,
        node: Mapping[str, Any],
        on_table: Callable[[Mapping[str, NameInfo]], None],
        *,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 15.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.address = address
        self.node = node
        self.on_table = on_table
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self._sleep = sleep
        self.version = ""  # last accepted version
        self.attempts = 0  # streams tried
        self.acks = 0
        self.nacks = 0

    def _node(self) -> base_pb2.Node:
        node = base_pb2.Node(id=str(self.node.get("id", "")), cluster=str(self.node.get("cluster", "")))
        metadata = self.node.get("metadata")
        if metadata:
            md = struct_pb2.Struct()
            ParseDict(dict(metadata), md)
            node.metadata.CopyFrom(md)
        return node

    async def run(self) -> None:
        """Keep a stream open until cancelled."""
        delay = self.backoff_initial_s
        while True:
            got = False
            try:
                got, reason = await self._stream()
            except grpc.aio.AioRpcError as e:
                reason = f"{e.code().name}: {e.details()}"
            except Exception as e:  # a bug must not stop DNS: log it, retry later
                log.exception("NDS stream failed")
                reason = repr(e)
            if got:
                delay = self.backoff_initial_s
            log.warning(
                "NDS stream to %s ended (%s); reconnecting in %.2fs", self.address, reason, delay
            )
            await self._sleep(delay)
            delay = min(delay * 2, self.backoff_max_s)

    async def _stream(self) -> tuple[bool, str]:
        """One stream: subscribe, then apply and ACK responses until it ends. Returns whether
        any response arrived, and why it ended."""
        got = False
        async with grpc.aio.insecure_channel(
            self.address, options=[("grpc.max_receive_message_length", -1)]
        ) as channel:
            call: Any = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel).StreamAggregatedResources()
            self.attempts += 1
            await call.write(
                discovery_pb2.DiscoveryRequest(
                    node=self._node(), type_url=NAME_TABLE_TYPE, version_info=self.version
                )
            )
            while True:
                resp = await call.read()
                if resp is grpc.aio.EOF:  # type: ignore[attr-defined]
                    return got, "closed by the control plane"
                if resp.type_url != NAME_TABLE_TYPE:
                    continue
                got = True
                await call.write(self._apply(resp))

    def _apply(self, resp: discovery_pb2.DiscoveryResponse) -> discovery_pb2.DiscoveryRequest:
        """Hand the response's table over and return its ACK (or NACK)."""
        try:
            if resp.resources:  # an empty response changes nothing (as Istio's agent)
                msg = name_table_class()()
                if not resp.resources[0].Unpack(msg):
                    raise ValueError(f"resource of type {resp.resources[0].type_url!r}")
                self.on_table(name_table_from_message(msg))
        except Exception as e:
            self.nacks += 1
            log.warning("NDS response %s rejected: %s", resp.version_info, e)
            return discovery_pb2.DiscoveryRequest(
                type_url=NAME_TABLE_TYPE,
                version_info=self.version,
                response_nonce=resp.nonce,
                error_detail=status_pb2.Status(code=_INVALID_ARGUMENT, message=str(e)),
            )
        self.acks += 1
        self.version = resp.version_info
        log.debug("NDS version %s applied", resp.version_info)
        return discovery_pb2.DiscoveryRequest(
            type_url=NAME_TABLE_TYPE, version_info=resp.version_info, response_nonce=resp.nonce
        )
