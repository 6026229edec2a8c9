"""Protobuf merge as Istio's ``pkg/proto/merge``: set fields of ``src`` overwrite scalars,
messages merge recursively, lists append (or are replaced for MERGE_AND_REPLACE_LIST), map
entries are replaced, and a ``Duration`` is replaced whole (``5s`` over ``1.5s`` is ``5s``).
An ``Any`` merges as its bytes: the patch's replaces it; :func:`merge_any` merges the
messages inside two ``Any`` values."""

from __future__ import annotations

from typing import Any

from google.protobuf import any_pb2, symbol_database
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

__all__ = ["merge", "merge_any", "unpack"]

_DURATION = "google.protobuf.Duration"


def merge(dst: Message, src: Message, *, replace_lists: bool = False) -> None:
    if dst.DESCRIPTOR.full_name != src.DESCRIPTOR.full_name:
        raise TypeError(f"cannot merge {src.DESCRIPTOR.full_name} into {dst.DESCRIPTOR.full_name}")
    for fd, value in src.ListFields():
        _merge_field(dst, fd, value, replace_lists)


def _merge_field(dst: Message, fd: FieldDescriptor, value: Any, replace_lists: bool) -> None:
    name = fd.name
    target: Any = getattr(dst, name)
    mt: Any = fd.message_type
    is_message = mt is not None
    if fd.is_repeated:
        if is_message and mt.GetOptions().map_entry:
            val_fd = mt.fields_by_name["value"]
            for k, v in value.items():
                if val_fd.message_type is not None:
                    target[k].CopyFrom(v)
                else:
                    target[k] = v
            return
        if replace_lists:
            del target[:]
        target.extend(value)
        return
    if is_message:
        sub: Message = target
        if mt.full_name == _DURATION:
            sub.CopyFrom(value)
            return
        sub.SetInParent()
        merge(sub, value, replace_lists=replace_lists)
        return
    setattr(dst, name, value)


def unpack(any_msg: any_pb2.Any, type_url: str | None = None) -> Message:
    """The message inside ``any_msg`` (read as ``type_url``'s type when given)."""
    full_name = (type_url or any_msg.type_url).rsplit("/", 1)[-1]
    cls: Any = symbol_database.Default().GetSymbol(full_name)
    msg: Message = cls()
    msg.ParseFromString(any_msg.value)
    return msg


def merge_any(dst: any_pb2.Any, src: any_pb2.Any) -> any_pb2.Any:
    """Merge the message in ``src`` into the one in ``dst`` (read as ``dst``'s type, as Istio
    does when the type URLs differ) and pack the result."""
    base = unpack(dst)
    merge(base, unpack(src, dst.type_url))
    out = any_pb2.Any()
    out.Pack(base)
    return out
