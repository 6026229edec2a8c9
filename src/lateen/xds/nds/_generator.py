"""NDS generator: one ``NameTable`` resource per proxy (Istio's ``NdsGenerator``)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING

from lateen.protos.nds import NAME_TABLE_TYPE, name_table_message
from lateen.xds._generator import Resource
from lateen.xds.nds._builder import build_name_table

if TYPE_CHECKING:
    from lateen.model import PushContext, PushRequest
    from lateen.model._proxy import Proxy

__all__ = ["NDS_SKIPPED_KINDS", "NameTableGenerator"]

#: Kinds whose changes cannot change a name table (as Istio's ``skippedNdsConfigs``).
NDS_SKIPPED_KINDS = frozenset(
    {
        "Gateway",
        "VirtualService",
        "DestinationRule",
        "EnvoyFilter",
        "WorkloadEntry",
        "WorkloadGroup",
        "AuthorizationPolicy",
        "RequestAuthentication",
        "PeerAuthentication",
    }
)

#: Istio's agent reads the table from the one resource of the response; it has no name.
RESOURCE_NAME = ""


class NameTableGenerator:
    type_url = NAME_TABLE_TYPE

    def needs_push(self, proxy: Proxy, request: PushRequest) -> bool:
        """Full pushes, unless every changed object is of a kind that names no host."""
        if not request.full:
            return False
        kinds = request.kinds()
        return not kinds or not kinds <= NDS_SKIPPED_KINDS

    def cache_key(self, proxy: Proxy, push: PushContext) -> Hashable | None:
        # the table depends on the proxy only through the services it sees: its namespace
        # and, when some config selects workloads by label, the Sidecar that applies
        labels = tuple(sorted(proxy.labels.items())) if push.selects_on_labels else None
        return (push.version, proxy.namespace, labels)

    def generate(self, proxy: Proxy, push: PushContext) -> list[Resource]:
        return [Resource(RESOURCE_NAME, name_table_message(build_name_table(proxy, push)))]
