"""NDS: the name table generator (golden cases, Istio's wire format, when it is pushed) and the
ADS server's handling of an agent's NDS-only stream."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from lateen.api import load_yaml
from lateen.api._object import ConfigKey
from lateen.model import MeshConfig, Proxy, ProxyType, PushRequest, build_push_context
from lateen.server import CDS, NDS, XdsServer
from lateen.testing.golden import assert_golden, load_xds_case, resources_data
from lateen.testing.xds_client import XdsClient
from lateen.xds import default_generators
from lateen.xds.nds import (
    NAME_TABLE_TYPE,
    NameInfo,
    NameTableGenerator,
    build_name_table,
    name_table_class,
    name_table_from_message,
    name_table_message,
)

DATA = Path(__file__).parent.parent / "testdata" / "nds"
CASES = sorted(p.name.removesuffix(".input.yaml") for p in DATA.glob("*.input.yaml"))

PROXY = Proxy(
    ProxyType.SIDECAR, ("198.18.0.1",), "a-1.default", "default.svc.cluster.local", "default"
)
NODE = PROXY.node_id


def _service(name: str, ns: str, ip: str) -> str:
    return (
        f"apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {ns}}}\n"
        f"spec: {{clusterIP: {ip}, ports: [{{name: http, port: 80}}]}}\n---\n"
    )


def _push(yaml_text: str, version: str = "1"):  # type: ignore[no-untyped-def]
    return build_push_context(load_yaml(yaml_text).objects, MeshConfig(), version=version)


# -- generation ---------------------------------------------------------------------------


def generate_case(name: str) -> list[dict[str, object]]:
    case = load_xds_case((DATA / f"{name}.input.yaml").read_text(), name)
    push = build_push_context(case.objects, case.mesh, version="golden")
    return resources_data(NameTableGenerator().generate(case.proxy, push))


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str) -> None:
    assert_golden(DATA / f"{name}.golden.yaml", generate_case(name))


def test_registered_with_the_other_generators() -> None:
    assert isinstance(default_generators()[NAME_TABLE_TYPE], NameTableGenerator)
    assert NAME_TABLE_TYPE == NDS == "type.googleapis.com/istio.networking.nds.v1.NameTable"


def test_one_unnamed_resource_even_when_empty() -> None:
    resources = NameTableGenerator().generate(PROXY, _push(""))
    assert [r.name for r in resources] == [""]
    assert resources_data(resources) == [{}]


# -- Istio's wire format ------------------------------------------------------------------


def test_field_numbers_are_istios() -> None:
    desc = name_table_class().DESCRIPTOR
    assert desc.full_name == "istio.networking.nds.v1.NameTable"
    assert {f.name: f.number for f in desc.fields} == {"table": 1, "name_info": 2}
    assert desc.fields_by_name["table"].message_type.GetOptions().map_entry
    info = desc.nested_types_by_name["NameInfo"]
    assert {f.name: f.number for f in info.fields} == {
        "ips": 1,
        "registry": 2,
        "shortname": 3,
        "namespace": 4,
        "alt_hosts": 5,
    }


def test_bytes_on_the_wire() -> None:
    # hand-encoded: table{key "a", value{ips "198.19.0.1", registry "Kubernetes"}}
    info = b"\x0a\x0a198.19.0.1" + b"\x12\x0aKubernetes"
    entry = b"\x0a\x01a" + b"\x12" + bytes([len(info)]) + info
    expected = b"\x0a" + bytes([len(entry)]) + entry
    msg = name_table_message({"a": NameInfo(("198.19.0.1",))})
    assert msg.SerializeToString(deterministic=True) == expected
    decoded = name_table_class()()
    decoded.ParseFromString(expected)
    assert name_table_from_message(decoded) == {"a": NameInfo(("198.19.0.1",))}


def test_round_trip_keeps_every_field() -> None:
    table = {
        "reviews.default.svc.cluster.local": NameInfo(
            ("198.19.0.12",), "Kubernetes", "reviews", "default", ("reviews.alt",)
        ),
        "httpbin.example.com": NameInfo(("198.18.100.1", "198.18.100.2"), "External"),
    }
    msg = name_table_class()()
    msg.ParseFromString(name_table_message(table).SerializeToString())
    assert name_table_from_message(msg) == dict(sorted(table.items()))


def test_agent_can_import_the_schema_without_the_control_plane_model() -> None:
    code = (
        "import sys, lateen.agent._dns, lateen.protos.nds, lateen.xds.nds\n"
        "bad = [m for m in sys.modules if m.startswith(('lateen.model', 'lateen.registry', "
        "'lateen.api', 'pydantic', 'dns', 'grpc'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# -- when it is pushed ----------------------------------------------------------------------


def _req(full: bool, *kinds: str) -> PushRequest:
    return PushRequest(
        full=full,
        config_updated=frozenset(ConfigKey("g", k, "default", "x") for k in kinds),
    )


@pytest.mark.parametrize(
    ("request_", "pushed"),
    [
        (_req(True), True),
        (_req(False), False),
        (_req(False, "Endpoints"), False),
        (_req(True, "Service"), True),
        (_req(True, "ServiceEntry"), True),
        (_req(True, "Sidecar"), True),
        (_req(True, "VirtualService"), False),
        (_req(True, "VirtualService", "DestinationRule", "Gateway", "AuthorizationPolicy"), False),
        (_req(True, "VirtualService", "Service"), True),
    ],
    ids=[
        "full",
        "endpoints-only",
        "endpoints-named",
        "service",
        "service-entry",
        "sidecar",
        "virtual-service",
        "only-routing-and-policy",
        "routing-and-service",
    ],
)
def test_needs_push(request_: PushRequest, pushed: bool) -> None:
    assert NameTableGenerator().needs_push(PROXY, request_) is pushed


def test_cache_key_shared_by_a_namespace_unless_config_selects_on_labels() -> None:
    gen = NameTableGenerator()
    other = dataclasses.replace(PROXY, id="b-1.default", ip_addresses=("198.18.0.2",),
                                labels={"app": "b"})  # fmt: skip
    elsewhere = dataclasses.replace(PROXY, namespace="shop", dns_domain="shop.svc.cluster.local")
    push = _push(_service("a", "default", "198.19.0.1"))
    assert gen.cache_key(PROXY, push) == gen.cache_key(other, push)
    assert gen.cache_key(PROXY, push) != gen.cache_key(elsewhere, push)
    selecting = _push(
        _service("a", "default", "198.19.0.1")
        + "apiVersion: networking.istio.io/v1\nkind: Sidecar\n"
        "metadata: {name: s, namespace: default}\n"
        "spec: {workloadSelector: {labels: {app: b}}, egress: [{hosts: ['istio-system/*']}]}\n"
    )
    assert gen.cache_key(PROXY, selecting) != gen.cache_key(other, selecting)
    # and the tables do differ: the Sidecar selecting "b" hides service a from it
    assert "a.default.svc.cluster.local" in build_name_table(PROXY, selecting)
    assert build_name_table(other, selecting) == {}


# -- the server and an agent's NDS-only stream ------------------------------------------------


@dataclasses.dataclass
class Server:
    server: XdsServer
    registry: CollectorRegistry
    target: str


@pytest.fixture(name="server")
async def server_fixture() -> AsyncIterator[Server]:
    registry = CollectorRegistry()
    server = XdsServer(default_generators(), registry)
    server.push(_push(_service("reviews", "default", "198.19.0.12")), PushRequest(full=True))
    task = asyncio.create_task(server.run("127.0.0.1:0"))
    try:
        await asyncio.wait_for(server.ready.wait(), 5)
        yield Server(server, registry, f"127.0.0.1:{server.port}")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _ips(resp_resources: dict[str, object]) -> dict[str, tuple[str, ...]]:
    (msg,) = resp_resources.values()
    return {h: i.ips for h, i in name_table_from_message(msg).items()}  # type: ignore[arg-type]


async def _wait(pred, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
async def test_nds_only_stream_gets_the_table_and_is_not_a_proxy(
    server: Server, delta: bool
) -> None:
    s = server.server
    async with XdsClient(server.target, NODE, {"NAMESPACE": "default"}) as envoy:
        await envoy.subscribe(CDS)
        await envoy.recv()
        async with XdsClient(server.target, NODE, {"NAMESPACE": "default"}, delta=delta) as agent:
            await agent.subscribe(NDS)  # no names: Istio's agent asks for the one table
            first = await agent.recv()
            assert first.names == [""]
            assert _ips(first.resources) == {"reviews.default.svc.cluster.local": ("198.19.0.12",)}
            await _wait(lambda: len(s.agent_streams()) == 1)
            assert [c.proxy.id for c in s.connections()] == ["a-1.default"]
            assert [c.node_id for c in s.agent_streams()] == [NODE]
            assert server.registry.get_sample_value("pilot_xds", {"version": "unknown"}) == 1.0

            # a Service change reaches the agent; a VirtualService-only change does not
            s.push(_push(_service("reviews", "default", "198.19.0.99"), "2"),
                   PushRequest(full=True))  # fmt: skip
            second = await agent.recv()
            assert _ips(second.resources) == {"reviews.default.svc.cluster.local": ("198.19.0.99",)}
            stream = s.agent_streams()[0]
            await _wait(lambda: stream.watched[NDS].acked_nonce == stream.watched[NDS].sent_nonce)
            responses = stream.watched[NDS].responses
            s.push(
                _push(_service("reviews", "default", "198.19.0.99"), "3"),
                _req(True, "VirtualService"),
            )
            await asyncio.sleep(0.2)
            assert stream.watched[NDS].responses == responses
        await _wait(lambda: not s.agent_streams())
        assert len(s.connections()) == 1
