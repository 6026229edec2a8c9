"""An EnvoyFilter patch ``value`` as the Envoy message its ``applyTo`` names (Istio's
``pkg/config/xds.BuildXDSObjectFromStruct``): Envoy's proto JSON, ``typed_config`` as an
``Any`` with ``@type``. Message types named by ``@type`` are loaded on demand from the
xds-protos package of their proto package, so any Envoy extension works."""

from __future__ import annotations

import importlib
import pkgutil
import re
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

__all__ = ["PatchValueError", "patch_value_message", "value_message_class"]

# applyTo -> (module, message) of the object a patch value describes
_VALUE_TYPES = {
    "LISTENER": ("envoy.config.listener.v3.listener_pb2", "Listener"),
    "FILTER_CHAIN": ("envoy.config.listener.v3.listener_components_pb2", "FilterChain"),
    "NETWORK_FILTER": ("envoy.config.listener.v3.listener_components_pb2", "Filter"),
    "LISTENER_FILTER": ("envoy.config.listener.v3.listener_components_pb2", "ListenerFilter"),
    "HTTP_FILTER": (
        "envoy.extensions.filters.network.http_connection_manager.v3.http_connection_manager_pb2",
        "HttpFilter",
    ),
    "ROUTE_CONFIGURATION": ("envoy.config.route.v3.route_pb2", "RouteConfiguration"),
    "VIRTUAL_HOST": ("envoy.config.route.v3.route_components_pb2", "VirtualHost"),
    "HTTP_ROUTE": ("envoy.config.route.v3.route_components_pb2", "Route"),
    "CLUSTER": ("envoy.config.cluster.v3.cluster_pb2", "Cluster"),
    "EXTENSION_CONFIG": ("envoy.config.core.v3.extension_pb2", "TypedExtensionConfig"),
    "BOOTSTRAP": ("envoy.config.bootstrap.v3.bootstrap_pb2", "Bootstrap"),
}
_UNKNOWN_TYPE = re.compile(r"Can not find message descriptor by type_url: (\S+)")
_MAX_LOADS = 64
_V2_TYPE = re.compile(r"/envoy\.(.+\.)?v2(alpha\d*)?\.")


class PatchValueError(ValueError):
    """The value does not describe the applyTo's message (unknown field or type, bad value)."""


def value_message_class(apply_to: str) -> type[Message]:
    entry = _VALUE_TYPES.get(apply_to)
    if entry is None:
        raise PatchValueError(f"Envoy filter: unknown object type for applyTo {apply_to}")
    cls: type[Message] = getattr(importlib.import_module(entry[0]), entry[1])
    return cls


def _load_proto_package(type_url: str) -> bool:
    """Import every ``*_pb2`` module of the proto package of ``type_url``'s message (the
    xds-protos layout mirrors proto packages). False if there is no such package."""
    full_name = type_url.rsplit("/", 1)[-1]
    package = full_name.rpartition(".")[0]
    try:
        mod = importlib.import_module(package)
    except ImportError:
        return False
    paths = getattr(mod, "__path__", None)
    if not paths:
        return False
    loaded = False
    for info in pkgutil.iter_modules(paths):
        if info.name.endswith("_pb2"):
            importlib.import_module(f"{package}.{info.name}")
            loaded = True
    return loaded


def _type_urls(value: Any) -> list[str]:
    if isinstance(value, dict):
        out = [str(value["@type"])] if "@type" in value else []
        for v in value.values():
            out.extend(_type_urls(v))
        return out
    if isinstance(value, list):
        return [u for v in value for u in _type_urls(v)]
    return []


def patch_value_message(apply_to: str, value: dict[str, Any], *, strict: bool = False) -> Message:
    """Parse ``value`` into the message of ``apply_to``. Non-strict parsing ignores unknown
    fields (Istio builds the values it applies that way: config written for another Envoy
    version still applies); strict parsing rejects them (validation warns)."""
    cls = value_message_class(apply_to)
    for url in _type_urls(value):
        if _V2_TYPE.search(url):  # Envoy and Istio dropped the v2 API (xds-protos still ships it)
            raise PatchValueError(
                "referenced type unknown (hint: try using the v3 XDS API): "
                f"could not resolve Any message type: {url}"
            )
    seen: set[str] = set()
    for _ in range(_MAX_LOADS):
        msg = cls()
        try:
            json_format.ParseDict(value, msg, ignore_unknown_fields=not strict)
            return msg
        except json_format.ParseError as e:
            m = _UNKNOWN_TYPE.search(str(e))
            if m is None:
                raise PatchValueError(f"Envoy filter: {e}") from None
            url = m.group(1)
            if url in seen or not _load_proto_package(url):
                hint = " (hint: try using the v3 XDS API)" if ".v2." in url else ""
                raise PatchValueError(
                    f"referenced type unknown{hint}: could not resolve Any message type: {url}"
                ) from None
            seen.add(url)
        except (TypeError, ValueError) as e:
            raise PatchValueError(f"Envoy filter: {e}") from None
    raise PatchValueError("Envoy filter: too many nested message types")  # pragma: no cover
