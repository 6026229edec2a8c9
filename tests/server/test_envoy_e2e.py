"""A real Envoy connects to the ADS server with a plain bootstrap and ACKs CDS and LDS."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from google.protobuf.any_pb2 import Any as AnyPb
from google.protobuf.duration_pb2 import Duration
from prometheus_client import CollectorRegistry
from xds_server_fakes import NODE

from lateen.agent import envoy_binary
from lateen.model import Proxy, PushRequest
from lateen.server import CDS, LDS, XdsServer
from lateen.testing.procs import ads_bootstrap
from lateen.xds import Resource

pytestmark = pytest.mark.e2e


class _Push:
    def __init__(self, version: str) -> None:
        self.version = version


def _addr(port: int) -> address_pb2.Address:
    return address_pb2.Address(
        socket_address=address_pb2.SocketAddress(address="127.0.0.1", port_value=port)
    )


class _Gen:
    def __init__(self, type_url: str) -> None:
        self.type_url = type_url

    def needs_push(self, proxy: Proxy, request: PushRequest) -> bool:
        return True

    def cache_key(self, proxy: Proxy, push: Any) -> str:
        return "all"

    def generate(self, proxy: Proxy, push: Any) -> list[Resource]:
        if self.type_url == CDS:
            c = cluster_pb2.Cluster(
                name="outbound|9|v1|echo.default.svc.cluster.local",
                type=cluster_pb2.Cluster.STATIC,
                connect_timeout=Duration(seconds=1),
                load_assignment=endpoint_pb2.ClusterLoadAssignment(
                    cluster_name="outbound|9|v1|echo.default.svc.cluster.local",
                    endpoints=[
                        endpoint_components_pb2.LocalityLbEndpoints(
                            lb_endpoints=[
                                endpoint_components_pb2.LbEndpoint(
                                    endpoint=endpoint_components_pb2.Endpoint(address=_addr(9))
                                )
                            ]
                        )
                    ],
                ),
            )
            return [Resource(c.name, c)]
        tcp = AnyPb()
        tcp.Pack(
            tcp_proxy_pb2.TcpProxy(
                stat_prefix="echo", cluster="outbound|9|v1|echo.default.svc.cluster.local"
            )
        )
        listener = listener_pb2.Listener(
            name="echo_listener",
            address=_addr(0),
            filter_chains=[
                listener_components_pb2.FilterChain(
                    filters=[
                        listener_components_pb2.Filter(
                            name="envoy.filters.network.tcp_proxy", typed_config=tcp
                        )
                    ]
                )
            ],
        )
        return [Resource(listener.name, listener)]


def _bootstrap(xds_port: int, api_type: str) -> dict[str, Any]:
    return ads_bootstrap(
        node_id=NODE,
        cluster="echo.default",
        metadata={"NAMESPACE": "default"},
        xds_address="127.0.0.1",
        xds_port=xds_port,
        admin_port=0,
        delta=api_type == "DELTA_GRPC",
    )


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=2) as r:
        return str(r.read().decode())


@pytest.mark.parametrize("api_type", ["GRPC", "DELTA_GRPC"])
async def test_real_envoy_acks_cluster_and_listener(tmp_path: Path, api_type: str) -> None:
    server = XdsServer({CDS: _Gen(CDS), LDS: _Gen(LDS)}, CollectorRegistry())
    server.push(_Push("v1"), PushRequest())
    task = asyncio.create_task(server.run("127.0.0.1:0"))
    proc: asyncio.subprocess.Process | None = None
    try:
        await asyncio.wait_for(server.ready.wait(), 5)
        assert server.port
        cfg = tmp_path / "bootstrap.json"
        cfg.write_text(json.dumps(_bootstrap(server.port, api_type)))
        admin_path = tmp_path / "admin.txt"
        log = (tmp_path / "envoy.log").open("wb")
        proc = await asyncio.create_subprocess_exec(
            str(envoy_binary()),
            "-c", str(cfg),
            "--base-id", str(random.randint(10_000, 2_000_000)),
            "--disable-hot-restart",
            "--admin-address-path", str(admin_path),
            "--log-level", "info",
            stdout=log,
            stderr=log,
        )  # fmt: skip

        def acked() -> bool:
            conns = server.connections()
            return bool(conns) and all(
                t in conns[0].watched
                and conns[0].watched[t].acked_nonce == conns[0].watched[t].sent_nonce != ""
                for t in (CDS, LDS)
            )

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while not acked():
            assert proc.returncode is None, (tmp_path / "envoy.log").read_text()[-3000:]
            assert loop.time() < deadline, (tmp_path / "envoy.log").read_text()[-3000:]
            await asyncio.sleep(0.05)
        conn = server.connections()[0]
        assert conn.protocol == ("delta" if api_type == "DELTA_GRPC" else "sotw")
        assert conn.watched[CDS].acked_version == "v1" and conn.watched[CDS].nacks == 0
        assert conn.watched[LDS].nacks == 0
        admin = admin_path.read_text().strip()
        clusters = await asyncio.to_thread(_get, f"http://{admin}/clusters")
        assert "outbound|9|v1|echo.default.svc.cluster.local" in clusters
        listeners = await asyncio.to_thread(_get, f"http://{admin}/listeners")
        assert "echo_listener" in listeners
    finally:
        if proc is not None and proc.returncode is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                os.kill(proc.pid, signal.SIGKILL)
                await proc.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
