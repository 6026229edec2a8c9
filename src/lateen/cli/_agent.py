"""``lateen agent``: our pilot-agent. Renders the Envoy bootstrap, runs and supervises Envoy,
serves ``/healthz/ready``; SIGTERM/SIGINT drain Envoy and stop. Runs next to any process,
so a sidecar or a gateway can be started by hand."""

from __future__ import annotations

import argparse
import json
import os
import socket
from collections.abc import Mapping
from typing import Any

__all__ = ["add_parser", "istio_meta_from_env", "run"]


def _label(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise argparse.ArgumentTypeError(f"{item!r} is not KEY=VALUE")
        out[k.strip()] = v.strip()
    return out


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "agent",
        help="run the proxy agent: Envoy (sidecar or gateway) connected to the control plane",
        description="Render the Envoy bootstrap, start and supervise Envoy (restart with "
        "backoff), serve /healthz/ready on the status port; SIGTERM drains Envoy and stops.",
    )
    env = os.environ.get
    p.add_argument("--type", choices=["sidecar", "router"], default="sidecar",
                   help="proxy type: sidecar (default) or router (gateway)")
    p.add_argument("--discovery-address", default=env("PILOT_DISCOVERY_ADDRESS", "127.0.0.1:15010"),
                   metavar="HOST:PORT", help="control plane xDS address (default 127.0.0.1:15010)")
    p.add_argument("--pod-name", default=env("POD_NAME") or socket.gethostname(),
                   help="pod name (default $POD_NAME, else the host name)")
    p.add_argument("--namespace", default=env("POD_NAMESPACE", "default"),
                   help="pod namespace (default $POD_NAMESPACE, else default)")
    p.add_argument("--pod-ip", default=env("INSTANCE_IP", "127.0.0.1"),
                   help="pod address (default $INSTANCE_IP, else 127.0.0.1)")
    p.add_argument("--labels", type=_label, action="append", default=[], metavar="K=V,K2=V2",
                   help="pod labels, comma separated; repeatable")
    p.add_argument("--label", type=_label, action="append", default=[], metavar="K=V",
                   help="one pod label; repeatable")
    p.add_argument("--service-account", default=env("SERVICE_ACCOUNT", "default"),
                   help="service account (default $SERVICE_ACCOUNT, else default)")
    p.add_argument("--workload-name", default="", help="workload name (default: from the pod name)")
    p.add_argument("--cluster-id", default="Kubernetes", help="cluster id (default Kubernetes)")
    p.add_argument("--admin-address", default="",
                   help="Envoy admin address (default: the pod address if loopback, else 127.0.0.1)")
    p.add_argument("--admin-port", type=int, default=15000, help="Envoy admin port (default 15000)")
    p.add_argument("--stats-port", type=int, default=15090,
                   help="Envoy /stats/prometheus port on the pod address (default 15090)")
    p.add_argument("--status-port", type=int, default=15021,
                   help="agent /healthz/ready port on the pod address (default 15021)")
    p.add_argument("--delta", action="store_true", help="use Delta (incremental) xDS")
    p.add_argument("--concurrency", type=int, default=2, help="Envoy worker threads (default 2)")
    p.add_argument("--drain-duration", type=float, default=45.0, metavar="SECONDS",
                   help="Envoy --drain-time-s (default 45)")
    p.add_argument("--termination-drain-duration", type=float, default=5.0, metavar="SECONDS",
                   help="on stop: wait after draining listeners before SIGTERM (default 5)")
    p.add_argument("--work-dir", default=None, metavar="DIR",
                   help="where the bootstrap (envoy-rev.json) and envoy.log go (default: a new temp dir)")
    p.add_argument("--envoy-log", default=None, metavar="FILE",
                   help="append Envoy's output (its log and the access log on /dev/stdout) to FILE "
                   "(default: envoy.log in the work dir)")
    p.add_argument("--log-level", default="warning",
                   choices=["trace", "debug", "info", "warning", "error", "critical", "off"],
                   help="Envoy log level (default warning)")
    p.add_argument("--ca-address", default=env("CA_ADDR", ""), metavar="HOST:PORT",
                   help="the CA (default $CA_ADDR); set: serve the workload certificate to Envoy "
                   "over SDS (a Unix socket in the work dir)")
    p.add_argument("--ca-root-cert", default=env("LATEEN_CA_ROOT_CERT", ""), metavar="FILE",
                   help="the mesh's root certificate (default $LATEEN_CA_ROOT_CERT, else "
                   "var/run/secrets/istio/root-cert.pem in the work dir)")
    p.add_argument("--ca-token-file", default=env("LATEEN_CA_TOKEN_FILE", ""), metavar="FILE",
                   help="the pod's CA token (default $LATEEN_CA_TOKEN_FILE, else "
                   "var/run/secrets/tokens/istio-token in the work dir)")
    p.add_argument("--agent-log-level", default="info", choices=["debug", "info", "warning", "error"],
                   help="the agent's own log level (default info)")
    return p


def istio_meta_from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """``ISTIO_META_FOO=bar`` -> node metadata ``FOO: bar``, as Istio's agent does (values
    that are JSON objects or lists are decoded)."""
    out: dict[str, Any] = {}
    for key, value in environ.items():
        if not key.startswith("ISTIO_META_") or len(key) == len("ISTIO_META_"):
            continue
        decoded: Any = value
        if value[:1] in "{[":
            try:
                decoded = json.loads(value)
            except ValueError:
                decoded = value
        out[key[len("ISTIO_META_"):]] = decoded
    return out


def stats_matcher_from_env(environ: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """``proxyStatsMatcher`` of the ``PROXY_CONFIG`` environment variable (the pod's ProxyConfig
    as Istio's injector passes it, JSON or YAML): the Envoy stats to keep beyond Istio's
    defaults, by kind (``prefixes``, ``suffixes``, ``regexps``)."""
    raw = environ.get("PROXY_CONFIG", "").strip()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        import yaml

        try:
            data = yaml.safe_load(raw)
        except yaml.YAMLError:
            return {}
    matcher = data.get("proxyStatsMatcher") if isinstance(data, Mapping) else None
    if not isinstance(matcher, Mapping):
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for key, arg in (
        ("inclusionPrefixes", "prefixes"),
        ("inclusionSuffixes", "suffixes"),
        ("inclusionRegexps", "regexps"),
    ):
        values = matcher.get(key)
        if isinstance(values, list):
            out[arg] = tuple(str(v) for v in values)
    return out


def run(args: argparse.Namespace) -> int:
    import asyncio
    import contextlib
    import logging
    import signal
    import sys
    import tempfile
    from pathlib import Path

    from lateen.agent import Agent, AgentOptions, BootstrapOptions, ProxyKind

    logging.basicConfig(
        level=args.agent_log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    labels: dict[str, str] = {}
    for d in [*args.labels, *args.label]:
        labels.update(d)
    work_dir = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="lateen-agent-"))
    meta = istio_meta_from_env(os.environ)
    stats = stats_matcher_from_env(os.environ)
    opts = AgentOptions(
        bootstrap=BootstrapOptions(
            pod_name=args.pod_name,
            namespace=args.namespace,
            pod_ip=args.pod_ip,
            kind=ProxyKind(args.type),
            labels=labels,
            service_account=args.service_account,
            workload_name=args.workload_name,
            cluster_id=args.cluster_id,
            discovery_address=args.discovery_address,
            delta=args.delta,
            admin_address=args.admin_address,
            admin_port=args.admin_port,
            stats_port=args.stats_port,
            status_port=args.status_port,
            drain_duration_s=args.drain_duration,
            termination_drain_duration_s=args.termination_drain_duration,
            concurrency=args.concurrency,
            extra_metadata=meta,
            stats_inclusion_prefixes=stats.get("prefixes", ()),
            stats_inclusion_suffixes=stats.get("suffixes", ()),
            stats_inclusion_regexps=stats.get("regexps", ()),
        ),
        envoy_log=Path(args.envoy_log) if args.envoy_log else None,
        work_dir=work_dir,
        log_level=args.log_level,
        # Istio's switch; the port and resolv.conf are overridable for tests
        dns_capture=str(meta.get("DNS_CAPTURE", "")).strip().lower() == "true",
        dns_port=int(os.environ.get("LATEEN_DNS_PORT") or 15053),
        resolv_conf=Path(os.environ.get("LATEEN_RESOLV_CONF") or "/etc/resolv.conf"),
        ca_address=args.ca_address,
        ca_root_cert=Path(args.ca_root_cert or work_dir / "var/run/secrets/istio/root-cert.pem"),
        ca_token_file=Path(args.ca_token_file or work_dir / "var/run/secrets/tokens/istio-token"),
        # Istio's SECRET_TTL (seconds here) and our key type switch
        cert_ttl_s=int(os.environ.get("SECRET_TTL_SECONDS") or 0),
        key_type=os.environ.get("LATEEN_KEY_TYPE", "rsa"),
        app_probers=os.environ.get("ISTIO_KUBE_APP_PROBERS", ""),
    )
    try:
        agent = Agent(opts)
    except Exception as e:
        print(f"lateen agent: {e}", file=sys.stderr)
        return 2

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await agent.run()

    print(f"lateen agent: {opts.bootstrap.kind} {opts.bootstrap.pod_name}.{opts.bootstrap.namespace}, "
          f"work dir {work_dir}", file=sys.stderr, flush=True)
    try:
        asyncio.run(main())
    except (OSError, ExceptionGroup) as err:
        errors = err.exceptions if isinstance(err, ExceptionGroup) else (err,)
        if not all(isinstance(e, OSError) for e in errors):
            raise
        for error in errors:
            print(f"lateen agent: {error}", file=sys.stderr)
        return 1
    return 0
