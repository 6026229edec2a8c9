"""``lateen proxy-status [POD]`` and ``lateen proxy-config KIND POD``: istioctl's views of
the running mesh's proxies. proxy-status reads the control plane's ``/debug/syncz``;
proxy-config reads the pod's Envoy admin (``/config_dump``, ``/clusters?format=json``).
The tables themselves are built by :mod:`lateen.cli._proxy_tables`."""

from __future__ import annotations

import argparse
import contextlib
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from lateen.cli._common import (
    add_namespace,
    add_state_dir,
    connect_or_fail,
    fetch_admin_json,
    fetch_json,
    format_table,
    list_pods,
    resolve_pod,
)

__all__ = ["add_parser", "add_status_parser", "envoy_version", "find_pod", "run", "run_status"]

_KINDS = ["cluster", "listener", "route", "endpoint", "bootstrap", "secret", "all"]
_ALIASES = {"clusters": "cluster", "c": "cluster", "listeners": "listener", "l": "listener",
            "routes": "route", "r": "route", "endpoints": "endpoint", "ep": "endpoint",
            "b": "bootstrap", "secrets": "secret", "s": "secret", "a": "all"}


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "proxy-config",
        aliases=["pc"],
        help="show a pod's Envoy configuration (clusters, listeners, routes, endpoints...)",
        description="Read the Envoy admin of a pod's proxy and print its configuration as "
        "istioctl proxy-config does: KIND is cluster, listener, route, endpoint, bootstrap, "
        "secret or all.",
    )
    p.add_argument("kind", metavar="KIND", choices=_KINDS + sorted(_ALIASES),
                   help="cluster|listener|route|endpoint|bootstrap|secret|all")
    p.add_argument("pod", metavar="POD[.NS]|deploy/NAME", help="the pod whose proxy to read")
    add_namespace(p)
    p.add_argument("-o", "--output", choices=["short", "json", "yaml"], default="short",
                   help="short (tables, default), json or yaml")
    p.add_argument("--fqdn", default="", help="cluster: clusters whose name contains FQDN")
    p.add_argument("--port", type=int, default=0,
                   help="cluster, listener, endpoint: only this port")
    p.add_argument("--subset", default="", help="cluster: only this subset")
    p.add_argument("--direction", default="", choices=["", "inbound", "outbound"],
                   help="cluster: inbound or outbound")
    p.add_argument("--address", default="", help="listener, endpoint: only this address")
    p.add_argument("--type", default="", help="listener: HTTP, TCP or HTTP+TCP")
    p.add_argument("--name", default="", help="route: only this route configuration")
    p.add_argument("--cluster", default="", help="endpoint: only this cluster")
    p.add_argument("--status", default="", help="endpoint: only this health status (HEALTHY...)")
    add_state_dir(p)
    return p


def add_status_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "proxy-status",
        aliases=["ps"],
        help="show whether each proxy has the control plane's latest config",
        description="For each proxy connected to the control plane: whether its clusters (CDS), "
        "listeners (LDS), endpoints (EDS), routes (RDS) and extension configs (ECDS) are "
        "SYNCED (acknowledged), STALE (sent, not acknowledged) or NOT SENT.",
    )
    p.add_argument("pod", nargs="?", metavar="POD[.NS]|deploy/NAME", help="only this pod's proxy")
    add_namespace(p)
    add_state_dir(p)
    return p


def find_pod(
    pods: Sequence[Mapping[str, Any]], target: str, namespace: str
) -> tuple[Mapping[str, Any] | None, str]:
    """:func:`resolve_pod`, also accepting istioctl's ``POD.NAMESPACE``."""
    pod, error = resolve_pod(pods, target, namespace)
    if pod is None and "." in target and "/" not in target:
        name, _, ns = target.rpartition(".")
        alt, _ = resolve_pod(pods, name, ns)
        if alt is not None:
            return alt, ""
    return pod, error


def envoy_version(server_info: Mapping[str, Any]) -> str:
    """``1.36.2`` of Envoy's ``/server_info`` version ``<sha>/1.36.2/Clean/RELEASE/BoringSSL``."""
    version = str(server_info.get("version", ""))
    parts = version.split("/")
    return parts[1] if len(parts) > 1 else version


def _pod_and_admin(args: argparse.Namespace) -> tuple[Mapping[str, Any], str] | None:
    conn = connect_or_fail(args)
    if conn is None:
        return None
    pods = list_pods(conn[0])
    if pods is None:
        return None
    pod, error = find_pod(pods, args.pod, args.namespace)
    if pod is None:
        print(error, file=sys.stderr)
        return None
    admin = str(pod.get("admin") or "")
    if not admin:
        print(f"error: pod {pod.get('name')}.{pod.get('namespace')} has no proxy (no istio-proxy container)",
              file=sys.stderr)
        return None
    return pod, admin


def run(args: argparse.Namespace) -> int:
    from lateen.cli._proxy_tables import (
        ClusterFilter,
        ConfigQuery,
        EndpointFilter,
        ListenerFilter,
        render_proxy_config,
    )

    kind = _ALIASES.get(args.kind, args.kind)
    found = _pod_and_admin(args)
    if found is None:
        return 1
    pod, admin = found
    query = ConfigQuery(
        kind=kind,
        output=args.output,
        clusters=ClusterFilter(fqdn=args.fqdn, port=args.port, subset=args.subset, direction=args.direction),
        listeners=ListenerFilter(address=args.address, port=args.port, type=args.type),
        route_name=args.name,
        endpoints=EndpointFilter(address=args.address, port=args.port, cluster=args.cluster, status=args.status),
    )
    try:
        dump = fetch_admin_json(pod, "/config_dump") if kind != "endpoint" else {}
        clusters = fetch_admin_json(pod, "/clusters?format=json") if kind in ("endpoint", "all") else {}
    except (OSError, ValueError) as e:
        print(f"error: cannot read the Envoy admin of {pod.get('name')}.{pod.get('namespace')} at {admin}: {e}",
              file=sys.stderr)
        return 1
    sys.stdout.write(render_proxy_config(query, dump, clusters))
    return 0


def run_status(args: argparse.Namespace) -> int:
    from lateen.cli._proxy_tables import PADDING, status_rows

    conn = connect_or_fail(args)
    if conn is None:
        return 1
    client, info = conn
    try:
        syncz: list[dict[str, Any]] = fetch_json(f"http://{info.monitoring_address}/debug/syncz")
    except (OSError, ValueError) as e:
        print(f"error: cannot read the control plane's /debug/syncz at {info.monitoring_address}: {e}",
              file=sys.stderr)
        return 1
    pods = list_pods(client)
    if pods is None:
        return 1
    if args.pod:
        pod, error = find_pod(pods, args.pod, args.namespace)
        if pod is None:
            print(error, file=sys.stderr)
            return 1
        proxy_id = f"{pod.get('name')}.{pod.get('namespace')}"
        syncz = [e for e in syncz if e.get("proxy") == proxy_id]
        if not syncz:
            print(f"error: the proxy of {proxy_id} is not connected to the control plane", file=sys.stderr)
            return 1
    # VERSION falls back to the Envoy version (istioctl's "*") for proxies without ISTIO_VERSION
    by_id = {f"{p.get('name')}.{p.get('namespace')}": p for p in pods if p.get("admin")}
    versions: dict[str, str] = {}
    for entry in syncz:
        proxy = str(entry.get("proxy", ""))
        if not entry.get("istio_version") and proxy in by_id:
            with contextlib.suppress(OSError, ValueError, subprocess.TimeoutExpired):
                versions[proxy] = envoy_version(fetch_admin_json(by_id[proxy], "/server_info", timeout=3))
    istiod = socket.gethostname() or "lateen"
    sys.stdout.write(format_table(status_rows(syncz, istiod, versions), padding=PADDING["status"]))
    return 0
