"""The agent's DNS proxy (Istio's ``pkg/dns/client``): answers the mesh's names from the name
table the control plane sends (NDS), on ``127.0.0.1:15053`` over UDP and TCP.

* :func:`build_dns_table` (pure) turns the name table into the names the proxy answers for:
  every hostname, and for a Kubernetes Service of the proxy's cluster domain also
  ``name.ns``, ``name.ns.svc`` and, in the proxy's own namespace, ``name``.
* :func:`lookup` (pure) answers one question. A name built by the resolver from a known name
  and the first ``search`` domain of the pod's resolv.conf
  (``reviews.default.default.svc.cluster.local``) gets a CNAME to the known name plus its
  addresses, so the resolver stops searching. Known names: A records (TTL 30), NOERROR
  without records for other types (AAAA of an IPv4-only service); wildcard ServiceEntry
  hosts (``*.example.com``) answer for any name under them. Anything else: NXDOMAIN (there
  is no upstream resolver to forward to). Before the first table: SERVFAIL.
* :class:`DnsServer` serves :func:`lookup` with dnspython's wire format.
* :class:`DnsProxy` runs the server and the NDS client (:mod:`lateen.agent._nds`) together.

dnspython and grpc are imported only when a DNS proxy runs (the agent stays small without
DNS capture)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import dns.message

    from lateen.protos.nds import NameInfo

__all__ = [
    "DEFAULT_DNS_PORT",
    "DEFAULT_RESOLV_CONF",
    "DNS_TTL",
    "Answer",
    "DnsOptions",
    "DnsProxy",
    "DnsServer",
    "DnsTable",
    "HostAddresses",
    "Record",
    "build_dns_table",
    "lookup",
    "read_search_domains",
]

log = logging.getLogger(__name__)

DEFAULT_DNS_PORT = 15053
DEFAULT_RESOLV_CONF = Path("/etc/resolv.conf")
DNS_TTL = 30  # seconds, as Istio: clients that honour the TTL see a new VIP soon
_KUBERNETES = "Kubernetes"  # lateen.protos.nds.REGISTRY_KUBERNETES


# -- the table ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HostAddresses:
    ipv4: tuple[str, ...] = ()
    ipv6: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DnsTable:
    """Names the proxy answers for: lower-case, fully qualified (trailing dot), wildcard
    hosts as ``*.example.com.``."""

    hosts: Mapping[str, HostAddresses] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.hosts)


def _fqdn(name: str) -> str:
    name = name.lower()
    return name if name.endswith(".") else name + "."


def _split_ips(ips: Iterable[str]) -> HostAddresses:
    v4: list[str] = []
    v6: list[str] = []
    for text in ips:
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            continue
        (v4 if ip.version == 4 else v6).append(text)
    return HostAddresses(tuple(v4), tuple(v6))


def _cluster_domain(proxy_domain: str, namespace: str) -> str:
    """``default.svc.cluster.local`` -> ``svc.cluster.local`` (the node's DNS domain minus
    its namespace)."""
    parts = [p for p in proxy_domain.lower().split(".") if p]
    if parts and parts[0] == namespace.lower():
        parts = parts[1:]
    return ".".join(parts)


def build_dns_table(
    names: Mapping[str, NameInfo], namespace: str, proxy_domain: str = ""
) -> DnsTable:
    """The names answered for a proxy in ``namespace`` whose DNS domain is ``proxy_domain``
    (``NS.svc.cluster.local``, the last part of its node id). Every hostname is answered;
    Kubernetes Services of the proxy's cluster domain also as ``name.ns.``, ``name.ns.svc.``
    and (own namespace) ``name.``. A hostname of the table wins over a derived name."""
    domain = _cluster_domain(proxy_domain or f"{namespace}.svc.cluster.local", namespace)
    first_label = domain.split(".", 1)[0] if domain else ""
    hosts: dict[str, HostAddresses] = {}
    derived: dict[str, HostAddresses] = {}
    for hostname, info in sorted(names.items()):
        addrs = _split_ips(info.ips)
        if not addrs.ipv4 and not addrs.ipv6:
            continue
        hosts[_fqdn(hostname)] = addrs
        if info.registry != _KUBERNETES or not info.shortname or not info.namespace:
            continue
        alt = [_fqdn(h) for h in info.alt_hosts]
        if domain and hostname.lower().rstrip(".").endswith(domain):
            short, ns = info.shortname.lower(), info.namespace.lower()
            alt += [f"{short}.{ns}.", f"{short}.{ns}.{first_label}."]
            if ns == namespace.lower():
                alt.append(f"{short}.")
        for name in alt:
            derived.setdefault(name, addrs)
    for name, addrs in derived.items():
        hosts.setdefault(name, addrs)
    return DnsTable(hosts)


# -- answering ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Record:
    """One answer record: ``name`` (fully qualified) ``type`` (A, AAAA, CNAME) ``value``."""

    name: str
    type: str
    value: str
    ttl: int = DNS_TTL


@dataclass(frozen=True, slots=True)
class Answer:
    """``rcode`` NOERROR / NXDOMAIN / SERVFAIL; ``authoritative`` for names we own."""

    rcode: str
    records: tuple[Record, ...] = ()
    authoritative: bool = False


NXDOMAIN = Answer("NXDOMAIN")
SERVFAIL = Answer("SERVFAIL")


def _find(table: DnsTable, name: str) -> HostAddresses | None:
    """Exact name, else the most specific wildcard host above it."""
    found = table.hosts.get(name)
    if found is not None:
        return found
    labels = name.rstrip(".").split(".")
    for i in range(1, len(labels)):
        found = table.hosts.get("*." + ".".join(labels[i:]) + ".")
        if found is not None:
            return found
    return None


def lookup(table: DnsTable | None, qname: str, qtype: str, search: Sequence[str] = ()) -> Answer:
    """Answer ``qtype`` (``A``, ``AAAA``, ...) for ``qname``; ``search`` is the pod's
    resolv.conf search list (only its first domain matters, as in Istio). ``table`` None
    means no name table has arrived yet: SERVFAIL, so the client retries."""
    if table is None:
        return SERVFAIL
    question = qname if qname.endswith(".") else qname + "."
    name = question.lower()
    target = name
    found = _find(table, name)
    domain = search[0].strip(".").lower() if search else ""
    if found is None and domain:
        suffix = f".{domain}."
        if name.endswith(suffix) and len(name) > len(suffix):
            target = name[: -len(suffix)] + "."
            found = _find(table, target)
    if found is None:
        return NXDOMAIN
    records: list[Record] = []
    owner = question
    if target != name:
        records.append(Record(question, "CNAME", target))
        owner = target
    qtype = qtype.upper()
    if qtype == "A":
        records += [Record(owner, "A", ip) for ip in found.ipv4]
    elif qtype == "AAAA":
        records += [Record(owner, "AAAA", ip) for ip in found.ipv6]
    return Answer("NOERROR", tuple(records), authoritative=True)


def read_search_domains(path: Path) -> tuple[str, ...]:
    """The ``search`` (or ``domain``) list of a resolv.conf; the last such line wins, as in
    glibc. A missing or unreadable file means no search list."""
    try:
        text = path.read_text()
    except OSError as e:
        log.warning("cannot read %s (%s): no DNS search domains", path, e)
        return ()
    out: tuple[str, ...] = ()
    for line in text.splitlines():
        words = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(words) >= 2 and words[0] in ("search", "domain"):
            out = tuple(words[1:]) if words[0] == "search" else (words[1],)
    return out


# -- the server --------------------------------------------------------------------------------


class DnsServer:
    """Serves :func:`lookup` over UDP and TCP on ``address:port`` (port 0 picks a free one,
    the same for both; see :attr:`port`). ``table`` returns the current table."""

    def __init__(
        self,
        table: Callable[[], DnsTable | None],
        search: Sequence[str] = (),
        address: str = "127.0.0.1",
        port: int = DEFAULT_DNS_PORT,
        *,
        tcp_idle_timeout: float = 30.0,
    ) -> None:
        self.table = table
        self.search = tuple(search)
        self.address = address
        self.port = port
        self.tcp_idle_timeout = tcp_idle_timeout
        self.ready = asyncio.Event()
        self.queries = 0

    def respond(self, wire: bytes, *, tcp: bool) -> bytes | None:
        """The response to one query message (None: not a query we can parse; dropped)."""
        import dns.exception
        import dns.flags
        import dns.message
        import dns.rcode
        import dns.rdatatype
        import dns.rrset

        try:
            query = dns.message.from_wire(wire)
        except (dns.exception.DNSException, ValueError) as e:
            log.debug("malformed DNS query dropped: %s", e)
            return None
        if query.flags & dns.flags.QR:
            return None
        self.queries += 1
        response = dns.message.make_response(query)
        if not query.question:
            response.set_rcode(dns.rcode.SERVFAIL)
        else:
            q = query.question[0]
            answer = lookup(self.table(), q.name.to_text(), dns.rdatatype.to_text(q.rdtype),
                            self.search)  # fmt: skip
            response.set_rcode(dns.rcode.from_text(answer.rcode))
            if answer.authoritative:
                response.flags |= dns.flags.AA
            for (name, rtype), values in _group(answer.records).items():
                if rtype != "CNAME":
                    random.shuffle(values)  # DNS load balancing over several addresses
                response.answer.append(
                    dns.rrset.from_text_list(name, DNS_TTL, "IN", rtype, values)
                )
        return _to_wire(response, query, tcp=tcp)

    async def run(self) -> None:
        """Serve until cancelled."""
        loop = asyncio.get_running_loop()
        server = await asyncio.start_server(self._tcp_client, self.address, self.port)
        transport: asyncio.DatagramTransport | None = None
        try:
            self.port = server.sockets[0].getsockname()[1]
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self), local_addr=(self.address, self.port)
            )
            log.info("DNS proxy listening on %s:%d (udp, tcp)", self.address, self.port)
            self.ready.set()
            await asyncio.Future()  # until cancelled
        finally:
            if transport is not None:
                transport.close()
            server.close()
            with contextlib.suppress(Exception):
                await server.wait_closed()

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                async with asyncio.timeout(self.tcp_idle_timeout):
                    size = struct.unpack("!H", await reader.readexactly(2))[0]
                    wire = await reader.readexactly(size)
                out = self.respond(wire, tcp=True)
                if out is None:
                    return
                writer.write(struct.pack("!H", len(out)) + out)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


def _group(records: Iterable[Record]) -> dict[tuple[str, str], list[str]]:
    out: dict[tuple[str, str], list[str]] = {}
    for r in records:
        out.setdefault((r.name, r.type), []).append(r.value)
    return out


def _to_wire(response: dns.message.Message, query: dns.message.Message, *, tcp: bool) -> bytes:
    """TCP: up to 64 KiB. UDP: the client's EDNS payload size (at least 512); a larger answer
    is truncated with TC set, and the client retries over TCP."""
    limit = 65535 if tcp else max(512, query.payload if query.edns >= 0 else 512)
    return response.to_wire(max_size=limit, prefer_truncation=True)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a datagram transport (not a DatagramTransport subclass on every Python version)
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            out = self.server.respond(data, tcp=False)
        except Exception:
            log.exception("DNS query from %s failed", addr)
            return
        if out is not None and self.transport is not None:
            self.transport.sendto(out, addr)


# -- the proxy: NDS client + server ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DnsOptions:
    """``node`` is the Envoy node as in the bootstrap (``id``, ``cluster``, ``metadata``):
    the DNS proxy's NDS stream identifies as the same proxy."""

    discovery_address: str
    node: Mapping[str, Any]
    namespace: str
    address: str = "127.0.0.1"
    port: int = DEFAULT_DNS_PORT
    resolv_conf: Path = DEFAULT_RESOLV_CONF
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 15.0

    @property
    def proxy_domain(self) -> str:
        """The DNS domain of the node id (``NS.svc.cluster.local``)."""
        parts = str(self.node.get("id", "")).split("~")
        return parts[3] if len(parts) == 4 else f"{self.namespace}.svc.cluster.local"


class DnsProxy:
    """The DNS server and the NDS stream feeding it. The server answers SERVFAIL until the
    first table arrives, then keeps the last table while the control plane is away."""

    def __init__(self, options: DnsOptions) -> None:
        self.options = options
        self.search = read_search_domains(options.resolv_conf)
        self.table: DnsTable | None = None
        self.server = DnsServer(lambda: self.table, self.search, options.address, options.port)
        self.updates = 0

    def update(self, names: Mapping[str, NameInfo]) -> None:
        self.table = build_dns_table(names, self.options.namespace, self.options.proxy_domain)
        self.updates += 1
        log.info("DNS name table updated: %d hostnames, %d names", len(names), len(self.table))

    async def run(self) -> None:
        from lateen.agent._nds import NdsClient

        opts = self.options
        client = NdsClient(
            opts.discovery_address,
            opts.node,
            self.update,
            backoff_initial_s=opts.backoff_initial_s,
            backoff_max_s=opts.backoff_max_s,
        )
        log.info("DNS capture: search domains %s", " ".join(self.search) or "(none)")
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.server.run(), name="dns-server")
            tg.create_task(client.run(), name="nds-client")
