"""Capture real Envoy admin output for the ``lateen proxy-config`` / ``proxy-status`` tests.

Starts ``lateen discovery`` on Bookinfo (samples/bookinfo/platform with a cluster IP given
to each Service, as an API server would; samples/bookinfo/networking; the pods and
Endpoints of workloads.yaml), then a real Envoy per proxy below from a plain ADS
bootstrap (``lateen.testing.procs``), waits until each has acknowledged its listeners and
routes, and writes, per proxy NAME:

    config_dump-NAME.json   GET /config_dump            (Envoy admin; the sidecar also holds
                            a workload certificate and root as static secrets)
    clusters-NAME.json      GET /clusters?format=json   (Envoy admin; endpoints and health)
and once:
    syncz.json              GET /debug/syncz            (the control plane)

Run from the repository root:  python3 tests/testdata/cli/capture.py
"""

from __future__ import annotations

import base64
import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from lateen.testing.procs import (
    Processes,
    ads_bootstrap,
    free_port,
    http_get,
    start_envoy,
    wait_for,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
LABELS = {"app": "productpage", "version": "v1", "security.istio.io/tlsMode": "istio"}

# name -> (node id, cluster, metadata)
PROXIES: dict[str, tuple[str, str, dict[str, Any]]] = {
    # productpage's sidecar as `lateen up` runs it (explicit mode: the pod's own loopback
    # address, the app on its twin address)
    "sidecar": (
        "sidecar~127.42.0.10~productpage-v1-7d4b9c8f6-x2x4k.default~default.svc.cluster.local",
        "productpage.default",
        {
            "NAMESPACE": "default",
            "CLUSTER_ID": "Kubernetes",
            "ISTIO_VERSION": "1.24.0",
            "LABELS": LABELS,
            "WORKLOAD_NAME": "productpage-v1",
            "SERVICE_ACCOUNT": "bookinfo-productpage",
            "INTERCEPTION_MODE": "NONE",
            "LATEEN_APP_ADDRESS": "127.43.0.10",
        },
    ),
    # another productpage replica's sidecar as Istio runs it on Kubernetes (iptables capture:
    # virtualOutbound on 0.0.0.0:15001, virtualInbound on 0.0.0.0:15006)
    "sidecar-redirect": (
        "sidecar~127.42.0.16~productpage-v1-7d4b9c8f6-r3dkq.default~default.svc.cluster.local",
        "productpage.default",
        {
            "NAMESPACE": "default",
            "CLUSTER_ID": "Kubernetes",
            "ISTIO_VERSION": "1.24.0",
            "LABELS": LABELS,
            "WORKLOAD_NAME": "productpage-v1",
            "SERVICE_ACCOUNT": "bookinfo-productpage",
        },
    ),
    # the ingress gateway (Gateway bookinfo-gateway, port 8080 bound on 127.0.0.1:PORT)
    "gateway": (
        "router~127.42.0.2~istio-ingressgateway-6c5b8f7d9-kq4xt.istio-system~istio-system.svc.cluster.local",
        "istio-ingressgateway.istio-system",
        {
            "NAMESPACE": "istio-system",
            "CLUSTER_ID": "Kubernetes",
            "ISTIO_VERSION": "1.24.0",
            "LABELS": {"app": "istio-ingressgateway", "istio": "ingressgateway"},
            "WORKLOAD_NAME": "istio-ingressgateway",
            "INTERCEPTION_MODE": "NONE",
            "LATEEN_PORT_BINDINGS": {"8080": "127.42.0.2:18080"},
        },
    ),
}


def admin_json(port: int, path: str) -> Any:
    status, body = http_get(f"http://127.0.0.1:{port}{path}", timeout=10)
    if status != 200:
        raise RuntimeError(f"{path}: HTTP {status}: {body[:200]}")
    return json.loads(body)


def synced(port: int) -> bool:
    dump = admin_json(port, "/config_dump")
    kinds = {c["@type"].rsplit(".", 1)[-1]: c for c in dump["configs"]}
    listeners = kinds.get("ListenersConfigDump", {}).get("dynamic_listeners", [])
    routes = kinds.get("RoutesConfigDump", {}).get("dynamic_route_configs", [])
    if not (listeners and all("active_state" in x for x in listeners) and routes):
        return False
    # endpoints (EDS) arrived too
    statuses = admin_json(port, "/clusters?format=json")["cluster_statuses"]
    return any(c["name"].startswith("outbound|9080||reviews") and c.get("host_statuses")
               for c in statuses)


def platform_with_cluster_ips(out: Path) -> Path:
    """samples/bookinfo/platform with ``spec.clusterIP`` set on every Service (127.44.0.N)."""
    docs = list(yaml.safe_load_all((ROOT / "samples/bookinfo/platform/bookinfo.yaml").read_text()))
    n = 10
    for d in docs:
        if d and d.get("kind") == "Service":
            d["spec"]["clusterIP"] = f"127.44.0.{n}"
            n += 1
    out.mkdir()
    (out / "bookinfo.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return out


def _pem_b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def static_secrets() -> list[dict[str, Any]]:
    """A workload certificate (``default``, SPIFFE id of bookinfo-productpage) signed by a
    root (``ROOTCA``), as the agent would serve them over SDS; fixed validity (2026-2036)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2036, 1, 1, tzinfo=UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cluster.local")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(0x1A2B3C4D5E6F)
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    spiffe = "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(ca_name)
        .public_key(key.public_key()).serial_number(0x7F00AA55)
        .not_valid_before(start).not_valid_after(datetime(2026, 1, 2, tzinfo=UTC))
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe)]), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return [
        {"name": "default", "tls_certificate": {
            "certificate_chain": {"inline_bytes": _pem_b64(cert.public_bytes(pem) + ca.public_bytes(pem))},
            "private_key": {"inline_bytes": _pem_b64(key_pem)},
        }},
        {"name": "ROOTCA", "validation_context": {"trusted_ca": {"inline_bytes": _pem_b64(ca.public_bytes(pem))}}},
    ]


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="lateen-capture-") as tmp, Processes(Path(tmp)) as procs:
        platform = platform_with_cluster_ips(Path(tmp) / "platform")
        xds_port, monitoring_port = free_port(), free_port()
        procs.python(
            "discovery", "-m", "lateen", "discovery",
            "--config-dir", str(platform),
            "--config-dir", str(ROOT / "samples/bookinfo/networking"),
            "--config-dir", str(HERE / "workloads.yaml"),
            "--xds-port", str(xds_port), "--monitoring-port", str(monitoring_port),
        )  # fmt: skip
        wait_for(lambda: http_get(f"http://127.0.0.1:{monitoring_port}/metrics")[0] == 200,
                 what="discovery")
        admins: dict[str, int] = {}
        for name, (node_id, cluster, metadata) in PROXIES.items():
            admins[name] = free_port()
            bootstrap = ads_bootstrap(
                node_id=node_id, cluster=cluster, metadata=metadata, xds_address="127.0.0.1",
                xds_port=xds_port, admin_port=admins[name],
            )
            if name == "sidecar":  # the workload certificate and trust bundle, as static secrets
                bootstrap["static_resources"]["secrets"] = static_secrets()
            start_envoy(procs, name, bootstrap, Path(tmp))
        try:
            for name, port in admins.items():
                wait_for(lambda port=port: synced(port), timeout=30, what=f"{name} synced")  # type: ignore[misc]
        except TimeoutError:
            for name in ["discovery", *admins]:
                print(f"--- {name}\n{procs.log(name)}", file=sys.stderr)
            raise
        for name, port in admins.items():
            for prefix, path in (("config_dump", "/config_dump"), ("clusters", "/clusters?format=json")):
                out = HERE / f"{prefix}-{name}.json"
                out.write_text(json.dumps(admin_json(port, path), indent=2, sort_keys=True) + "\n")
                print(f"wrote {out.relative_to(ROOT)}")
        syncz = admin_json(monitoring_port, "/debug/syncz")
        out = HERE / "syncz.json"
        out.write_text(json.dumps(syncz, indent=2, sort_keys=True) + "\n")
        print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
