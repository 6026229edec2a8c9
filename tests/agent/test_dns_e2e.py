"""End-to-end: `lateen discovery` + `lateen agent` (real Envoy sidecar) with DNS capture on
(``ISTIO_META_DNS_CAPTURE=true``): the agent's DNS proxy learns the name table over its own
NDS stream and answers a Service's names with its clusterIP over UDP and TCP; a changed
clusterIP in the config directory is answered next; the agent's stream is not a second
proxy in syncz; SIGTERM stops it and frees the DNS port."""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from lateen.testing.procs import Processes, free_port, http_get, wait_for

pytestmark = pytest.mark.e2e

CONFIG = """\
apiVersion: v1
kind: Service
metadata: {{name: reviews, namespace: default}}
spec:
  clusterIP: {ip}
  selector: {{app: reviews}}
  ports: [{{name: http, port: 9080}}]
---
apiVersion: v1
kind: Service
metadata: {{name: ratings, namespace: shop}}
spec:
  clusterIP: 198.19.7.13
  selector: {{app: ratings}}
  ports: [{{name: http, port: 9080}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: httpbin-ext, namespace: default}}
spec:
  hosts: [httpbin.example.com]
  addresses: [198.18.99.1]
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  resolution: STATIC
  endpoints: [{{address: 198.18.99.1}}]
"""

SEARCH = "default.svc.cluster.local svc.cluster.local cluster.local"


@dataclass
class Pod:
    procs: Processes
    config: Path
    dns_port: int
    monitoring_port: int
    status_url: str

    def write_config(self, ip: str) -> None:
        tmp = self.config.parent / ".config.yaml.tmp"
        tmp.write_text(CONFIG.format(ip=ip))
        tmp.replace(self.config)

    def resolve(self, name: str, rdtype: str = "A", *, tcp: bool = False) -> dns.message.Message:
        q = dns.message.make_query(name, rdtype)
        send = dns.query.tcp if tcp else dns.query.udp
        return send(q, "127.0.0.1", port=self.dns_port, timeout=2)

    def a(self, name: str, *, tcp: bool = False) -> list[str]:
        resp = self.resolve(name, tcp=tcp)
        return sorted(r.to_text() for rr in resp.answer if rr.rdtype == dns.rdatatype.A for r in rr)


def _kill_if_envoy(pid: int) -> None:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return
    if b"envoy" in cmdline.split(b"\0", 1)[0]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(name="pod")
def pod_fixture(tmp_path: Path) -> Iterator[Pod]:
    logs = tmp_path / "logs"
    logs.mkdir()
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(f"nameserver 198.18.0.53\nsearch {SEARCH}\noptions ndots:5\n")
    pod_ip = f"127.53.{random.randint(1, 250)}.{random.randint(1, 250)}"
    with Processes(logs) as procs:
        pod = Pod(procs, config_dir / "config.yaml", free_port(), free_port(), "")
        try:
            pod.write_config("198.19.7.12")
            xds_port = free_port()
            procs.python("discovery", "-m", "lateen", "discovery", "--config-dir", str(config_dir),
                         "--xds-port", str(xds_port),
                         "--monitoring-port", str(pod.monitoring_port))  # fmt: skip
            wait_for(lambda: http_get(f"http://127.0.0.1:{pod.monitoring_port}/metrics")[0] == 200,
                     what="discovery /metrics")  # fmt: skip
            admin, stats, status = (free_port(pod_ip) for _ in range(3))
            pod.status_url = f"http://{pod_ip}:{status}/healthz/ready"
            procs.start(
                "agent",
                [sys.executable, "-m", "lateen", "agent", "--pod-name", "client-1",
                 "--namespace", "default", "--pod-ip", pod_ip, "--labels", "app=client",
                 "--discovery-address", f"127.0.0.1:{xds_port}", "--admin-port", str(admin),
                 "--stats-port", str(stats), "--status-port", str(status),
                 "--work-dir", str(tmp_path / "agent"), "--termination-drain-duration", "0",
                 "--agent-log-level", "debug"],
                env={
                    "ISTIO_META_DNS_CAPTURE": "true",
                    "ISTIO_META_INTERCEPTION_MODE": "NONE",  # listeners on the pod address
                    "LATEEN_DNS_PORT": str(pod.dns_port),
                    "LATEEN_RESOLV_CONF": str(resolv),
                },
            )  # fmt: skip
            yield pod
        except BaseException:
            for name in ("discovery", "agent"):
                print(f"--- {name} ---\n{procs.log(name)[-6000:]}", file=sys.stderr)
            raise
        finally:
            procs.close()
            for pid in re.findall(r"envoy started \(pid (\d+)", procs.log("agent")):
                _kill_if_envoy(int(pid))  # never leave an Envoy behind, even on failure


def test_agent_dns_proxy_answers_service_vips_and_follows_changes(pod: Pod) -> None:
    wait_for(lambda: http_get(pod.status_url)[0] == 200, timeout=30, what="sidecar ready")
    wait_for(lambda: pod.a("reviews") == ["198.19.7.12"], timeout=15, what="reviews resolves")

    # every form an app in namespace default may use, over UDP and TCP
    for tcp in (False, True):
        for name in ("reviews", "reviews.default", "reviews.default.svc",
                     "reviews.default.svc.cluster.local",
                     "reviews.default.default.svc.cluster.local"):  # fmt: skip
            assert pod.a(name, tcp=tcp) == ["198.19.7.12"], (name, tcp)
        assert pod.a("ratings.shop", tcp=tcp) == ["198.19.7.13"]
        assert pod.a("httpbin.example.com", tcp=tcp) == ["198.18.99.1"]
    expanded = pod.resolve("reviews.default.svc.cluster.local.default.svc.cluster.local")
    assert [(dns.rdatatype.to_text(rr.rdtype), [r.to_text() for r in rr]) for rr in expanded.answer] == [
        ("CNAME", ["reviews.default.svc.cluster.local."]),
        ("A", ["198.19.7.12"]),
    ]
    assert pod.resolve("reviews", "AAAA").rcode() == dns.rcode.NOERROR
    assert pod.resolve("ratings").rcode() == dns.rcode.NXDOMAIN  # other namespace: no short name
    assert pod.resolve("www.example.org").rcode() == dns.rcode.NXDOMAIN

    # the agent's NDS stream is not a second proxy
    _, body = http_get(f"http://127.0.0.1:{pod.monitoring_port}/debug/syncz")
    assert body.count('"proxy": "client-1.default"') + body.count('"proxy":"client-1.default"') == 1
    _, metrics = http_get(f"http://127.0.0.1:{pod.monitoring_port}/metrics")
    assert 'pilot_xds{version="1.24.0"} 1.0' in metrics

    # a few hundred queries: the proxy's latency as an app sees it
    start = time.perf_counter()
    n = 300
    for _ in range(n):
        pod.resolve("reviews.default.svc.cluster.local")
    per_query_ms = (time.perf_counter() - start) * 1000 / n
    print(f"\nDNS proxy: {per_query_ms:.2f} ms per UDP query (dnspython client, {n} queries)")

    changed_at = time.monotonic()
    pod.write_config("198.19.7.99")
    wait_for(lambda: pod.a("reviews") == ["198.19.7.99"], timeout=20, interval=0.02,
             what="the new clusterIP is answered")  # fmt: skip
    print(f"clusterIP changed in the config dir -> new DNS answer: "
          f"{(time.monotonic() - changed_at) * 1000:.0f} ms")  # fmt: skip
    assert pod.a("reviews.default.default.svc.cluster.local", tcp=True) == ["198.19.7.99"]

    agent = pod.procs.procs[-1]
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(timeout=20) == 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", pod.dns_port))  # the DNS port is free again
