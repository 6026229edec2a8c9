"""Kubernetes manifests -> the pods the local platform runs (pure).

What a kubelet plus the Deployment controller and Istio's injector would decide, for
processes: which pods exist (Deployments with ``replicas``, bare Pods), their names
(``<deployment>-<template hash>-<suffix>``, stable across runs), whether a sidecar is
injected (Istio's rules) or the pod is a gateway (``inject.istio.io/templates: gateway``),
and for each container the command line, environment, working directory and readiness
probe. Images are ignored: a container runs its ``command`` + ``args``.

As Istio's injector, a sidecar pod's ``httpGet`` and ``tcpSocket`` readiness probes are
rewritten to ``GET :15020/app-health/<container>/readyz`` on the proxy agent, which runs the
original probe against the app from inside the pod (``ISTIO_KUBE_APP_PROBERS``): the kubelet
has no mesh certificate, so under STRICT mTLS its plaintext probe would be refused. The pod
annotation ``sidecar.istio.io/rewriteAppHTTPProbers: "false"`` keeps the probes as written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from lateen.api import ConfigObject

__all__ = [
    "APP_PROBERS_ENV",
    "APP_PROBE_PORT",
    "GATEWAY_TEMPLATE",
    "INJECT_LABEL",
    "PROXY_CONTAINER",
    "REWRITE_PROBES_ANNOTATION",
    "ContainerSpec",
    "PodSpec",
    "Probe",
    "ProxyRole",
    "SpecError",
    "app_probers_json",
    "injection_applies",
    "pod_name",
    "pods_from_objects",
]

INJECT_LABEL = "sidecar.istio.io/inject"
NAMESPACE_INJECTION_LABEL = "istio-injection"
REVISION_LABEL = "istio.io/rev"
TEMPLATES_ANNOTATION = "inject.istio.io/templates"
GATEWAY_TEMPLATE = "gateway"
PROXY_CONTAINER = "istio-proxy"
REWRITE_PROBES_ANNOTATION = "sidecar.istio.io/rewriteAppHTTPProbers"
APP_PROBERS_ENV = "ISTIO_KUBE_APP_PROBERS"  # the agent's copy of the rewritten probes
APP_PROBE_PORT = 15020  # the agent's port that rewritten probes call (Istio's status port)
_EMPTY: Mapping[str, str] = MappingProxyType({})
# Kubernetes' safe alphabet for generated names (no vowels, no confusable digits)
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)|\$\$")


class ProxyRole(StrEnum):
    SIDECAR = "sidecar"
    ROUTER = "router"


class SpecError(ValueError):
    """A manifest the local platform cannot run (names the object and field)."""


@dataclass(frozen=True, slots=True)
class Probe:
    """A readiness probe: ``http`` GET ``path`` on ``port``, ``tcp`` connect, or ``exec``."""

    kind: str  # http | tcp | exec
    port: int = 0
    path: str = "/"
    command: tuple[str, ...] = ()
    period_s: float = 10.0
    initial_delay_s: float = 0.0
    timeout_s: float = 1.0
    agent: bool = False  # rewritten: sent to the proxy agent at the pod's address, not to the app


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    name: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]  # in order; $(VAR) references already expanded
    working_dir: str
    ports: tuple[tuple[str, int], ...] = ()  # (name, containerPort)
    readiness: Probe | None = None


@dataclass(frozen=True, slots=True)
class PodSpec:
    name: str
    namespace: str
    labels: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    annotations: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    service_account: str = "default"
    containers: tuple[ContainerSpec, ...] = ()
    proxy: ProxyRole | None = None  # sidecar injected, gateway, or no proxy
    owner: str = ""  # "Deployment/<name>" for pods of a Deployment
    template_hash: str = ""
    termination_grace_s: float = 30.0
    # rewritten probes: agent path (/app-health/<container>/readyz) -> the app's own probe
    app_probers: Mapping[str, Probe] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    @property
    def container_ports(self) -> dict[str, int]:
        return {n: p for c in self.containers for n, p in c.ports if n}


def _short_hash(data: str, length: int) -> str:
    digest = int.from_bytes(hashlib.sha256(data.encode()).digest()[:16], "big")
    out = []
    for _ in range(length):
        digest, r = divmod(digest, len(_ALPHABET))
        out.append(_ALPHABET[r])
    return "".join(out)


def pod_name(deployment: str, template_hash: str, index: int) -> str:
    """``reviews-v1-<10 chars>-<5 chars>``: stable for a (deployment, template, replica)."""
    return f"{deployment}-{template_hash}-{_short_hash(f'{deployment}/{template_hash}/{index}', 5)}"


def injection_applies(
    namespace_labels: Mapping[str, str],
    pod_labels: Mapping[str, str],
    pod_annotations: Mapping[str, str] = _EMPTY,
) -> bool:
    """Istio's injection policy: namespace ``istio-injection=enabled`` (the pod label or
    annotation ``sidecar.istio.io/inject=false`` opts out), or namespace ``istio.io/rev``,
    or, in a namespace without either label, the pod label ``sidecar.istio.io/inject=true``.
    ``istio-injection=disabled`` turns injection off for the namespace."""
    pod_choice = pod_labels.get(INJECT_LABEL, pod_annotations.get(INJECT_LABEL))
    ns = namespace_labels.get(NAMESPACE_INJECTION_LABEL)
    if ns == "disabled":
        return False
    if ns == "enabled" or REVISION_LABEL in namespace_labels:
        return pod_choice != "false"
    return pod_choice == "true"


def _expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: known variables are replaced, unknown ones stay,
    ``$$`` is a literal ``$``."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return _VAR_REF.sub(sub, text)


def _field_ref(path: str, pod: Mapping[str, Any]) -> str | None:
    m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if m:
        return str((pod.get(m.group(1)) or {}).get(m.group(2), ""))
    return {
        "metadata.name": pod.get("name"),
        "metadata.namespace": pod.get("namespace"),
        "spec.serviceAccountName": pod.get("serviceAccount"),
        "spec.nodeName": "local",
        "status.podIP": pod.get("podIP", "$(INSTANCE_IP)"),
        "status.hostIP": "127.0.0.1",
    }.get(path)


def _port(value: Any, ports: Mapping[str, int], where: str) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, str) and value in ports:
        return ports[value]
    raise SpecError(f"{where}: port {value!r} is neither a number nor a named container port")


def _probe(raw: Any, ports: Mapping[str, int], where: str) -> Probe | None:
    if not isinstance(raw, Mapping):
        return None
    period = float(raw.get("periodSeconds") or 10)
    delay = float(raw.get("initialDelaySeconds") or 0)
    timeout = float(raw.get("timeoutSeconds") or 1)
    if isinstance(raw.get("httpGet"), Mapping):
        h = raw["httpGet"]
        port = _port(h.get("port"), ports, f"{where}.httpGet")
        return Probe("http", port, str(h.get("path") or "/"), (), period, delay, timeout)
    if isinstance(raw.get("tcpSocket"), Mapping):
        port = _port(raw["tcpSocket"].get("port"), ports, f"{where}.tcpSocket")
        return Probe("tcp", port, "/", (), period, delay, timeout)
    if isinstance(raw.get("exec"), Mapping):
        command = tuple(str(c) for c in raw["exec"].get("command") or ())
        return Probe("exec", 0, "/", command, period, delay, timeout)
    raise SpecError(f"{where}: needs httpGet, tcpSocket or exec")


def _container(
    raw: Mapping[str, Any],
    pod: Mapping[str, Any],
    base_dir: Path,
    where: str,
    python: str,
) -> ContainerSpec:
    name = str(raw.get("name") or "")
    if not name:
        raise SpecError(f"{where}.name: required")
    command = [str(c) for c in raw.get("command") or ()]
    args = [str(a) for a in raw.get("args") or ()]
    if not command:
        raise SpecError(
            f"{where}.command: required by the local platform (images are not run; "
            "give the process to start, e.g. [python3, src/app.py])"
        )
    ports: list[tuple[str, int]] = []
    for i, p in enumerate(raw.get("ports") or ()):
        if not isinstance(p, Mapping) or not isinstance(p.get("containerPort"), int):
            raise SpecError(f"{where}.ports[{i}].containerPort: must be a number")
        ports.append((str(p.get("name") or ""), int(p["containerPort"])))
    named = {n: p for n, p in ports if n}
    env: dict[str, str] = {}
    for i, e in enumerate(raw.get("env") or ()):
        if not isinstance(e, Mapping) or not e.get("name"):
            raise SpecError(f"{where}.env[{i}].name: required")
        value: str | None
        if "valueFrom" in e:
            ref = (e.get("valueFrom") or {}).get("fieldRef") or {}
            value = _field_ref(str(ref.get("fieldPath") or ""), pod)
            if value is None:
                raise SpecError(
                    f"{where}.env[{i}].valueFrom: only fieldRef to metadata.name, "
                    "metadata.namespace, metadata.labels['...'], spec.serviceAccountName "
                    "and status.podIP are supported"
                )
        else:
            value = _expand(str(e.get("value", "")), env)
        env[str(e["name"])] = value
    argv = [_expand(a, env) for a in (*command, *args)]
    if argv[0] in ("python", "python3"):
        argv[0] = python
    wd = Path(str(raw.get("workingDir") or "."))
    working_dir = wd if wd.is_absolute() else (base_dir / wd)
    return ContainerSpec(
        name=name,
        argv=tuple(argv),
        env=tuple(env.items()),
        working_dir=str(working_dir.resolve()) if base_dir.is_absolute() else str(working_dir),
        ports=tuple(ports),
        readiness=_probe(raw.get("readinessProbe"), named, f"{where}.readinessProbe"),
    )


def _rewrite_app_probes(
    containers: Iterable[ContainerSpec], annotations: Mapping[str, str]
) -> tuple[list[ContainerSpec], dict[str, Probe]]:
    """Istio's probe rewrite for a sidecar pod: each ``httpGet``/``tcpSocket`` readiness probe
    becomes ``GET :15020/app-health/<container>/readyz`` on the agent (same period, delay and
    timeout); the original goes to the agent. ``exec`` probes run in the pod and stay."""
    out = list(containers)
    if annotations.get(REWRITE_PROBES_ANNOTATION, "true").strip().lower() == "false":
        return out, {}
    probers: dict[str, Probe] = {}
    for i, c in enumerate(out):
        p = c.readiness
        if p is None or p.kind not in ("http", "tcp"):
            continue
        path = f"/app-health/{c.name}/readyz"
        probers[path] = p
        out[i] = dataclasses.replace(
            c, readiness=dataclasses.replace(p, kind="http", port=APP_PROBE_PORT, path=path, agent=True)
        )
    return out, probers


def app_probers_json(probers: Mapping[str, Probe]) -> str:
    """``ISTIO_KUBE_APP_PROBERS`` as Istio's injector writes it:
    ``{"/app-health/web/readyz": {"httpGet": {"path": "/health", "port": 9080, "scheme": "HTTP"},
    "timeoutSeconds": 1}}`` (``tcpSocket: {port}`` for a TCP probe)."""
    out: dict[str, Any] = {}
    for path, p in sorted(probers.items()):
        action: dict[str, Any]
        if p.kind == "http":
            action = {"httpGet": {"path": p.path, "port": p.port, "scheme": "HTTP"}}
        else:
            action = {"tcpSocket": {"port": p.port}}
        timeout = int(p.timeout_s) if float(p.timeout_s).is_integer() else p.timeout_s
        out[path] = {**action, "timeoutSeconds": timeout}
    return json.dumps(out, sort_keys=True, separators=(",", ":"))


def _template_hash(template: Mapping[str, Any]) -> str:
    return _short_hash(json.dumps(template, sort_keys=True, default=str), 10)


def _pod(
    *,
    name: str,
    namespace: str,
    meta: Mapping[str, Any],
    spec: Mapping[str, Any],
    ns_labels: Mapping[str, str],
    base_dir: Path,
    where: str,
    python: str,
    owner: str = "",
    template_hash: str = "",
) -> PodSpec:
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    annotations = {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}
    sa = str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")
    gateway = annotations.get(TEMPLATES_ANNOTATION) == GATEWAY_TEMPLATE
    proxy: ProxyRole | None = None
    if gateway:
        proxy = ProxyRole.ROUTER
    elif injection_applies(ns_labels, labels, annotations):
        proxy = ProxyRole.SIDECAR
    view = {
        "name": name,
        "namespace": namespace,
        "labels": labels,
        "annotations": annotations,
        "serviceAccount": sa,
    }
    containers = []
    raw_containers = spec.get("containers")
    if raw_containers is None:
        raw_containers = []
    if not isinstance(raw_containers, list):
        raise SpecError(f"{where}.containers: must be a list")
    for i, c in enumerate(raw_containers):
        if not isinstance(c, Mapping):
            raise SpecError(f"{where}.containers[{i}]: must be an object")
        if c.get("name") == PROXY_CONTAINER and proxy is not None:
            continue  # the platform runs the proxy (Istio's injector replaces it too)
        containers.append(_container(c, view, base_dir, f"{where}.containers[{i}]", python))
    if not containers and proxy is not ProxyRole.ROUTER:
        raise SpecError(f"{where}.containers: at least one container is required")
    probers: dict[str, Probe] = {}
    if proxy is ProxyRole.SIDECAR:
        containers, probers = _rewrite_app_probes(containers, annotations)
    if proxy is ProxyRole.SIDECAR:
        # only sidecars accept Istio mTLS on every port: gateways don't carry the label (as
        # Istio's gateway template), so mesh clients talk to their servers as configured
        labels.setdefault("security.istio.io/tlsMode", "istio")
    if proxy is not None:
        labels.setdefault(
            "service.istio.io/canonical-name",
            labels.get("app.kubernetes.io/name") or labels.get("app") or (owner.partition("/")[2] or name),
        )
        labels.setdefault(
            "service.istio.io/canonical-revision",
            labels.get("app.kubernetes.io/version") or labels.get("version") or "latest",
        )
    grace = spec.get("terminationGracePeriodSeconds")
    return PodSpec(
        name=name,
        namespace=namespace,
        labels=MappingProxyType(labels),
        annotations=MappingProxyType(annotations),
        service_account=sa,
        containers=tuple(containers),
        proxy=proxy,
        owner=owner,
        template_hash=template_hash,
        termination_grace_s=float(grace) if isinstance(grace, int | float) else 30.0,
        app_probers=MappingProxyType(probers),
    )


def _where(obj: ConfigObject) -> str:
    prefix = f"{obj.source}: " if obj.source else ""
    return f"{prefix}{obj.kind} {obj.namespace}/{obj.name}: spec"


def _base_dir(obj: ConfigObject, default: Path) -> Path:
    return Path(obj.source).resolve().parent if obj.source and Path(obj.source).is_file() else default


def pods_from_objects(
    objects: Iterable[ConfigObject],
    *,
    base_dir: Path,
    python: str = "python3",
    default_namespace_labels: Mapping[str, Mapping[str, str]] = _EMPTY,  # type: ignore[assignment]
) -> tuple[list[PodSpec], list[str]]:
    """The pods that ``objects`` ask for, sorted by (namespace, name), and the errors of
    the objects that cannot run (each names its object and field; such objects are
    skipped, the rest still run).

    Relative working directories and paths resolve against the directory of the manifest
    file (``ConfigObject.source``), else ``base_dir``; ``workingDir`` is honoured. A
    namespace that no ``Namespace`` object declares takes its labels from
    ``default_namespace_labels`` (the local platform labels ``default`` for injection, as
    Istio's getting-started does with ``kubectl label namespace default istio-injection=enabled``)."""
    objs = list(objects)
    ns_labels: dict[str, Mapping[str, str]] = dict(default_namespace_labels)
    for o in objs:
        if o.group == "" and o.kind == "Namespace":
            ns_labels[o.name] = o.meta.labels
    pods: list[PodSpec] = []
    errors: list[str] = []
    for o in objs:
        where = _where(o)
        try:
            if o.group == "apps" and o.kind == "Deployment":
                spec = o.spec.get("spec") or {}
                template = spec.get("template") or {}
                tmeta = template.get("metadata") or {}
                tspec = template.get("spec") or {}
                replicas = spec.get("replicas", 1)
                if not isinstance(replicas, int) or replicas < 0:
                    raise SpecError(f"{where}.replicas: must be a number >= 0")
                selector = (spec.get("selector") or {}).get("matchLabels") or {}
                tlabels = tmeta.get("labels") or {}
                for k, v in selector.items():
                    if str(tlabels.get(k)) != str(v):
                        raise SpecError(
                            f"{where}.selector.matchLabels: {k}={v} does not match the template labels"
                        )
                thash = _template_hash(template)
                meta = {**tmeta, "labels": {**tlabels, "pod-template-hash": thash}}
                for i in range(replicas):
                    pods.append(
                        _pod(
                            name=pod_name(o.name, thash, i),
                            namespace=o.namespace,
                            meta=meta,
                            spec=tspec,
                            ns_labels=ns_labels.get(o.namespace, _EMPTY),
                            base_dir=_base_dir(o, base_dir),
                            where=f"{where}.template.spec",
                            python=python,
                            owner=f"Deployment/{o.name}",
                            template_hash=thash,
                        )
                    )
            elif o.group == "" and o.kind == "Pod":
                pods.append(
                    _pod(
                        name=o.name,
                        namespace=o.namespace,
                        meta={"labels": dict(o.meta.labels), "annotations": dict(o.meta.annotations)},
                        spec=o.spec.get("spec") or {},
                        ns_labels=ns_labels.get(o.namespace, _EMPTY),
                        base_dir=_base_dir(o, base_dir),
                        where=where,
                        python=python,
                    )
                )
        except SpecError as e:
            errors.append(str(e))
    pods.sort(key=lambda p: p.key)
    return pods, errors
