"""Automatic mTLS on ``lateen up`` Bookinfo (transparent and explicit mode): every sidecar's agent gets a
certificate from the CA (its own key, the pod's token) and serves it to Envoy over SDS; the
productpage -> reviews hop is mTLS (SNI ``outbound_.9080_._.reviews...`` in reviews' inbound
log, the peer's SPIFFE id checked by the client); a pod without a sidecar still reaches a
meshed pod in plaintext (PERMISSIVE); a deleted pod's token stops working."""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from lateen.cli._common import fetch_admin_json
from lateen.security import uri_sans
from lateen.testing.localmesh import ROOT, Mesh, container_log, mesh_up
from lateen.testing.procs import wait_for

pytestmark = pytest.mark.e2e

PLAIN_CLIENT = """
apiVersion: v1
kind: ServiceAccount
metadata: {name: curl}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: curl-plain}
spec:
  selector: {matchLabels: {app: curl-plain}}
  template:
    metadata:
      labels: {app: curl-plain, sidecar.istio.io/inject: "false"}
    spec:
      terminationGracePeriodSeconds: 0
      serviceAccountName: curl
      containers:
      - name: curl
        command: ["python3", "-c", "import time\\nwhile True: time.sleep(3600)"]
"""

GET = (
    "import sys, urllib.request\n"
    "with urllib.request.urlopen(sys.argv[1], timeout=10) as r:\n"
    "    print(r.status, r.read()[:40])\n"
)


@pytest.fixture(scope="module", params=["transparent", "explicit"])
def mesh(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    mode = request.param
    src = tmp_path_factory.mktemp("mtls-src")
    (src / "clients.yaml").write_text(PLAIN_CLIENT)
    bookinfo = ROOT / "samples" / "bookinfo" / "platform" / "bookinfo.yaml"
    gateway = ROOT / "samples" / "bookinfo" / "networking" / "bookinfo-gateway.yaml"
    (src / "kustomization.yaml").write_text(f"resources:\n- {bookinfo}\n- {gateway}\n- clients.yaml\n")
    with mesh_up(tmp_path_factory.mktemp("mtls") / ".lateen", src, mode, timeout=120) as m:
        yield m


def _secrets(pod: dict[str, Any]) -> dict[str, Any]:
    dump = fetch_admin_json(pod, "/config_dump?resource=dynamic_active_secrets")
    return {c["name"]: c["secret"] for c in dump.get("configs", [])}


def test_sidecar_is_served_its_workload_certificate(mesh: Mesh) -> None:
    pp = mesh.pod("productpage-v1")
    secrets = _secrets(pp)
    assert sorted(secrets) == ["ROOTCA", "default"]
    chain = base64.b64decode(secrets["default"]["tls_certificate"]["certificate_chain"]["inline_bytes"])
    leaf = x509.load_pem_x509_certificates(chain)[0]
    assert uri_sans(leaf) == ["spiffe://cluster.local/ns/default/sa/bookinfo-productpage"]
    # Envoy got a key (redacted in the dump); it was made in the agent, no file holds it
    key = secrets["default"]["tls_certificate"]["private_key"]["inline_bytes"]
    assert base64.b64decode(key) == b"[redacted]"
    work = mesh.state / "pods" / "default" / pp["name"] / "proxy"
    assert not [p for p in work.rglob("*") if p.is_file() and b"PRIVATE KEY" in p.read_bytes()]
    root = base64.b64decode(secrets["ROOTCA"]["validation_context"]["trusted_ca"]["inline_bytes"])
    ca_root = (mesh.state / "ca" / "root-cert.pem").read_bytes()
    assert x509.load_pem_x509_certificates(root) == x509.load_pem_x509_certificates(ca_root)
    # the token file holds digests only; one entry per sidecar pod
    tokens = json.loads((mesh.state / "ca-tokens.json").read_text())["tokens"]
    pods = {b["pod"] for b in tokens.values()}
    assert pp["name"] in pods and not any(p["name"] in pods for p in mesh.status()["pods"] if p["name"].startswith("curl-plain"))


def test_productpage_to_reviews_is_mutual_tls(mesh: Mesh) -> None:
    code, body = mesh.page()
    assert code == 200 and "Book Reviews" in body, body[:300]
    assert "Sorry, product reviews are currently unavailable" not in body
    reviews = [p for p in mesh.status()["pods"] if p["name"].startswith("reviews-")]
    sni = "outbound_.9080_._.reviews.default.svc.cluster.local"
    wait_for(lambda: any(sni in container_log(r) for r in reviews), timeout=10,
             what="the mTLS SNI in reviews' inbound access log")  # fmt: skip
    line = next(x for r in reviews for x in container_log(r).splitlines() if sni in x)
    assert "inbound|9080||" in line
    # productpage's cluster to reviews has the SPIFFE SAN of reviews' service account
    clusters = fetch_admin_json(mesh.pod("productpage-v1"), "/config_dump?resource=dynamic_active_clusters")
    reviews_cluster = next(
        c["cluster"] for c in clusters["configs"]
        if c["cluster"]["name"] == "outbound|9080||reviews.default.svc.cluster.local"
    )  # fmt: skip
    text = json.dumps(reviews_cluster["transport_socket_matches"])
    assert "spiffe://cluster.local/ns/default/sa/bookinfo-reviews" in text and sni in text


def test_pod_without_sidecar_still_reaches_a_meshed_pod(mesh: Mesh) -> None:
    details = mesh.pod("details-v1")
    marker = f"/details/0?plain={time.monotonic_ns()}"
    out = mesh.lateen("exec", "deploy/curl-plain", "--", sys.executable, "-c", GET,
                      f"http://{details['ip']}:9080{marker}", check=False)  # fmt: skip
    assert out.returncode == 0 and out.stdout.startswith("200"), out.stdout + out.stderr
    wait_for(lambda: marker in container_log(details), timeout=10, what="details' inbound log")
    line = next(x for x in container_log(details).splitlines() if marker in x)
    assert "inbound|9080||" in line and "outbound_." not in line  # plaintext: no SNI


def test_agent_files_are_the_proxys_own(mesh: Mesh) -> None:
    pp = mesh.pod("productpage-v1")
    work = Path(mesh.state) / "pods" / "default" / pp["name"] / "proxy"
    token = work / "var/run/secrets/tokens/istio-token"
    sock = work / "var/run/secrets/workload-spiffe-uds/socket"
    for path in (token, sock):
        st = path.stat()
        assert (st.st_mode & 0o077) == 0, (path, oct(st.st_mode))
        if mesh.mode == "transparent":  # the proxy runs as uid 1337
            assert st.st_uid == 1337, path


PEER_AUTH = """
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {{name: default, namespace: {namespace}}}
spec: {{mtls: {{mode: {mode}}}}}
"""


def _plain_call(mesh: Mesh) -> bool:
    """Whether the pod without a sidecar gets a 200 from details (by pod IP, plaintext)."""
    details = mesh.pod("details-v1")
    out = mesh.lateen("exec", "deploy/curl-plain", "--", sys.executable, "-c", GET,
                      f"http://{details['ip']}:9080/details/0", check=False)  # fmt: skip
    return out.returncode == 0 and out.stdout.startswith("200")


def _page_ok(mesh: Mesh) -> bool:
    code, body = mesh.page()
    return code == 200 and "Book Details" in body and "Error fetching" not in body


def _probes_answered(mesh: Mesh) -> dict[str, int]:
    """How many readiness probes (``GET /health``) each sidecar pod's app has answered."""
    return {
        p["name"]: container_log(p, c["name"]).count("GET /health ")
        for p in mesh.status()["pods"] if p["proxy"] == "sidecar"
        for c in p["containers"] if c["name"] != "istio-proxy"
    }  # fmt: skip


@pytest.mark.parametrize(
    "namespace", ["default", "istio-system"], ids=["namespace-strict", "mesh-wide-strict"]
)
def test_mtls_migration_strict_refuses_plaintext_clients(mesh: Mesh, namespace: str) -> None:
    """Istio's mTLS migration task: STRICT for the namespace, then mesh-wide (root namespace):
    the client without a sidecar fails, sidecar traffic (the page) keeps working; deleting the
    policy brings PERMISSIVE back. The kubelet's readiness probes keep passing under STRICT (it
    has no mesh certificate: its probes are rewritten to the agent, which probes the app in the
    pod), so no pod leaves its Services: checked after every app answered two probes."""
    policy = PEER_AUTH.format(namespace=namespace, mode="STRICT")
    mesh.lateen("apply", "-f", "-", stdin=policy)
    try:
        wait_for(lambda: not _plain_call(mesh), timeout=30, interval=0.5, what="plaintext refused under STRICT")
        before = _probes_answered(mesh)
        wait_for(lambda: all(n >= before[k] + 2 for k, n in _probes_answered(mesh).items()), timeout=30,
                 interval=0.5, what="two readiness probes answered by every app under STRICT")  # fmt: skip
        assert [p["name"] for p in mesh.status()["pods"] if not p["ready"]] == []
        assert all(_page_ok(mesh) for _ in range(5))
    finally:
        mesh.lateen("delete", "-f", "-", stdin=policy)
    wait_for(lambda: _plain_call(mesh), timeout=30, interval=0.5, what="plaintext accepted again")


def test_namespace_disable_turns_mtls_off(mesh: Mesh) -> None:
    """DISABLE: the inbound side takes plaintext only and clients stop sending mTLS (the hop's
    SNI disappears from the server's access log), while the page keeps working."""
    policy = PEER_AUTH.format(namespace="default", mode="DISABLE")
    mesh.lateen("apply", "-f", "-", stdin=policy)
    try:
        reviews = [p for p in mesh.status()["pods"] if p["name"].startswith("reviews-")]

        def plaintext_hop() -> bool:
            marker = f"disable-{time.monotonic_ns()}"
            if not _page_ok(mesh):
                return False
            time.sleep(1.2)  # Envoy flushes access logs once a second
            lines = [x for r in reviews for x in container_log(r).splitlines()[-20:] if "inbound|9080||" in x]
            return bool(lines) and "outbound_.9080_._.reviews" not in lines[-1] and bool(marker)

        wait_for(plaintext_hop, timeout=40, interval=0.5, what="the productpage -> reviews hop in plaintext")
        assert _plain_call(mesh)
    finally:
        mesh.lateen("delete", "-f", "-", stdin=policy)
