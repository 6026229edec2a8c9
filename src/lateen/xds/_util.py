"""Small protobuf helpers shared by the generators."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from envoy.config.core.v3 import address_pb2, base_pb2, config_source_pb2
from google.protobuf import any_pb2, duration_pb2, struct_pb2
from google.protobuf.message import Message

__all__ = [
    "ads_config_source",
    "duration",
    "pack",
    "socket_address",
    "struct",
]


def pack(msg: Message) -> any_pb2.Any:
    out = any_pb2.Any()
    out.Pack(msg)
    return out


def duration(seconds: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromNanoseconds(round(seconds * 1e9))
    return d


def socket_address(address: str, port: int) -> Any:
    return address_pb2.Address(
        socket_address=address_pb2.SocketAddress(address=address, port_value=port)
    )


def ads_config_source() -> Any:
    return config_source_pb2.ConfigSource(
        ads=config_source_pb2.AggregatedConfigSource(),
        resource_api_version=config_source_pb2.V3,
    )


def struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(dict(value))
    return s


def filter_metadata(entries: Mapping[str, Mapping[str, Any]]) -> Any:
    md = base_pb2.Metadata()
    for key, value in sorted(entries.items()):
        md.filter_metadata[key].CopyFrom(struct(value))
    return md


def sorted_by_name(items: Iterable[Any]) -> list[Any]:
    return sorted(items, key=lambda r: r.name)
