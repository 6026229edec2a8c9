"""Istio's ``istio.networking.nds.v1.NameTable`` message, wire-compatible with Istio's
``pkg/dns/proto/nds.proto``, built at run time (no protoc, no generated module).

The schema is added to protobuf's default descriptor pool on first use, so that ``Any``
values of this type decode anywhere (``MessageToDict``, the xDS test client, config dumps).
This module imports nothing of Lateen's: the agent uses it without loading the control
plane's model.

Schema (field numbers as Istio's)::

    message NameTable {
      message NameInfo {
        repeated string ips = 1;
        string registry = 2;        // "Kubernetes" | "External"
        string shortname = 3;       // Kubernetes only: the Service name
        string namespace = 4;       // Kubernetes only
        repeated string alt_hosts = 5 [deprecated = true];
      }
      map<string, NameInfo> table = 1;
      NameInfo name_info = 2;
    }
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

__all__ = [
    "NAME_TABLE_TYPE",
    "REGISTRY_EXTERNAL",
    "REGISTRY_KUBERNETES",
    "NameInfo",
    "name_table_class",
    "name_table_from_message",
    "name_table_message",
]

_PACKAGE = "istio.networking.nds.v1"
NAME_TABLE_TYPE = f"type.googleapis.com/{_PACKAGE}.NameTable"
#: ``NameInfo.registry`` values (Istio's provider ids)
REGISTRY_KUBERNETES = "Kubernetes"
REGISTRY_EXTERNAL = "External"

_FILE = "pkg/dns/proto/nds.proto"  # Istio's path of the file, for tools that look it up


@dataclass(frozen=True, slots=True)
class NameInfo:
    """One hostname's entry: its addresses and, for Kubernetes Services, the Service's
    name and namespace (from which the agent derives ``name``, ``name.ns``, ``name.ns.svc``)."""

    ips: tuple[str, ...]
    registry: str = REGISTRY_KUBERNETES
    shortname: str = ""
    namespace: str = ""
    alt_hosts: tuple[str, ...] = ()


def _file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    fd = descriptor_pb2.FieldDescriptorProto
    f = descriptor_pb2.FileDescriptorProto(name=_FILE, package=_PACKAGE, syntax="proto3")
    f.options.go_package = "istio.io/istio/pkg/dns/proto/istio_networking_nds_v1"
    table = f.message_type.add(name="NameTable")
    info = table.nested_type.add(name="NameInfo")
    info.field.add(name="ips", json_name="ips", number=1, type=fd.TYPE_STRING, label=fd.LABEL_REPEATED)
    for number, name in ((2, "registry"), (3, "shortname"), (4, "namespace")):
        info.field.add(name=name, json_name=name, number=number, type=fd.TYPE_STRING,
                       label=fd.LABEL_OPTIONAL)  # fmt: skip
    alt = info.field.add(name="alt_hosts", json_name="altHosts", number=5, type=fd.TYPE_STRING,
                         label=fd.LABEL_REPEATED)  # fmt: skip
    alt.options.deprecated = True
    entry = table.nested_type.add(name="TableEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", json_name="key", number=1, type=fd.TYPE_STRING, label=fd.LABEL_OPTIONAL)
    entry.field.add(name="value", json_name="value", number=2, type=fd.TYPE_MESSAGE,
                    label=fd.LABEL_OPTIONAL, type_name=f".{_PACKAGE}.NameTable.NameInfo")  # fmt: skip
    table.field.add(name="table", json_name="table", number=1, type=fd.TYPE_MESSAGE,
                    label=fd.LABEL_REPEATED, type_name=f".{_PACKAGE}.NameTable.TableEntry")  # fmt: skip
    table.field.add(name="name_info", json_name="nameInfo", number=2, type=fd.TYPE_MESSAGE,
                    label=fd.LABEL_OPTIONAL, type_name=f".{_PACKAGE}.NameTable.NameInfo")  # fmt: skip
    return f


@functools.cache
def name_table_class() -> type[Message]:
    """The ``NameTable`` message class (its schema added to the default pool on first call)."""
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(_FILE)
    except KeyError:
        pool.AddSerializedFile(_file_descriptor().SerializeToString())
    cls: type[Message] = message_factory.GetMessageClass(
        pool.FindMessageTypeByName(f"{_PACKAGE}.NameTable")
    )
    return cls


def name_table_message(table: Mapping[str, NameInfo]) -> Message:
    """``{hostname: NameInfo}`` as a ``NameTable`` message."""
    msg = name_table_class()()
    entries = msg.table  # type: ignore[attr-defined]
    for host, info in table.items():
        e = entries[host]
        e.ips.extend(info.ips)
        e.registry = info.registry
        e.shortname = info.shortname
        e.namespace = info.namespace
        e.alt_hosts.extend(info.alt_hosts)
    return msg


def name_table_from_message(msg: Message) -> dict[str, NameInfo]:
    """A ``NameTable`` message (or its serialized bytes' decoded form) as plain values."""
    entries = msg.table  # type: ignore[attr-defined]
    return {
        host: NameInfo(
            ips=tuple(e.ips),
            registry=e.registry,
            shortname=e.shortname,
            namespace=e.namespace,
            alt_hosts=tuple(e.alt_hosts),
        )
        for host, e in sorted(entries.items())
    }
