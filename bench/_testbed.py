"""The data-plane testbed: one HTTP server reached several ways, on one loopback block 127.X/16.

* ``no-mesh``: client -> server. The server is the C program of ``bench/_native/server.c``
  (every request: 200, 1 KB body) on ``127.X.1.2:9080``, two threads.
* ``lateen``: client -> client sidecar -> server sidecar -> server, with real Lateen sidecars
  in explicit mode: ``lateen discovery`` with its CA (``--ca-dir``, ``--ca-tokens``, as
  ``lateen up`` runs it; one Service ``server`` with the server pod as its endpoint) and two
  ``lateen agent`` processes, each with a CA token and the root certificate, running its
  Envoy (2 workers, Istio's default) with the workload certificate over SDS. The client sends
  to its sidecar's HTTP proxy listener ``127.X.0.10:15001`` with ``Host: server:9080``; the
  client sidecar routes to the server pod ``127.X.0.11:9080`` over Istio mTLS (auto mTLS:
  the pod carries ``security.istio.io/tlsMode: istio``), whose sidecar's inbound listener
  (PERMISSIVE, Istio's default) forwards to the app address ``127.X.1.2:9080``.
* ``lateen-plaintext`` (``plaintext=True``): the same client sidecar, ``Host: server.plain:9080``:
  Service ``server`` of namespace ``plain``, whose PeerAuthentication ``default`` says
  ``mtls: DISABLE``, so the client calls it in plaintext (no auto mTLS) and the server sidecar
  of pod ``127.X.0.12`` (namespace ``plain``, same app address) has no TLS chain.
* ``limit``: the same two hops through two Envoys (2 workers each) with a hand-written static
  bootstrap (:func:`limit_bootstrap`: one listener, HTTP connection manager with only the
  router filter, one static cluster): what two Envoys cost at the least. The hop between them
  uses the TLS contexts Lateen generates for ISTIO_MUTUAL with certificates issued by the same
  CA as static files (SPIFFE ids ``limit-client`` / ``limit-server``, SNI and SAN check as
  the mesh's): the same handshake, cipher and ALPN as the ``lateen`` path.
* ``limit-plaintext`` (``plaintext=True``): the same two Envoys, a second listener pair
  without TLS (client ``127.X.0.20:15002`` -> server ``127.X.0.21:9081``).

:func:`tls_check` reads the Envoys' ``ssl.handshake`` counters (server side: listeners,
client side: clusters) to show which hops really were TLS.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from bench._loadgen import start_server
from bench._procs import ProcGroup, bound_blocks, envoy_child
from lateen.agent import envoy_binary
from lateen.testing.procs import free_port

__all__ = [
    "ALL_PATHS",
    "PATHS",
    "PLAINTEXT_PATHS",
    "Hop",
    "Target",
    "Testbed",
    "TlsFiles",
    "client_tls_socket",
    "limit_bootstrap",
    "pick_block",
    "server_tls_socket",
    "testbed",
    "tls_check",
]

PATHS = ("no-mesh", "lateen", "limit")  # the mesh paths here are mTLS
PLAINTEXT_PATHS = ("lateen-plaintext", "limit-plaintext")
ALL_PATHS = ("no-mesh", "lateen", "lateen-plaintext", "limit", "limit-plaintext")
APP_PORT = 9080
HOST = "server:9080"  # the Host header every path gets
PLAIN_HOST = "server.plain:9080"
RESPONSE_BYTES = 1024
TRUST_DOMAIN = "cluster.local"
LIMIT_PLAIN_PORTS = (15002, 9081)  # limit-plaintext: client listener, server listener
TLS_STATS_REGEX = r".*\.ssl\.(handshake|versions\..+|ciphers\..+)"

SERVICE = """\
apiVersion: v1
kind: Service
metadata: {{name: server, namespace: {ns}}}
spec:
  clusterIP: {vip}
  selector: {{app: {app}}}
  ports: [{{name: http, port: {port}, targetPort: {port}}}]
---
apiVersion: v1
kind: Pod
metadata:
  name: {pod_name}
  namespace: {ns}
  labels: {{app: {app}, version: v1, security.istio.io/tlsMode: istio}}
spec:
  serviceAccountName: {app}
  containers: [{{name: app, image: c-server, ports: [{{name: http, containerPort: {port}}}]}}]
status: {{podIP: {pod}}}
---
apiVersion: v1
kind: Endpoints
metadata: {{name: server, namespace: {ns}}}
subsets:
- addresses: [{{ip: {pod}, targetRef: {{kind: Pod, name: {pod_name}, namespace: {ns}}}}}]
  ports: [{{name: http, port: {port}}}]
"""

PLAIN_POLICY = """\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: plain}
spec:
  mtls: {mode: DISABLE}
"""


@dataclass(frozen=True)
class Target:
    """Where a client sends for one path (always with ``Host: server:9080``)."""

    path: str
    address: str
    port: int
    host: str = HOST


@dataclass
class Testbed:
    group: ProcGroup
    block: int
    targets: dict[str, Target] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)  # role -> PID (see ROLES)
    admins: dict[str, tuple[str, int]] = field(default_factory=dict)  # Envoy role -> admin


# processes whose CPU and memory the benchmarks read
ROLES = (
    "server",
    "control-plane",
    "client-agent",
    "client-envoy",
    "server-agent",
    "server-envoy",
    "limit-client-envoy",
    "limit-server-envoy",
)


def pick_block(rng: random.Random | None = None) -> int:
    """A random X in 100..199 with no socket bound on any 127.X.y.z."""
    bound = bound_blocks()
    free = [x for x in range(100, 200) if x not in bound]
    if not free:
        raise RuntimeError("every 127.X.0.0/16 block (X in 100..199) has a bound socket")
    return (rng or random.Random()).choice(free)


@dataclass(frozen=True)
class TlsFiles:
    """A workload's certificate chain, key and the mesh root, as files (issued by the mesh CA)."""

    cert_chain: Path
    private_key: Path
    root: Path


@dataclass(frozen=True)
class Hop:
    """One listener -> cluster pair of a static limit Envoy. ``server_tls``: the listener
    terminates Istio mTLS (client certificate required, checked against the root);
    ``client_tls``: the cluster originates it (SNI ``sni``, peer SAN one of ``sans``)."""

    name: str
    listen: tuple[str, int]
    upstream: tuple[str, int]
    server_tls: TlsFiles | None = None
    client_tls: TlsFiles | None = None
    sni: str = ""
    sans: tuple[str, ...] = ()


def _addr(a: tuple[str, int]) -> dict[str, Any]:
    return {"socket_address": {"address": a[0], "port_value": a[1]}}


def _file(path: Path) -> dict[str, str]:
    return {"filename": str(path)}


def _static_tls(ctx: Message, files: TlsFiles, type_name: str) -> dict[str, Any]:
    """A TLS context Lateen generates (``lateen.xds``) with its SDS secrets swapped for files:
    the certificate ``default`` -> ``files.cert_chain`` / ``files.private_key``, the trust
    bundle ``ROOTCA`` -> ``files.root``; everything else (TLS parameters, ALPN, SNI, SAN
    matchers, client certificate required) stays as generated."""
    d = MessageToDict(ctx, preserving_proto_field_name=True)
    common = d["common_tls_context"]
    del common["tls_certificate_sds_secret_configs"]
    common["tls_certificates"] = [
        {"certificate_chain": _file(files.cert_chain), "private_key": _file(files.private_key)}
    ]
    combined = common.pop("combined_validation_context")
    common["validation_context"] = {
        **combined.get("default_validation_context", {}),
        "trusted_ca": _file(files.root),
    }
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": f"type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.{type_name}",
            **d,
        },
    }


def server_tls_socket(files: TlsFiles) -> dict[str, Any]:
    """The inbound side of Lateen's mTLS (``downstream_mtls_context`` of an HTTP port)."""
    from lateen.xds._mtls import downstream_mtls_context

    return _static_tls(downstream_mtls_context(True), files, "DownstreamTlsContext")


def client_tls_socket(files: TlsFiles, sni: str, sans: tuple[str, ...]) -> dict[str, Any]:
    """The outbound side of Lateen's ISTIO_MUTUAL (``istio_mutual_tls_context``, HTTP/1.1)."""
    from lateen.xds.cluster._policy import istio_mutual_tls_context

    ctx = istio_mutual_tls_context(sni, sni, list(sans), False)
    return _static_tls(ctx, files, "UpstreamTlsContext")


def limit_bootstrap(
    *,
    node: str,
    admin: tuple[str, int],
    hops: tuple[Hop, ...] = (),
    listen: tuple[str, int] | None = None,
    upstream: tuple[str, int] | None = None,
) -> dict[str, Any]:
    """A static Envoy bootstrap: per hop, HTTP on ``listen`` (router filter only, every host
    and path) to one static upstream, HTTP/1.1 both sides; with ``server_tls`` / ``client_tls``
    the TLS contexts Lateen generates for ISTIO_MUTUAL (:func:`server_tls_socket`,
    :func:`client_tls_socket`) with the certificates in files. ``listen`` + ``upstream``: one
    plaintext hop."""
    if listen is not None and upstream is not None:
        hops = (*hops, Hop("limit", listen, upstream))
    listeners: list[dict[str, Any]] = []
    clusters: list[dict[str, Any]] = []
    for hop in hops:
        hcm = {
            "@type": "type.googleapis.com/envoy.extensions.filters.network."
            "http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": hop.name,
            "codec_type": "AUTO",
            "route_config": {
                "name": hop.name,
                "virtual_hosts": [
                    {
                        "name": "all",
                        "domains": ["*"],
                        "routes": [{"match": {"prefix": "/"}, "route": {"cluster": hop.name}}],
                    }
                ],
            },
            "http_filters": [
                {
                    "name": "envoy.filters.http.router",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                    },
                }
            ],
        }
        chain: dict[str, Any] = {
            "filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]
        }
        if hop.server_tls is not None:
            chain["transport_socket"] = server_tls_socket(hop.server_tls)
        listeners.append({"name": hop.name, "address": _addr(hop.listen), "filter_chains": [chain]})
        cluster: dict[str, Any] = {
            "name": hop.name,
            "type": "STATIC",
            "connect_timeout": "1s",
            "load_assignment": {
                "cluster_name": hop.name,
                "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _addr(hop.upstream)}}]}],
            },
        }
        if hop.client_tls is not None:
            cluster["transport_socket"] = client_tls_socket(hop.client_tls, hop.sni, hop.sans)
        clusters.append(cluster)
    return {
        "node": {"id": node, "cluster": node},
        "admin": {"address": _addr(admin)},
        "static_resources": {"listeners": listeners, "clusters": clusters},
    }


def get(target: Target, timeout: float = 2.0) -> tuple[int | None, int]:
    """(status, body length) of one ``GET /`` to a target; (None, 0) when it fails."""
    conn = http.client.HTTPConnection(target.address, target.port, timeout=timeout)
    try:
        conn.request("GET", "/", headers={"Host": target.host})
        resp = conn.getresponse()
        return resp.status, len(resp.read())
    except (OSError, http.client.HTTPException):
        return None, 0
    finally:
        conn.close()


def _wait(group: ProcGroup, what: str, pred: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        group.check()
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {n}\n{group.log(n, 1500)}" for n in group.procs)
            raise RuntimeError(f"timed out waiting for {what}\n{logs}")
        time.sleep(0.05)


@dataclass(frozen=True)
class _Ca:
    """The mesh CA's files: its directory (``--ca-dir``) and the per-pod token file."""

    dir: Path
    tokens: Path
    address: str

    @property
    def root(self) -> Path:
        return self.dir / "root-cert.pem"


def _make_ca(workdir: Path, address: str) -> _Ca:
    """Create the CA's self-signed root (RSA 2048, as ``lateen discovery`` would) before the
    control plane starts, so the limit's certificates can be issued by the same CA."""
    from lateen.security import CaDirectory, SystemClock

    ca_dir = workdir / "ca"
    CaDirectory(ca_dir).load_or_create(org=TRUST_DOMAIN, clock=SystemClock())
    return _Ca(ca_dir, workdir / "ca-tokens.json", address)


def _issue_files(ca: _Ca, out: Path, namespace: str, service_account: str) -> TlsFiles:
    """A workload key and certificate for ``spiffe://cluster.local/ns/NS/sa/SA`` signed by the
    mesh CA (RSA 2048 as the agent's default key), written as files."""
    from lateen.security import (
        CaDirectory,
        CertificateAuthority,
        Identity,
        SystemClock,
        load_certs,
        new_key_and_csr,
    )

    clock = SystemClock()
    signer, rotation = CaDirectory(ca.dir).load(clock)
    authority = CertificateAuthority(signer, trust_domain=TRUST_DOMAIN, clock=clock, rotation=rotation)
    key, csr = new_key_and_csr("rsa")
    chain = authority.sign(csr, Identity(namespace, service_account))
    leaf_and_intermediates = [c for c in chain if all(x.issuer != x.subject for x in load_certs(c))]
    out.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(out / "cert-chain.pem", out / "key.pem", out / "root-cert.pem")
    files.cert_chain.write_text("".join(leaf_and_intermediates))
    files.private_key.write_bytes(key)
    files.private_key.chmod(0o600)
    files.root.write_bytes(ca.root.read_bytes())
    return files


def _start_agent(
    group: ProcGroup,
    workdir: Path,
    role: str,
    pod_ip: str,
    app_ip: str,
    app: str,
    xds: str,
    ca: _Ca,
    namespace: str = "default",
) -> None:
    from lateen.security import TokenIssuer

    work = workdir / role
    secrets = work / "var" / "run" / "secrets"
    (secrets / "tokens").mkdir(parents=True)
    (secrets / "istio").mkdir(parents=True)
    pod = f"{app}-v1-1"
    token_file = secrets / "tokens" / "istio-token"
    token_file.write_text(TokenIssuer(ca.tokens).issue(namespace, app, pod) + "\n")
    token_file.chmod(0o600)
    root = secrets / "istio" / "root-cert.pem"
    root.write_bytes(ca.root.read_bytes())
    argv = [
        sys.executable, "-m", "lateen", "agent",
        "--pod-name", pod, "--namespace", namespace, "--pod-ip", pod_ip,
        "--labels", f"app={app},version=v1", "--service-account", app,
        "--discovery-address", xds, "--work-dir", str(work),
        "--termination-drain-duration", "1",
        "--ca-address", ca.address, "--ca-root-cert", str(root), "--ca-token-file", str(token_file),
    ]  # fmt: skip
    env = {
        "ISTIO_META_INTERCEPTION_MODE": "NONE",
        "ISTIO_META_LATEEN_APP_ADDRESS": app_ip,
        # Istio's inclusion list has no TLS stats: keep the ones tls_check reads (a few
        # counters; the pod annotation proxy.istio.io/config would do the same)
        "PROXY_CONFIG": json.dumps({"proxyStatsMatcher": {"inclusionRegexps": [TLS_STATS_REGEX]}}),
    }
    group.start(f"{role}-agent", argv, env=env)


def envoy_stats(admin: tuple[str, int], pattern: str, timeout: float = 5.0) -> dict[str, int]:
    """Counters and gauges of an Envoy admin's ``/stats`` whose name matches ``pattern``."""
    query = urllib.parse.urlencode({"filter": pattern})
    with urllib.request.urlopen(f"http://{admin[0]}:{admin[1]}/stats?{query}", timeout=timeout) as resp:
        text = resp.read().decode()
    out: dict[str, int] = {}
    for line in text.splitlines():
        name, sep, value = line.rpartition(": ")
        if sep and value.strip().isdigit():
            out[name] = int(value)
    return out


# which Envoy (role) ends a hop as the server (listener stats) and starts it as the client
# (cluster stats), and which cluster / listener names the path's hop has
_HOPS: dict[str, tuple[str, str, str, str]] = {
    # path: (client Envoy, cluster name regex, server Envoy, listener stat regex)
    "lateen": ("client-envoy", r"outbound\|9080\|\|server\.default\.svc\.cluster\.local",
               "server-envoy", r"[0-9.]+_9080"),
    "lateen-plaintext": ("client-envoy", r"outbound\|9080\|\|server\.plain\.svc\.cluster\.local",
                         "server-plain-envoy", r"[0-9.]+_9080"),
    "limit": ("limit-client-envoy", r"limit", "limit-server-envoy", r"[0-9.]+_9080"),
    "limit-plaintext": ("limit-client-envoy", r"limit-plaintext",
                        "limit-server-envoy", r"[0-9.]+_9081"),
}  # fmt: skip


def tls_check(bed: Testbed) -> dict[str, dict[str, Any]]:
    """Per meshed path: the TLS handshakes its client Envoy's cluster made
    (``cluster.NAME.ssl.handshake``) and its server Envoy's listener accepted
    (``listener.ADDR_PORT.ssl.handshake``), the TLS versions and ciphers the server side
    negotiated, and whether the hop is TLS (both counters above 0)."""
    out: dict[str, dict[str, Any]] = {}
    for path, (client, cluster_re, server, listener_re) in _HOPS.items():
        if path not in bed.targets:
            continue
        cstats = envoy_stats(bed.admins[client], r"^cluster\..*\.ssl\.")
        sstats = envoy_stats(bed.admins[server], r"^listener\..*\.ssl\.")
        c_re = re.compile(rf"cluster\.{cluster_re}\.ssl\.handshake")
        s_re = re.compile(rf"listener\.{listener_re}\.ssl\.handshake")
        client_hs = sum(v for k, v in cstats.items() if c_re.fullmatch(k))
        server_hs = sum(v for k, v in sstats.items() if s_re.fullmatch(k))
        prefix = re.compile(rf"listener\.{listener_re}\.ssl\.(versions|ciphers)\.(.+)")
        negotiated: dict[str, int] = {}
        for k, v in sstats.items():
            m = prefix.fullmatch(k)
            if m and v:
                negotiated[f"{m.group(1)}.{m.group(2)}"] = v
        out[path] = {
            "client_handshakes": client_hs,
            "server_handshakes": server_hs,
            "tls": client_hs > 0 and server_hs > 0,
            "server_negotiated": dict(sorted(negotiated.items())),
        }
    return out


@contextmanager
def testbed(
    workdir: Path,
    *,
    mesh: bool = True,
    limit: bool = True,
    plaintext: bool = False,
    server_threads: int = 2,
) -> Iterator[Testbed]:
    """Start the server and the requested paths (``plaintext``: also ``lateen-plaintext`` and
    ``limit-plaintext``), wait until each answers 200 with 1 KB, yield; every process is
    stopped (by PID) when the block ends."""
    x = pick_block()
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with ProcGroup(logs) as group:
        bed = Testbed(group, x)
        app = f"127.{x}.1.2"
        bed.pids["server"] = start_server(
            group, "server", app, APP_PORT, size=RESPONSE_BYTES, threads=server_threads
        ).pid
        bed.targets["no-mesh"] = Target("no-mesh", app, APP_PORT)
        cp_ip = f"127.{x}.0.1"
        ca_port = free_port(cp_ip)
        ca = _make_ca(workdir, f"{cp_ip}:{ca_port}") if mesh or limit else None
        sidecars: list[tuple[str, str]] = []  # (role, pod address)
        if mesh:
            assert ca is not None
            client_pod, server_pod, plain_pod = f"127.{x}.0.10", f"127.{x}.0.11", f"127.{x}.0.12"
            config = workdir / "config"
            config.mkdir()
            (config / "server.yaml").write_text(SERVICE.format(
                ns="default", vip="198.19.0.10", app="server", pod_name="server-v1-1",
                pod=server_pod, port=APP_PORT))  # fmt: skip
            if plaintext:
                (config / "server-plain.yaml").write_text(SERVICE.format(
                    ns="plain", vip="198.19.0.11", app="server-plain",
                    pod_name="server-plain-v1-1", pod=plain_pod, port=APP_PORT))  # fmt: skip
                (config / "plain-policy.yaml").write_text(PLAIN_POLICY)
            xds_port, mon_port = free_port(cp_ip), free_port(cp_ip)
            argv = [
                sys.executable, "-m", "lateen", "discovery", "--config-dir", str(config),
                "--listen-address", cp_ip, "--xds-port", str(xds_port),
                "--monitoring-port", str(mon_port), "--log-level", "warning",
                "--ca-dir", str(ca.dir), "--ca-port", str(ca_port), "--ca-tokens", str(ca.tokens),
            ]  # fmt: skip
            cp = group.start("control-plane", argv)
            bed.pids["control-plane"] = cp.pid
            xds = f"{cp_ip}:{xds_port}"
            _start_agent(group, workdir, "client", client_pod, f"127.{x}.1.10", "client", xds, ca)
            _start_agent(group, workdir, "server", server_pod, app, "server", xds, ca)
            sidecars += [("client", client_pod), ("server", server_pod)]
            bed.targets["lateen"] = Target("lateen", client_pod, 15001)
            if plaintext:
                _start_agent(group, workdir, "server-plain", plain_pod, app, "server-plain",
                             xds, ca, namespace="plain")  # fmt: skip
                sidecars.append(("server-plain", plain_pod))
                bed.targets["lateen-plaintext"] = Target("lateen-plaintext", client_pod, 15001,
                                                         PLAIN_HOST)  # fmt: skip
        if limit:
            assert ca is not None
            lc, ls = f"127.{x}.0.20", f"127.{x}.0.21"
            client_files = _issue_files(ca, workdir / "limit-client-certs", "default", "limit-client")
            server_files = _issue_files(ca, workdir / "limit-server-certs", "default", "limit-server")
            sni = "outbound_.9080_._.limit-server.default.svc.cluster.local"
            san = f"spiffe://{TRUST_DOMAIN}/ns/default/sa/limit-server"
            client_hops = [Hop("limit", (lc, 15001), (ls, APP_PORT), client_tls=client_files,
                               sni=sni, sans=(san,))]  # fmt: skip
            server_hops = [Hop("limit", (ls, APP_PORT), (app, APP_PORT), server_tls=server_files)]
            if plaintext:
                cport, sport = LIMIT_PLAIN_PORTS
                client_hops.append(Hop("limit-plaintext", (lc, cport), (ls, sport)))
                server_hops.append(Hop("limit-plaintext", (ls, sport), (app, APP_PORT)))
            for name, listen_ip, hops in (
                ("limit-client-envoy", lc, client_hops),
                ("limit-server-envoy", ls, server_hops),
            ):
                path = workdir / f"{name}.json"
                bed.admins[name] = (listen_ip, 15000)
                boot = limit_bootstrap(node=name, admin=bed.admins[name], hops=tuple(hops))
                path.write_text(json.dumps(boot, indent=2))
                argv = [
                    str(envoy_binary()), "-c", str(path), "--concurrency", "2",
                    "--disable-hot-restart", "--base-id", str(free_port() % 60000),
                    "--log-level", "warning",
                ]  # fmt: skip
                envoy = group.start(name, argv)
                bed.pids[name] = envoy.pid
            bed.targets["limit"] = Target("limit", lc, 15001)
            if plaintext:
                bed.targets["limit-plaintext"] = Target("limit-plaintext", lc, LIMIT_PLAIN_PORTS[0])
        for target in bed.targets.values():
            _wait(group, f"200 with {RESPONSE_BYTES} bytes via {target.path}",
                  lambda t=target: get(t) == (200, RESPONSE_BYTES))  # fmt: skip
        for role, pod_ip in sidecars:
            agent = group.procs[f"{role}-agent"].pid
            bed.pids[f"{role}-agent"] = agent
            envoy_pid = envoy_child(agent)
            if envoy_pid is None:
                raise RuntimeError(f"no Envoy under the {role} agent (PID {agent})")
            group.adopt(envoy_pid)
            bed.pids[f"{role}-envoy"] = envoy_pid
            bed.admins[f"{role}-envoy"] = (pod_ip, 15000)
        yield bed
