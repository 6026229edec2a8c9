"""DestinationRule traffic policies with real Envoy: one ``lateen up`` (explicit mode) of
httpbin and the workloads in tests/e2e/drpolicy, then Istio's outcomes.

* circuit breaking (Istio's task): maxConnections 1, http1MaxPendingRequests 1,
  maxRequestsPerConnection 1 on httpbin; concurrent clients get 503s flagged ``UO`` in the
  client sidecar's access log and its ``upstream_rq_pending_overflow`` counts them.
* outlier detection: one of two replicas answers 503; after it is ejected it sees no more
  requests and every answer comes from the healthy one.
* consistent hashing: the same ``x-user`` always reaches the same replica of three.
* locality failover: a client in r1/zone-a whose zone's replica is broken fails over to the
  replica in the same region, never to the other region's.
* TLS origination (applied with ``lateen apply``): MUTUAL with certificate files to an HTTPS
  server that requires a client certificate; a wrong ``subjectAltNames`` fails verification.

Requests go through the client pod's sidecar as its HTTP proxy, as ``HTTP_PROXY`` makes the
pod's apps do."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lateen.testing.localmesh import run_lateen, stop_mesh
from lateen.testing.procs import free_port, http_get, wait_for

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
INPUTS = [
    ROOT / "samples" / "httpbin" / "httpbin.yaml",
    Path(__file__).parent / "drpolicy",
]
HTTPBIN = "outbound|8000||httpbin.default.svc.cluster.local"
FLAKY = "outbound|80||flaky.default.svc.cluster.local"
ZONAL = "outbound|80||zonal.default.svc.cluster.local"


@dataclass
class Mesh:
    state: Path
    _pods: list[dict[str, Any]] | None = None

    def lateen(
        self, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_lateen(self.state, *args, check=check, stdin=stdin, timeout=240)

    def pods(self) -> list[dict[str, Any]]:
        if self._pods is None:  # pods keep their names and addresses for the module
            self._pods = list(json.loads(self.lateen("status", "-o", "json").stdout)["pods"])
        return self._pods

    def pods_of(self, deployment: str) -> list[dict[str, Any]]:
        return [p for p in self.pods() if p["name"].rsplit("-", 2)[0] == deployment]

    def pod(self, deployment: str) -> dict[str, Any]:
        (pod,) = self.pods_of(deployment)
        return pod

    def get(
        self, client: str, url: str, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], str]:
        """GET ``url`` through the client pod's sidecar (its HTTP proxy)."""
        proxy = f"http://{self.pod(client)['ip']}:15001"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy}))
        req = urllib.request.Request(url, headers=headers or {})
        try:
            with opener.open(req, timeout=15) as resp:
                return resp.status, dict(resp.headers), resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode()

    def stat(self, client: str, name: str) -> int:
        """A counter or gauge of the client pod's Envoy (admin on the pod's address)."""
        query = urllib.parse.quote(f"^{re.escape(name)}$")
        _, text = http_get(f"http://{self.pod(client)['admin']}/stats?filter={query}")
        m = re.search(rf"^{re.escape(name)}: (\d+)$", text, re.M)
        return int(m.group(1)) if m else 0

    def log(self, deployment: str, container: str) -> str:
        c = next(c for c in self.pod(deployment)["containers"] if c["name"] == container)
        return Path(c["log"]).read_text()


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    m = Mesh(tmp_path_factory.mktemp("drpolicy") / ".lateen")
    started = time.monotonic()
    up = m.lateen(
        "up",
        *map(str, INPUTS),
        "-d",
        "--mode",
        "explicit",  # clients use their sidecar as HTTP proxy, stats read at the pod address
        "--ingress-port",
        str(free_port()),
        "--timeout",
        "150",
        check=False,
    )
    try:
        assert up.returncode == 0, f"lateen up failed:\n{up.stdout}\n{up.stderr}"
        print(f"lateen up -> all ready in {time.monotonic() - started:.1f}s")
        yield m
    finally:
        stop_mesh(m.state)


def _served_by(mesh: Mesh, client: str, url: str, n: int, **headers: str) -> Counter[str]:
    out: Counter[str] = Counter()
    for _ in range(n):
        code, hdrs, _ = mesh.get(client, url, headers)
        out[hdrs.get("x-pod", f"http-{code}") if code == 200 else f"http-{code}"] += 1
    return out


def test_circuit_breaking(mesh: Mesh) -> None:
    def call(_: int) -> int:
        return mesh.get("client", "http://httpbin:8000/delay/1")[0]

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = Counter(pool.map(call, range(8)))
    # one connection, one pending request: of 8 concurrent 1-second requests most overflow
    assert codes[200] >= 1, codes
    assert codes[503] >= 4, codes
    assert set(codes) <= {200, 503}, codes
    overflow = mesh.stat("client", f"cluster.{HTTPBIN}.upstream_rq_pending_overflow")
    assert overflow == codes[503], (overflow, codes)
    # Envoy flushes the access log once a second
    wait_for(
        lambda: (
            len(re.findall(r'"GET /delay/1 HTTP/1.1" 503 UO ', mesh.log("client", "istio-proxy")))
            == codes[503]
        ),
        timeout=10,
        what="503 UO lines in the client's sidecar access log",
    )
    # without concurrency the breaker stays closed
    assert [mesh.get("client", "http://httpbin:8000/get")[0] for _ in range(5)] == [200] * 5


def test_outlier_detection_ejects_the_failing_replica(mesh: Mesh) -> None:
    good = mesh.pod("flaky-good")["name"]
    seen = _served_by(mesh, "client", "http://flaky/", 30)
    # a request that hit the broken replica was retried (Istio's default retry policy) on the
    # healthy one; the broken one was ejected after its first 503
    assert seen == Counter({good: 30}), seen
    assert (
        mesh.stat("client", f"cluster.{FLAKY}.outlier_detection.ejections_enforced_consecutive_5xx")
        >= 1
    )
    assert mesh.stat("client", f"cluster.{FLAKY}.outlier_detection.ejections_active") == 1

    def bad_requests() -> int:
        return mesh.log("flaky-bad", "backend").count("request GET /")

    before = bad_requests()
    assert 1 <= before <= 3, before
    assert _served_by(mesh, "client", "http://flaky/", 30) == Counter({good: 30})
    time.sleep(0.5)
    assert bad_requests() == before  # ejected: no more traffic


def test_consistent_hash_by_header(mesh: Mesh) -> None:
    replicas = {p["name"] for p in mesh.pods_of("echo")}
    assert len(replicas) == 3
    chosen: dict[str, str] = {}
    for user in (f"user-{i}" for i in range(12)):
        seen = _served_by(mesh, "client", "http://echo/", 8, **{"x-user": user})
        assert len(seen) == 1, (user, seen)  # always the same replica
        (chosen[user],) = seen
        assert chosen[user] in replicas
    assert len(set(chosen.values())) >= 2, chosen  # users spread over the replicas
    # the ring is stable: asking again gives the same answers
    for user, pod in list(chosen.items())[:4]:
        assert _served_by(mesh, "client", "http://echo/", 3, **{"x-user": user}) == Counter(
            {pod: 3}
        )
    # without the header the hash is random: requests spread
    assert len(_served_by(mesh, "client", "http://echo/", 30)) >= 2


def test_locality_failover_prefers_the_same_region(mesh: Mesh) -> None:
    zone_b = mesh.pod("zonal-b")["name"]
    seen = _served_by(mesh, "client-zone-a", "http://zonal/", 30)
    # zone-a's replica (priority 0) is broken and ejected; zone-b (same region, priority 1)
    # takes everything; r2's replica (priority 2) gets nothing
    assert seen == Counter({zone_b: 30}), seen
    assert mesh.log("zonal-c", "backend").count("request GET /") == 0
    assert mesh.log("zonal-a", "backend").count("request GET /") >= 1
    assert mesh.stat("client-zone-a", f"cluster.{ZONAL}.outlier_detection.ejections_active") == 1
    # the client's EDS carries the priorities Istio computes for it
    _, text = http_get(f"http://{mesh.pod('client-zone-a')['admin']}/clusters?format=json")
    hosts = {
        h["locality"].get("zone", ""): h.get("priority", 0)
        for c in json.loads(text)["cluster_statuses"]
        if c["name"] == ZONAL
        for h in c["host_statuses"]
    }
    assert hosts == {"zone-a": 0, "zone-b": 1, "zone-c": 2}, hosts


# ---------------------------------------------------------------------------- TLS origination


def _pki(directory: Path) -> dict[str, Path]:
    """A CA, a server certificate for secure.example.com and a client certificate, as files."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    later = now + dt.timedelta(days=1)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(name("test CA")).issuer_name(name("test CA"))
        .public_key(ca_key.public_key()).serial_number(1).not_valid_before(now)
        .not_valid_after(later)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    files = {"ca": directory / "ca.pem"}
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for who, serial in (("server", 2), ("client", 3)):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder().subject_name(name(f"{who}.example.com"))
            .issuer_name(name("test CA")).public_key(key.public_key()).serial_number(serial)
            .not_valid_before(now).not_valid_after(later)
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(
                    "secure.example.com" if who == "server" else "client.example.com"
                )]),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )  # fmt: skip
        files[who] = directory / f"{who}.pem"
        files[f"{who}-key"] = directory / f"{who}-key.pem"
        files[who].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        files[f"{who}-key"].write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return files


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[int, dict[str, Path]]]:
    """An HTTPS server on 127.0.0.1 that requires a client certificate from the test CA and
    answers with the client's subject."""
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    files = _pki(tmp_path)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            peer = self.connection.getpeercert() or {}  # type: ignore[attr-defined]
            subject = dict(x[0] for x in peer.get("subject", ()))
            body = json.dumps(
                {"client": subject.get("commonName"), "sni": sni.get("name")}
            ).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    sni: dict[str, str | None] = {}
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(files["server"], files["server-key"])
    ctx.load_verify_locations(files["ca"])
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.sni_callback = lambda _sock, name, _ctx: sni.update(name=name)  # type: ignore[assignment,func-returns-value]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], files
    finally:
        server.shutdown()
        server.server_close()


TLS_CONFIG = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: secure}}
spec:
  hosts: [secure.example.com]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP, targetPort: {port}}}]
  endpoints: [{{address: 127.0.0.1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: secure}}
spec:
  host: secure.example.com
  trafficPolicy:
    tls:
      mode: MUTUAL
      clientCertificate: {client}
      privateKey: {client_key}
      caCertificates: {ca}
      sni: secure.example.com
      subjectAltNames: [{san}]
"""


def test_tls_origination_mutual(mesh: Mesh, https_server: tuple[int, dict[str, Path]]) -> None:
    port, files = https_server

    def apply(san: str) -> None:
        config = TLS_CONFIG.format(
            port=port,
            client=files["client"],
            client_key=files["client-key"],
            ca=files["ca"],
            san=san,
        )
        mesh.lateen("apply", "-f", "-", stdin=config)

    apply("secure.example.com")
    # plain HTTP from the app; the client's sidecar originates mutual TLS
    wait_for(
        lambda: mesh.get("client", "http://secure.example.com/")[0] == 200,
        timeout=30,
        what="TLS origination",
    )
    code, _, body = mesh.get("client", "http://secure.example.com/")
    assert code == 200
    assert json.loads(body) == {"client": "client.example.com", "sni": "secure.example.com"}
    # the server certificate is verified against subjectAltNames
    apply("other.example.com")
    wait_for(
        lambda: mesh.get("client", "http://secure.example.com/")[0] == 503,
        timeout=30,
        what="a SAN mismatch failing verification",
    )
    assert mesh.stat("client", "cluster.outbound|80||secure.example.com.ssl.fail_verify_san") > 0
    mesh.lateen(
        "delete",
        "-f",
        "-",
        stdin=TLS_CONFIG.format(port=port, client="a", client_key="b", ca="c", san="d"),
    )
