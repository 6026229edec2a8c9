"""The agent's DNS proxy: the names it derives from the name table, the answers of the pure
lookup, resolv.conf search lists, the UDP/TCP server queried with dnspython's client, and
the NDS client against a real ADS server (including a control plane that goes away)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import dns.asyncquery
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest
from prometheus_client import CollectorRegistry

from lateen.agent._dns import (
    Answer,
    DnsOptions,
    DnsProxy,
    DnsServer,
    DnsTable,
    HostAddresses,
    Record,
    build_dns_table,
    lookup,
    read_search_domains,
)
from lateen.agent._nds import NdsClient
from lateen.api import load_yaml
from lateen.model import MeshConfig, PushRequest, build_push_context
from lateen.protos.nds import NameInfo
from lateen.server import XdsServer
from lateen.testing.procs import free_port
from lateen.xds import default_generators

K8S = "Kubernetes"
EXT = "External"
NAMES = {
    "reviews.default.svc.cluster.local": NameInfo(("198.19.0.12",), K8S, "reviews", "default"),
    "httpbin.other.svc.cluster.local": NameInfo(("198.19.1.20",), K8S, "httpbin", "other"),
    "dual.default.svc.cluster.local": NameInfo(("198.19.0.30", "::ffff:198.18.0.30"), K8S, "dual", "default"),
    "httpbin.example.com": NameInfo(("198.18.100.1", "198.18.100.2"), EXT),
    "*.wild.example.com": NameInfo(("198.18.101.1",), EXT),
    "api.wild.example.com": NameInfo(("198.18.101.9",), EXT),
    "mcs.default.svc.clusterset.local": NameInfo(("198.19.9.9",), K8S),
    "bad.example.com": NameInfo(("not-an-ip",), EXT),
}
SEARCH = ("default.svc.cluster.local", "svc.cluster.local", "cluster.local")


def table() -> DnsTable:
    return build_dns_table(NAMES, "default", "default.svc.cluster.local")


# -- the names ---------------------------------------------------------------------------------


def test_names_derived_from_the_table() -> None:
    hosts = table().hosts
    assert sorted(hosts) == sorted(
        [
            "reviews.default.svc.cluster.local.", "reviews.default.", "reviews.default.svc.",
            "reviews.",  # own namespace only
            "httpbin.other.svc.cluster.local.", "httpbin.other.", "httpbin.other.svc.",
            "dual.default.svc.cluster.local.", "dual.default.", "dual.default.svc.", "dual.",
            "httpbin.example.com.", "*.wild.example.com.", "api.wild.example.com.",
            "mcs.default.svc.clusterset.local.",  # no short name: no derived names
        ]
    )  # fmt: skip
    assert hosts["reviews."] == HostAddresses(("198.19.0.12",))
    assert hosts["dual."] == HostAddresses(("198.19.0.30",), ("::ffff:198.18.0.30",))


@pytest.mark.parametrize(
    ("names", "namespace", "domain", "expected"),
    [
        (
            {"a.other.svc.corp.example": NameInfo(("198.19.0.1",), K8S, "a", "other")},
            "default",
            "default.svc.cluster.local",
            ["a.other.svc.corp.example."],
        ),
        (
            {"a.default.svc.corp.example": NameInfo(("198.19.0.1",), K8S, "a", "default")},
            "default",
            "default.svc.corp.example",
            ["a.", "a.default.", "a.default.svc.", "a.default.svc.corp.example."],
        ),
        (
            {
                "A.Default.svc.cluster.local": NameInfo(("198.19.0.1",), K8S, "A", "Default",
                                                        ("a-alias",)),
            },
            "default",
            "",
            ["a-alias.", "a.", "a.default.", "a.default.svc.", "a.default.svc.cluster.local."],
        ),
        (
            {
                "reviews.default": NameInfo(("198.18.7.7",), EXT),
                "reviews.default.svc.cluster.local": NameInfo(("198.19.0.12",), K8S, "reviews",
                                                              "default"),
            },
            "default",
            "default.svc.cluster.local",
            ["reviews.", "reviews.default.", "reviews.default.svc.",
             "reviews.default.svc.cluster.local."],
        ),
    ],
    ids=["other-cluster-domain", "custom-domain", "case-and-alt-hosts", "hostname-beats-derived"],
)  # fmt: skip
def test_build_dns_table(
    names: dict[str, NameInfo], namespace: str, domain: str, expected: list[str]
) -> None:
    t = build_dns_table(names, namespace, domain)
    assert sorted(t.hosts) == expected
    if "reviews.default." in t.hosts:
        assert t.hosts["reviews.default."] == HostAddresses(("198.18.7.7",))


# -- the answers -------------------------------------------------------------------------------


def a(name: str, *ips: str) -> tuple[Record, ...]:
    return tuple(Record(name, "A", ip) for ip in ips)


def ok(*records: Record) -> Answer:
    return Answer("NOERROR", records, authoritative=True)


CNAME = Record
LOOKUPS = [
    ("reviews.default.svc.cluster.local.", "A", ok(*a("reviews.default.svc.cluster.local.",
                                                      "198.19.0.12"))),
    ("reviews.default.svc.cluster.local", "A", ok(*a("reviews.default.svc.cluster.local.",
                                                     "198.19.0.12"))),
    ("reviews.", "A", ok(*a("reviews.", "198.19.0.12"))),
    ("reviews.default.", "A", ok(*a("reviews.default.", "198.19.0.12"))),
    ("reviews.default.svc.", "A", ok(*a("reviews.default.svc.", "198.19.0.12"))),
    ("REVIEWS.Default.", "A", ok(*a("REVIEWS.Default.", "198.19.0.12"))),
    ("httpbin.other.", "A", ok(*a("httpbin.other.", "198.19.1.20"))),
    ("httpbin.", "A", Answer("NXDOMAIN")),  # short names: own namespace only
    # the resolver's first try: name + first search domain -> CNAME to the known name
    ("reviews.default.svc.cluster.local.default.svc.cluster.local.", "A",
     ok(CNAME("reviews.default.svc.cluster.local.default.svc.cluster.local.", "CNAME",
              "reviews.default.svc.cluster.local."),
        *a("reviews.default.svc.cluster.local.", "198.19.0.12"))),
    ("reviews.default.default.svc.cluster.local.", "A",
     ok(CNAME("reviews.default.default.svc.cluster.local.", "CNAME", "reviews.default."),
        *a("reviews.default.", "198.19.0.12"))),
    ("httpbin.example.com.default.svc.cluster.local.", "A",
     ok(CNAME("httpbin.example.com.default.svc.cluster.local.", "CNAME", "httpbin.example.com."),
        *a("httpbin.example.com.", "198.18.100.1", "198.18.100.2"))),
    # only the first search domain is expanded (as Istio); the resolver goes on to the next
    ("reviews.default.svc.cluster.local.svc.cluster.local.", "A", Answer("NXDOMAIN")),
    ("reviews.default.svc.cluster.local.cluster.local.", "A", Answer("NXDOMAIN")),
    ("default.svc.cluster.local.", "A", Answer("NXDOMAIN")),
    # types
    ("reviews.", "AAAA", ok()),
    ("reviews.", "TXT", ok()),
    ("dual.", "AAAA", ok(Record("dual.", "AAAA", "::ffff:198.18.0.30"))),
    ("dual.", "A", ok(*a("dual.", "198.19.0.30"))),
    ("reviews.default.default.svc.cluster.local.", "AAAA",
     ok(CNAME("reviews.default.default.svc.cluster.local.", "CNAME", "reviews.default."))),
    # ServiceEntry hosts and wildcards
    ("httpbin.example.com.", "A", ok(*a("httpbin.example.com.", "198.18.100.1", "198.18.100.2"))),
    ("foo.wild.example.com.", "A", ok(*a("foo.wild.example.com.", "198.18.101.1"))),
    ("a.b.wild.example.com.", "A", ok(*a("a.b.wild.example.com.", "198.18.101.1"))),
    ("api.wild.example.com.", "A", ok(*a("api.wild.example.com.", "198.18.101.9"))),
    ("wild.example.com.", "A", Answer("NXDOMAIN")),
    ("foo.wild.example.com.default.svc.cluster.local.", "A",
     ok(CNAME("foo.wild.example.com.default.svc.cluster.local.", "CNAME", "foo.wild.example.com."),
        *a("foo.wild.example.com.", "198.18.101.1"))),
    ("mcs.default.svc.clusterset.local.", "A", ok(*a("mcs.default.svc.clusterset.local.",
                                                     "198.19.9.9"))),
    ("mcs.", "A", Answer("NXDOMAIN")),
    ("bad.example.com.", "A", Answer("NXDOMAIN")),  # no valid address: no name
    ("www.example.org.", "A", Answer("NXDOMAIN")),
    ("svc.cluster.local.", "A", Answer("NXDOMAIN")),
]  # fmt: skip


@pytest.mark.parametrize(("qname", "qtype", "expected"), LOOKUPS,
                         ids=[f"{q.rstrip('.')}-{t}" for q, t, _ in LOOKUPS])  # fmt: skip
def test_lookup(qname: str, qtype: str, expected: Answer) -> None:
    assert lookup(table(), qname, qtype, SEARCH) == expected


@pytest.mark.parametrize(
    ("search", "qname", "rcode"),
    [
        ((), "reviews.default.default.svc.cluster.local.", "NXDOMAIN"),
        (("shop.svc.cluster.local",), "reviews.default.default.svc.cluster.local.", "NXDOMAIN"),
        (("shop.svc.cluster.local.",), "reviews.default.shop.svc.cluster.local.", "NOERROR"),
        (("",), "reviews.", "NOERROR"),
    ],
    ids=["no-search-list", "other-first-domain", "trailing-dot", "empty-domain"],
)
def test_lookup_search_list(search: tuple[str, ...], qname: str, rcode: str) -> None:
    assert lookup(table(), qname, "A", search).rcode == rcode


def test_servfail_before_the_first_table() -> None:
    assert lookup(None, "reviews.", "A", SEARCH) == Answer("SERVFAIL")
    assert lookup(DnsTable(), "reviews.", "A", SEARCH) == Answer("NXDOMAIN")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nameserver 198.18.0.53\nsearch default.svc.cluster.local svc.cluster.local "
         "cluster.local\noptions ndots:5\n", SEARCH),
        ("search a.example\nsearch b.example c.example\n", ("b.example", "c.example")),
        ("domain corp.example\n", ("corp.example",)),
        ("# search commented.example\nnameserver 127.0.0.53\n", ()),
        ("search  x.example  # trailing comment\n", ("x.example",)),
        ("", ()),
    ],
    ids=["kubernetes-pod", "last-wins", "domain", "comment", "inline-comment", "empty"],
)  # fmt: skip
def test_read_search_domains(tmp_path: Path, text: str, expected: tuple[str, ...]) -> None:
    path = tmp_path / "resolv.conf"
    path.write_text(text)
    assert read_search_domains(path) == expected


def test_read_search_domains_missing_file(tmp_path: Path) -> None:
    assert read_search_domains(tmp_path / "nope") == ()


# -- the server, queried by a real DNS client ----------------------------------------------------


@contextlib.asynccontextmanager
async def serving(get: Callable[[], DnsTable | None]) -> AsyncIterator[DnsServer]:
    server = DnsServer(get, SEARCH, "127.0.0.1", 0)
    task = asyncio.create_task(server.run())
    try:
        await asyncio.wait_for(server.ready.wait(), 5)
        yield server
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def query(server: DnsServer, name: str, rdtype: str = "A", *, tcp: bool,
                **kw: object) -> dns.message.Message:  # fmt: skip
    q = dns.message.make_query(name, rdtype, **kw)  # type: ignore[arg-type]
    send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
    return await send(q, "127.0.0.1", port=server.port, timeout=3)


def addresses(resp: dns.message.Message) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for rrset in resp.answer:
        key = f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)}"
        out[key] = sorted(r.to_text() for r in rrset)
        assert rrset.ttl == 30
    return out


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
async def test_server_answers(tcp: bool) -> None:
    async with serving(table) as server:
        resp = await query(server, "reviews", tcp=tcp)
        assert resp.rcode() == dns.rcode.NOERROR and resp.flags & dns.flags.AA
        assert addresses(resp) == {"reviews. A": ["198.19.0.12"]}

        resp = await query(server, "reviews.default.default.svc.cluster.local", tcp=tcp)
        assert addresses(resp) == {
            "reviews.default.default.svc.cluster.local. CNAME": ["reviews.default."],
            "reviews.default. A": ["198.19.0.12"],
        }
        resp = await query(server, "reviews.default.svc.cluster.local", "AAAA", tcp=tcp)
        assert resp.rcode() == dns.rcode.NOERROR and not resp.answer
        resp = await query(server, "dual", "AAAA", tcp=tcp)
        assert addresses(resp) == {"dual. AAAA": ["::ffff:198.18.0.30"]}

        resp = await query(server, "httpbin.example.com", tcp=tcp, use_edns=0)
        assert addresses(resp) == {"httpbin.example.com. A": ["198.18.100.1", "198.18.100.2"]}
        assert resp.edns == 0  # EDNS answered with EDNS

        resp = await query(server, "www.example.org", tcp=tcp)
        assert resp.rcode() == dns.rcode.NXDOMAIN and not resp.answer
        assert server.queries == 6


async def test_server_servfail_until_the_first_table_then_answers() -> None:
    current: list[DnsTable | None] = [None]
    async with serving(lambda: current[0]) as server:
        assert (await query(server, "reviews", tcp=False)).rcode() == dns.rcode.SERVFAIL
        current[0] = table()
        assert addresses(await query(server, "reviews", tcp=False)) == {
            "reviews. A": ["198.19.0.12"]
        }


async def test_large_answer_truncated_over_udp_complete_over_tcp() -> None:
    ips = tuple(f"198.18.{i // 250}.{i % 250 + 1}" for i in range(100))
    big = build_dns_table({"many.example.com": NameInfo(ips, EXT)}, "default")
    async with serving(lambda: big) as server:
        udp = await query(server, "many.example.com", tcp=False)
        assert udp.flags & dns.flags.TC and len(udp.to_wire()) <= 512
        tcp = await query(server, "many.example.com", tcp=True)
        assert not tcp.flags & dns.flags.TC
        assert addresses(tcp) == {"many.example.com. A": sorted(ips)}


async def test_garbage_and_responses_are_dropped_tcp_keeps_serving() -> None:
    async with serving(table) as server:
        assert server.respond(b"\x00\x01garbage", tcp=False) is None
        reply = dns.message.make_response(dns.message.make_query("reviews", "A"))
        assert server.respond(reply.to_wire(), tcp=False) is None
        # two queries on one TCP connection
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            for name in ("reviews", "reviews.default"):
                wire = dns.message.make_query(name, "A").to_wire()
                writer.write(len(wire).to_bytes(2, "big") + wire)
                await writer.drain()
                size = int.from_bytes(await reader.readexactly(2), "big")
                resp = dns.message.from_wire(await reader.readexactly(size))
                assert [r.to_text() for r in resp.answer[0]] == ["198.19.0.12"]
        finally:
            writer.close()
        assert server.queries == 2


# -- the NDS client and the DNS proxy against a real ADS server --------------------------------

NODE = "sidecar~198.18.0.5~client-1.default~default.svc.cluster.local"
NODE_DICT = {"id": NODE, "cluster": "client.default", "metadata": {"NAMESPACE": "default"}}


def _push(ip: str, version: str):  # type: ignore[no-untyped-def]
    text = (
        "apiVersion: v1\nkind: Service\nmetadata: {name: reviews, namespace: default}\n"
        f"spec: {{clusterIP: {ip}, ports: [{{name: http, port: 9080}}]}}\n"
    )
    return build_push_context(load_yaml(text).objects, MeshConfig(), version=version)


@contextlib.asynccontextmanager
async def control_plane(port: int, ip: str, version: str) -> AsyncIterator[XdsServer]:
    server = XdsServer(default_generators(), CollectorRegistry())
    server.push(_push(ip, version), PushRequest(full=True))
    task = asyncio.create_task(server.run(f"127.0.0.1:{port}", grace=0))
    try:
        await asyncio.wait_for(server.ready.wait(), 5)
        yield server
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(pred: Callable[[], object], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


async def test_nds_client_follows_pushes_and_reconnects() -> None:
    port = free_port()
    tables: list[dict[str, tuple[str, ...]]] = []
    client = NdsClient(f"127.0.0.1:{port}", NODE_DICT,
                       lambda t: tables.append({h: i.ips for h, i in t.items()}),
                       backoff_initial_s=0.05, backoff_max_s=0.2)  # fmt: skip
    reviews = "reviews.default.svc.cluster.local"
    task = asyncio.create_task(client.run())
    try:
        await asyncio.sleep(0.3)  # no control plane yet: retries with backoff
        assert tables == [] and client.attempts >= 2
        async with control_plane(port, "198.19.0.12", "1") as server:
            await until(lambda: tables)
            assert tables[-1] == {reviews: ("198.19.0.12",)}
            stream = server.agent_streams()[0]
            assert stream.node_id == NODE and stream.proxy.namespace == "default"
            await until(lambda: stream.watched[NDS_TYPE].acked_version == "1")
            server.push(_push("198.19.0.13", "2"), PushRequest(full=True))
            await until(lambda: tables[-1] == {reviews: ("198.19.0.13",)})
            await until(lambda: stream.watched[NDS_TYPE].acked_version == "2")
            assert server.connections() == []  # not a proxy
        seen = len(tables)
        async with control_plane(port, "198.19.0.14", "3"):  # a new control plane
            await until(lambda: len(tables) > seen)
            assert tables[-1] == {reviews: ("198.19.0.14",)}
        assert client.acks == len(tables) and client.nacks == 0 and client.version == "3"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


NDS_TYPE = "type.googleapis.com/istio.networking.nds.v1.NameTable"


async def test_dns_proxy_resolves_from_the_control_plane_and_keeps_the_last_table(
    tmp_path: Path,
) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 198.18.0.53\nsearch " + " ".join(SEARCH) + "\n")
    xds_port = free_port()
    proxy = DnsProxy(DnsOptions(f"127.0.0.1:{xds_port}", NODE_DICT, "default", port=0,
                                resolv_conf=resolv, backoff_initial_s=0.05,
                                backoff_max_s=0.2))  # fmt: skip
    task = asyncio.create_task(proxy.run())
    try:
        await asyncio.wait_for(proxy.server.ready.wait(), 5)
        resp = await query(proxy.server, "reviews", tcp=False)
        assert resp.rcode() == dns.rcode.SERVFAIL  # nothing learnt yet
        async with control_plane(xds_port, "198.19.0.12", "1"):
            await until(lambda: proxy.table is not None)
            resp = await query(proxy.server, "reviews.default.default.svc.cluster.local", tcp=False)
            assert addresses(resp)["reviews.default. A"] == ["198.19.0.12"]
        # the control plane is gone: the last table still answers
        resp = await query(proxy.server, "reviews", tcp=True)
        assert addresses(resp) == {"reviews. A": ["198.19.0.12"]}
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
