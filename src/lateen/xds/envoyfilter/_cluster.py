"""CLUSTER patches (Istio's cluster_patch.go): MERGE and REMOVE on the generated clusters,
ADD appends new ones. A sidecar's ``inbound|...`` clusters and InboundPassthroughCluster are
SIDECAR_INBOUND, its other clusters SIDECAR_OUTBOUND; a gateway's are GATEWAY. An ADD
without a context adds to SIDECAR_OUTBOUND (and gateways) only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from envoy.config.cluster.v3 import cluster_pb2

from lateen.model._envoy_filter import EnvoyFilterPatch
from lateen.xds import names
from lateen.xds.envoyfilter._common import (
    ANY,
    GATEWAY,
    MERGES,
    SIDECAR_INBOUND,
    SIDECAR_OUTBOUND,
    clone,
    context_matches,
    guarded,
)
from lateen.xds.envoyfilter._merge import merge, merge_any

__all__ = ["added_clusters", "cluster_context", "patch_cluster"]


def cluster_context(is_router: bool, name: str) -> str:
    if is_router:
        return GATEWAY
    if name.startswith("inbound|") or name == names.INBOUND_PASSTHROUGH_CLUSTER:
        return SIDECAR_INBOUND
    return SIDECAR_OUTBOUND


def _cluster_matches(c: cluster_pb2.Cluster, patch: EnvoyFilterPatch, hosts: Sequence[str]) -> bool:
    m = patch.match.cluster if patch.match is not None else None
    if m is None:
        return True
    if m.name:
        return bool(m.name == c.name)
    direction, port, subset, host = names.parse_cluster_name(c.name) or ("", 0, "", "")
    candidates = list(hosts) if direction == "inbound" and hosts else [host]
    if m.subset and m.subset != subset:
        return False
    if m.service and m.service not in candidates:
        return False
    return not m.port_number or m.port_number == port


def _merge_cluster(c: cluster_pb2.Cluster, patch: EnvoyFilterPatch) -> None:
    value: Any = patch.value
    replace = patch.operation == "MERGE_AND_REPLACE_LIST"
    if not value.HasField("transport_socket"):
        merge(c, value, replace_lists=replace)
        return
    patch_ts = value.transport_socket
    ts = None
    if c.transport_socket_matches:
        ts = next(
            (
                m.transport_socket
                for m in c.transport_socket_matches
                if m.transport_socket.name == patch_ts.name
            ),
            None,
        )
        if ts is None:
            return  # both a transport socket and matches would be invalid: drop the patch
    elif c.HasField("transport_socket") and c.transport_socket.name == patch_ts.name:
        ts = c.transport_socket
    if ts is None:
        c.transport_socket.CopyFrom(patch_ts)
    elif ts.HasField("typed_config") and patch_ts.HasField("typed_config"):
        ts.typed_config.CopyFrom(merge_any(ts.typed_config, patch_ts.typed_config))


def patch_cluster(
    context: str, patches: Sequence[EnvoyFilterPatch], c: cluster_pb2.Cluster, hosts: Sequence[str]
) -> bool:
    """Patch ``c`` in place; False when a REMOVE patch matches it."""
    for p in patches:
        if not context_matches(p, context) or not _cluster_matches(c, p, hosts):
            continue
        if p.operation == "REMOVE":
            return False
        if p.operation in MERGES:
            guarded(p, "CLUSTER", _merge_cluster, c)
    return True


def added_clusters(context: str, patches: Sequence[EnvoyFilterPatch]) -> list[cluster_pb2.Cluster]:
    out = []
    for p in patches:
        if p.operation != "ADD" or p.value is None:
            continue
        if p.context == ANY and context not in (SIDECAR_OUTBOUND, GATEWAY):
            continue
        if context_matches(p, context):
            out.append(clone(p.value))
    return out
