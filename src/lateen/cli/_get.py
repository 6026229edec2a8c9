"""``lateen get KIND [NAME] [-n NS | -A] [-o yaml|json|wide|name]``: kubectl get for the
running local mesh. Pods come from the kubelet (containers, restarts, readiness); every
other kind from the applied config."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lateen.cli._common import add_state_dir, connect_or_fail, format_table, human_age

if TYPE_CHECKING:
    from lateen.api import KindInfo

__all__ = [
    "add_parser",
    "as_output",
    "deployment_rows",
    "not_found",
    "object_rows",
    "pod_rows",
    "pod_status",
    "resource_name",
    "run",
    "service_rows",
]

Obj = Mapping[str, Any]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "get",
        help="list objects of the running mesh (pods, services, deployments, Istio config...)",
        description="Show objects as kubectl does: KIND is a kind, plural or short name "
        "(pods, po, svc, deploy, vs, dr, gw, virtualservices.networking.istio.io...).",
    )
    p.add_argument("kind", metavar="KIND", help="kind, plural or short name")
    p.add_argument("name", nargs="?", metavar="NAME", help="one object by name")
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", default="default", metavar="NS",
                       help="namespace (default: default)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    p.add_argument("-o", "--output", choices=["yaml", "json", "wide", "name"],
                   help="yaml|json: the objects; wide: more columns; name: KIND/NAME")
    add_state_dir(p)
    return p


# -- pure helpers -----------------------------------------------------------------------------


def resource_name(info: KindInfo) -> str:
    """``pods``, ``deployments.apps``, ``virtualservices.networking.istio.io``."""
    return f"{info.plural}.{info.group}" if info.group else info.plural


def not_found(info: KindInfo, name: str) -> str:
    return f'Error from server (NotFound): {resource_name(info)} "{name}" not found'


def _age(now: float, created: float | None) -> str:
    return human_age(now - created) if created else "<unknown>"


def _created(obj: Obj) -> float | None:
    stamp = (obj.get("metadata") or {}).get("creationTimestamp")
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(str(stamp)).timestamp()
    except ValueError:
        return None


def pod_status(pod: Obj) -> str:
    """kubectl's STATUS: the phase, or why a container is not running (CrashLoopBackOff
    while a container waits to be restarted, RunContainerError when it cannot start,
    ContainerCreating before it first runs)."""
    phase = str(pod.get("phase") or "Unknown")
    if phase in ("Terminating", "Failed", "Succeeded"):
        return phase
    for c in pod.get("containers") or []:
        if c.get("running"):
            continue
        reason = str(c.get("reason") or "")
        if reason.startswith("cannot start"):
            return "RunContainerError"
        if c.get("last_exit") is not None or c.get("restarts"):
            return "CrashLoopBackOff"
        if phase == "Running":
            return "ContainerCreating"
    return phase


def pod_rows(pods: Sequence[Obj], now: float, *, wide: bool = False, all_namespaces: bool = False) -> list[list[str]]:
    """``NAME READY STATUS RESTARTS AGE`` (+ ``IP`` with ``-o wide``), READY counting every
    container, istio-proxy included."""
    header = ["NAME", "READY", "STATUS", "RESTARTS", "AGE"] + (["IP"] if wide else [])
    rows = [(["NAMESPACE"] if all_namespaces else []) + header]
    for p in sorted(pods, key=lambda p: (str(p.get("namespace", "")), str(p.get("name", "")))):
        containers = p.get("containers") or []
        ready = sum(1 for c in containers if c.get("ready"))
        restarts = sum(int(c.get("restarts") or 0) for c in containers)
        row = [str(p.get("name", "")), f"{ready}/{len(containers)}", pod_status(p), str(restarts),
               _age(now, p.get("created"))]
        if wide:
            row.append(str(p.get("ip") or "<none>"))
        rows.append(([str(p.get("namespace", ""))] if all_namespaces else []) + row)
    return rows


def _ports(spec: Obj) -> str:
    out = []
    for port in spec.get("ports") or []:
        text = str(port.get("port", ""))
        if port.get("nodePort"):
            text += f":{port['nodePort']}"
        out.append(f"{text}/{port.get('protocol') or 'TCP'}")
    return ",".join(out) or "<none>"


def _selector(selector: Obj | None) -> str:
    return ",".join(f"{k}={v}" for k, v in (selector or {}).items()) or "<none>"


def service_rows(services: Sequence[Obj], now: float, *, wide: bool = False, all_namespaces: bool = False) -> list[list[str]]:
    """``NAME TYPE CLUSTER-IP PORT(S) AGE`` (+ ``SELECTOR`` with ``-o wide``)."""
    header = ["NAME", "TYPE", "CLUSTER-IP", "PORT(S)", "AGE"] + (["SELECTOR"] if wide else [])
    rows = [(["NAMESPACE"] if all_namespaces else []) + header]
    for s in services:
        spec = s.get("spec") or {}
        meta = s.get("metadata") or {}
        row = [str(meta.get("name", "")), str(spec.get("type") or "ClusterIP"),
               str(spec.get("clusterIP") or "<none>"), _ports(spec), _age(now, _created(s))]
        if wide:
            row.append(_selector(spec.get("selector")))
        rows.append(([str(meta.get("namespace", ""))] if all_namespaces else []) + row)
    return rows


def deployment_rows(
    deployments: Sequence[Obj], pods: Sequence[Obj], now: float, *, wide: bool = False, all_namespaces: bool = False
) -> list[list[str]]:
    """``NAME READY UP-TO-DATE AVAILABLE AGE``: the Deployment's pods (by owner) ready out
    of the replicas it asks for, how many run, how many are ready (+ ``CONTAINERS IMAGES
    SELECTOR`` with ``-o wide``)."""
    header = ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    header += ["CONTAINERS", "IMAGES", "SELECTOR"] if wide else []
    rows = [(["NAMESPACE"] if all_namespaces else []) + header]
    for d in deployments:
        meta = d.get("metadata") or {}
        spec = d.get("spec") or {}
        name, ns = str(meta.get("name", "")), str(meta.get("namespace", ""))
        owned = [p for p in pods if p.get("namespace") == ns and p.get("owner") == f"Deployment/{name}"]
        ready = sum(1 for p in owned if p.get("ready"))
        replicas = spec.get("replicas", 1)
        row = [name, f"{ready}/{replicas}", str(len(owned)), str(ready), _age(now, _created(d))]
        if wide:
            containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
            row += [",".join(str(c.get("name", "")) for c in containers) or "<none>",
                    ",".join(str(c.get("image", "")) for c in containers) or "<none>",
                    _selector((spec.get("selector") or {}).get("matchLabels"))]
        rows.append(([ns] if all_namespaces else []) + row)
    return rows


def _compact(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _path(*keys: str) -> Callable[[Obj], str]:
    def get(obj: Obj) -> str:
        value: Any = obj
        for k in keys:
            value = value.get(k) if isinstance(value, Mapping) else None
        return _compact(value)

    return get


# Extra columns, as the kinds' CRDs (additionalPrinterColumns) and kubectl print them.
_COLUMNS: dict[tuple[str, str], list[tuple[str, Callable[[Obj], str]]]] = {
    ("networking.istio.io", "VirtualService"): [("GATEWAYS", _path("spec", "gateways")), ("HOSTS", _path("spec", "hosts"))],
    ("networking.istio.io", "DestinationRule"): [("HOST", _path("spec", "host"))],
    ("networking.istio.io", "ServiceEntry"): [
        ("HOSTS", _path("spec", "hosts")), ("LOCATION", _path("spec", "location")),
        ("RESOLUTION", _path("spec", "resolution")),
    ],
    ("networking.istio.io", "WorkloadEntry"): [("ADDRESS", _path("spec", "address"))],
    ("security.istio.io", "PeerAuthentication"): [("MODE", _path("spec", "mtls", "mode"))],
    ("security.istio.io", "AuthorizationPolicy"): [("ACTION", _path("spec", "action"))],
    ("", "Namespace"): [("STATUS", lambda _: "Active")],
    ("", "ConfigMap"): [("DATA", lambda o: str(len(o.get("data") or {})))],
    ("", "Secret"): [
        ("TYPE", lambda o: str(o.get("type") or "Opaque")),
        ("DATA", lambda o: str(len({**(o.get("data") or {}), **(o.get("stringData") or {})}))),
    ],
}


def object_rows(info: KindInfo, objects: Sequence[Obj], now: float, *, all_namespaces: bool = False) -> list[list[str]]:
    """``NAME [kind's columns] AGE`` for every other kind."""
    columns = _COLUMNS.get((info.group, info.kind), [])
    ns_col = all_namespaces and info.namespaced
    rows = [(["NAMESPACE"] if ns_col else []) + ["NAME", *(c for c, _ in columns), "AGE"]]
    for o in objects:
        meta = o.get("metadata") or {}
        row = [str(meta.get("name", "")), *(get(o) for _, get in columns), _age(now, _created(o))]
        rows.append(([str(meta.get("namespace", ""))] if ns_col else []) + row)
    return rows


def as_output(items: Sequence[Obj], fmt: str, *, single: bool) -> str:
    """``-o yaml|json``: the object itself when one was named, else a ``List``."""
    import yaml

    data: Any = items[0] if single and len(items) == 1 else {
        "apiVersion": "v1", "kind": "List", "items": list(items), "metadata": {"resourceVersion": ""},
    }
    if fmt == "json":
        return json.dumps(data, indent=4) + "\n"
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


# -- command ----------------------------------------------------------------------------------


def _pod_matches(p: Obj, namespace: str | None, name: str | None) -> bool:
    return (namespace is None or p.get("namespace") == namespace) and (name is None or p.get("name") == name)


def run(args: argparse.Namespace) -> int:
    from lateen.api import lookup
    from lateen.platform.local import NotRunning

    info = lookup(args.kind)
    if info is None:
        print(f'error: the server doesn\'t have a resource type "{args.kind}"', file=sys.stderr)
        return 1
    if args.name and args.all_namespaces:
        print("error: a resource cannot be retrieved by name across all namespaces", file=sys.stderr)
        return 1
    conn = connect_or_fail(args)
    if conn is None:
        return 1
    client, _ = conn
    namespace = None if args.all_namespaces or not info.namespaced else args.namespace
    table = args.output in (None, "wide")
    is_pod = (info.group, info.kind) == ("", "Pod")
    now = time.time()
    try:
        pods: list[dict[str, Any]] = []
        if table and (is_pod or (info.group, info.kind) == ("apps", "Deployment")):
            pods = client.pods()
        if is_pod and table:
            items: list[dict[str, Any]] = [p for p in pods if _pod_matches(p, namespace, args.name)]
        else:
            items = client.objects(group=info.group, kind=info.kind, namespace=namespace, name=args.name)
    except (NotRunning, RuntimeError, OSError) as e:
        print(f"lateen: {e}", file=sys.stderr)
        return 1
    if not items:
        if args.name:
            print(not_found(info, args.name), file=sys.stderr)
            return 1
        if args.output in ("yaml", "json"):  # kubectl prints an empty List, no message
            sys.stdout.write(as_output(items, args.output, single=False))
            return 0
        where = f" in {namespace} namespace" if namespace else ""
        print(f"No resources found{where}.", file=sys.stderr)
        return 0
    if args.output in ("yaml", "json"):
        sys.stdout.write(as_output(items, args.output, single=bool(args.name)))
        return 0
    if args.output == "name":
        prefix = f"{info.kind.lower()}.{info.group}" if info.group else info.kind.lower()
        for o in items:
            print(f"{prefix}/{(o.get('metadata') or {}).get('name', '')}")
        return 0
    wide, all_ns = args.output == "wide", namespace is None and info.namespaced
    if is_pod:
        rows = pod_rows(items, now, wide=wide, all_namespaces=all_ns)
    elif (info.group, info.kind) == ("", "Service"):
        rows = service_rows(items, now, wide=wide, all_namespaces=all_ns)
    elif (info.group, info.kind) == ("apps", "Deployment"):
        rows = deployment_rows(items, pods, now, wide=wide, all_namespaces=all_ns)
    else:
        rows = object_rows(info, items, now, all_namespaces=all_ns)
    sys.stdout.write(format_table(rows, padding=3, minwidth=6))
    return 0

