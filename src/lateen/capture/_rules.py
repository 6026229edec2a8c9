"""``build_rules(cfg) -> Ruleset``: the iptables rules istio-iptables installs for a
``CaptureConfig``, as data, in Istio's order (pure: reads nothing but its argument)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from lateen.capture._config import DNS_LISTENER_PORT, OUTBOUND_MARK, CaptureConfig, split_list

__all__ = [
    "BUILTIN",
    "Family",
    "Rule",
    "Ruleset",
    "build_rules",
    "chains_to_create",
]

Family = Literal["ipv4", "ipv6"]

# iptables' own chains and targets: never created, flushed or deleted by us
BUILTIN = frozenset({"INPUT", "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING",
                     "ACCEPT", "RETURN", "DROP"})

# chain names (Istio's)
INBOUND = "ISTIO_INBOUND"
IN_REDIRECT = "ISTIO_IN_REDIRECT"
OUTPUT = "ISTIO_OUTPUT"
OUTPUT_DNS = "ISTIO_OUTPUT_DNS"
REDIRECT = "ISTIO_REDIRECT"
DIVERT = "ISTIO_DIVERT"
TPROXY = "ISTIO_TPROXY"
DROP = "ISTIO_DROP"

_V = "<ip-version-specific>"  # replaced by the IPv4 or IPv6 value of a versioned rule


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: ``-A CHAIN SPEC...`` or, with ``insert_at``, ``-I CHAIN N SPEC...``."""

    table: str
    chain: str
    spec: tuple[str, ...]
    insert_at: int | None = None

    @property
    def command(self) -> str:
        head = f"-A {self.chain}" if self.insert_at is None else f"-I {self.chain} {self.insert_at}"
        return " ".join((head, *self.spec))

    @property
    def jump(self) -> str | None:
        """The target when the rule ends with ``-j TARGET`` (a chain or a terminal target)."""
        if len(self.spec) >= 2 and self.spec[-2] == "-j":
            return self.spec[-1]
        return None

    @property
    def in_builtin_chain(self) -> bool:
        return self.chain in BUILTIN


@dataclass(frozen=True, slots=True)
class Ruleset:
    """Rules per address family, in the order they are applied, plus the ``ip`` commands
    (argv after ``ip``) that TPROXY and IPv6 need besides iptables."""

    ipv4: tuple[Rule, ...]
    ipv6: tuple[Rule, ...] = ()
    routes: tuple[tuple[str, ...], ...] = field(default=())

    def rules(self, family: Family) -> tuple[Rule, ...]:
        return self.ipv4 if family == "ipv4" else self.ipv6

    def tables(self, family: Family) -> list[str]:
        """Tables with rules, sorted (the order of iptables-restore sections)."""
        return sorted({r.table for r in self.rules(family)})

    def chains(self, family: Family) -> dict[str, list[str]]:
        """Our chains per table, in creation order."""
        return chains_to_create(self.rules(family))


def chains_to_create(rules: Iterable[Rule]) -> dict[str, list[str]]:
    """Per table, the non-builtin chains the rules live in (first appearance first), then the
    ones they only jump to: Istio's ``-N`` order."""
    rules = list(rules)
    out: dict[str, list[str]] = {}
    seen: set[tuple[str, str]] = set()
    candidates = [(r.table, r.chain) for r in rules]
    candidates += [(r.table, r.jump) for r in rules if r.jump is not None]
    for table, chain in candidates:
        if (table, chain) in seen:
            continue
        seen.add((table, chain))
        if chain not in BUILTIN and chain.startswith("ISTIO_"):
            out.setdefault(table, []).append(chain)
    return out


@dataclass(slots=True)
class _Ranges:
    wildcard: bool = False
    cidrs: list[str] = field(default_factory=list)
    has_loopback: bool = False


def _split_ranges(value: str) -> tuple[_Ranges, _Ranges]:
    if value.strip() == "*":
        return _Ranges(wildcard=True), _Ranges(wildcard=True)
    v4, v6 = _Ranges(), _Ranges()
    for item in split_list(value):
        net = ipaddress.ip_network(item, strict=False)
        # Istio prints the prefix as given (address and length), not the masked network
        addr = ipaddress.ip_address(item.split("/", 1)[0])
        text = f"{addr}/{net.prefixlen}"
        ranges = v4 if net.version == 4 else v6
        ranges.cidrs.append(text)
        ranges.has_loopback = ranges.has_loopback or addr.is_loopback
    return v4, v6


class _Builder:
    def __init__(self, ipv6: bool) -> None:
        self.v4: list[Rule] = []
        self.v6: list[Rule] = []
        self.ipv6 = ipv6

    def append4(self, table: str, chain: str, *spec: str) -> None:
        self.v4.append(Rule(table, chain, spec))

    def append6(self, table: str, chain: str, *spec: str) -> None:
        if self.ipv6:
            self.v6.append(Rule(table, chain, spec))

    def append(self, table: str, chain: str, *spec: str) -> None:
        self.append4(table, chain, *spec)
        self.append6(table, chain, *spec)

    def insert4(self, table: str, chain: str, pos: int, *spec: str) -> None:
        self.v4.append(Rule(table, chain, spec, pos))

    def insert6(self, table: str, chain: str, pos: int, *spec: str) -> None:
        if self.ipv6:
            self.v6.append(Rule(table, chain, spec, pos))

    def versioned(self, v4: str, v6: str, table: str, chain: str, *spec: str) -> None:
        """A rule that names an address: ``v4`` in the IPv4 rules, ``v6`` in the IPv6 ones."""
        self.append4(table, chain, *(v4 if s == _V else s for s in spec))
        self.append6(table, chain, *(v6 if s == _V else s for s in spec))


def build_rules(cfg: CaptureConfig) -> Ruleset:
    """The rules, in Istio's order: interface exclusions, invalid-packet drop, the redirect
    chains, inbound capture, the OUTPUT jump and ISTIO_OUTPUT (port exclusions, proxy-owned
    traffic, owner groups, DNS, loopback, CIDR exclusions and inclusions), then TPROXY's
    mangle rules. Raises ``CaptureConfigError`` for an invalid config."""
    cfg.validate()
    b = _Builder(cfg.enable_ipv6)
    lo4, lo6 = cfg.host_ipv4_loopback_cidr, "::1/128"
    tunnel = str(cfg.inbound_tunnel_port)
    exclude4, exclude6 = _split_ranges(cfg.outbound_ip_ranges_exclude)
    include4, include6 = _split_ranges(cfg.outbound_ip_ranges_include)
    # DNS capture needs somewhere to capture: all of port 53, or the resolv.conf servers
    redirect_dns = cfg.redirect_dns and bool(
        cfg.capture_all_dns or cfg.dns_servers_v4 or cfg.dns_servers_v6
    )

    # traffic on excluded interfaces is never captured
    for nic in split_list(cfg.exclude_interfaces):
        b.append("nat", "PREROUTING", "-i", nic, "-j", "RETURN")
        b.append("nat", "OUTPUT", "-o", nic, "-j", "RETURN")
    if cfg.tproxy:
        for nic in split_list(cfg.exclude_interfaces):
            b.append("mangle", "PREROUTING", "-i", nic, "-j", "RETURN")
            b.append("mangle", "OUTPUT", "-o", nic, "-j", "RETURN")
    # VM traffic arriving on kube-virt interfaces is not inbound traffic
    for nic in split_list(cfg.kube_virt_interfaces):
        b.insert4("nat", "PREROUTING", 1, "-i", nic, "-j", "RETURN")
        b.insert6("nat", "PREROUTING", 1, "-i", nic, "-j", "RETURN")
    if cfg.drop_invalid:
        b.append("mangle", "PREROUTING", "-m", "conntrack", "--ctstate", "INVALID", "-j", DROP)
        b.append("mangle", DROP, "-j", "DROP")

    b.append("nat", INBOUND, "-p", "tcp", "--dport", tunnel, "-j", "RETURN")
    b.append("nat", REDIRECT, "-p", "tcp", "-j", "REDIRECT", "--to-ports", str(cfg.proxy_port))
    b.append("nat", IN_REDIRECT, "-p", "tcp", "-j", "REDIRECT",
             "--to-ports", str(cfg.inbound_capture_port))
    _inbound(b, cfg, lo4, lo6)

    b.append("nat", "OUTPUT", "-j", OUTPUT)
    for port in split_list(cfg.outbound_ports_exclude):
        b.append("nat", OUTPUT, "-p", "tcp", "--dport", port, "-j", "RETURN")
        b.append("nat", OUTPUT, "-p", "udp", "--dport", port, "-j", "RETURN")
    # Envoy's inbound passthrough connects from 127.0.0.6 (::6): never capture it again
    b.versioned("127.0.0.6/32", "::6/128", "nat", OUTPUT, "-o", "lo", "-s", _V, "-j", "RETURN")

    loopback_included = include4.has_loopback or include6.has_loopback
    for kind, ids in (("--uid-owner", cfg.uids), ("--gid-owner", cfg.gids)):
        for owner in ids:
            # the proxy calling its own pod by a non-loopback address (app -> VIP -> Envoy ->
            # Envoy -> app) goes through the inbound side
            ports: tuple[str, ...]
            if redirect_dns and kind == "--uid-owner":
                ports = ("-m", "multiport", "!", "--dports", f"53,{tunnel}")
            else:
                ports = ("!", "--dport", tunnel)
            b.versioned(lo4, lo6, "nat", OUTPUT, "-o", "lo", "!", "-d", _V, "-p", "tcp", *ports,
                        "-m", "owner", kind, owner, "-j", IN_REDIRECT)
            # other loopback traffic not from the proxy (app -> app) is left alone, unless the
            # loopback range was explicitly included
            if not loopback_included:
                if redirect_dns:
                    b.append("nat", OUTPUT, "-o", "lo", "-p", "tcp", "!", "--dport", "53",
                             "-m", "owner", "!", kind, owner, "-j", "RETURN")
                else:
                    b.append("nat", OUTPUT, "-o", "lo", "-m", "owner", "!", kind, owner,
                             "-j", "RETURN")
            # everything else the proxy sends leaves directly (no loops), any protocol
            b.append("nat", OUTPUT, "-m", "owner", kind, owner, "-j", "RETURN")

    _owner_groups(b, cfg)
    if redirect_dns:
        _dns(b, cfg)

    # apps talking to localhost (or to Envoy directly) are not captured
    b.versioned(lo4, lo6, "nat", OUTPUT, "-d", _V, "-j", "RETURN")
    for cidr in exclude4.cidrs:
        b.append4("nat", OUTPUT, "-d", cidr, "-j", "RETURN")
    for cidr in exclude6.cidrs:
        b.append6("nat", OUTPUT, "-d", cidr, "-j", "RETURN")
    for port in split_list(cfg.outbound_ports_include):
        b.append("nat", OUTPUT, "-p", "tcp", "--dport", port, "-j", REDIRECT)
    _outbound_include(b, cfg, include4, b.append4, b.insert4)
    _outbound_include(b, cfg, include6, b.append6, b.insert6)

    if cfg.tproxy:
        _tproxy_marks(b, cfg, lo4, lo6)
    return Ruleset(tuple(b.v4), tuple(b.v6), _routes(cfg))


def _inbound(b: _Builder, cfg: CaptureConfig, lo4: str, lo6: str) -> None:
    include = cfg.inbound_ports_include.strip()
    if not include:
        return  # no inbound capture at all
    mark = cfg.inbound_tproxy_mark
    if cfg.tproxy:
        # marked packets are routed to loopback (ip rule), where TPROXY hands them to Envoy
        b.append("mangle", DIVERT, "-j", "MARK", "--set-mark", mark)
        b.append("mangle", DIVERT, "-j", "ACCEPT")
        b.versioned(lo4, lo6, "mangle", TPROXY, "!", "-d", _V, "-p", "tcp", "-j", "TPROXY",
                    "--tproxy-mark", f"{mark}/0xffffffff",
                    "--on-port", str(cfg.inbound_capture_port))
    table = "mangle" if cfg.tproxy else "nat"
    b.append(table, "PREROUTING", "-p", "tcp", "-j", INBOUND)
    if include == "*":
        for port in split_list(cfg.inbound_ports_exclude):
            b.append(table, INBOUND, "-p", "tcp", "--dport", port, "-j", "RETURN")
        if cfg.tproxy:
            b.append("mangle", INBOUND, "-p", "tcp", "-m", "conntrack",
                     "--ctstate", "RELATED,ESTABLISHED", "-j", DIVERT)
            b.append("mangle", INBOUND, "-p", "tcp", "-j", TPROXY)
        else:
            b.append("nat", INBOUND, "-p", "tcp", "-j", IN_REDIRECT)
        return
    for port in split_list(include):
        if cfg.tproxy:
            b.append("mangle", INBOUND, "-p", "tcp", "--dport", port, "-m", "conntrack",
                     "--ctstate", "RELATED,ESTABLISHED", "-j", DIVERT)
            b.append("mangle", INBOUND, "-p", "tcp", "--dport", port, "-j", TPROXY)
        else:
            b.append("nat", INBOUND, "-p", "tcp", "--dport", port, "-j", IN_REDIRECT)


def _owner_groups(b: _Builder, cfg: CaptureConfig) -> None:
    if cfg.owner_groups_include.strip() == "*":
        # capture every group except the excluded ones
        for group in split_list(cfg.owner_groups_exclude):
            b.append("nat", OUTPUT, "-m", "owner", "--gid-owner", group, "-j", "RETURN")
        return
    # capture only the listed groups: return when the sender is in none of them
    spec: list[str] = []
    for group in split_list(cfg.owner_groups_include):
        spec += ["-m", "owner", "!", "--gid-owner", group]
    b.append("nat", OUTPUT, *spec, "-j", "RETURN")


def _dns(b: _Builder, cfg: CaptureConfig) -> None:
    dns = str(DNS_LISTENER_PORT)
    v4, v6 = cfg.dns_servers_v4, cfg.dns_servers_v6
    b.append("raw", "OUTPUT", "-j", OUTPUT_DNS)
    if cfg.capture_all_dns or v4:
        b.append4("nat", OUTPUT, "-j", OUTPUT_DNS)
    if cfg.capture_all_dns or v6:
        b.append6("nat", OUTPUT, "-j", OUTPUT_DNS)
    # DNS over TCP, then UDP, to the agent's DNS proxy
    for proto, to_ports in (("tcp", "--to-ports"), ("udp", "--to-port")):
        if cfg.capture_all_dns:
            b.append("nat", OUTPUT_DNS, "-p", proto, "--dport", "53", "-j", "REDIRECT",
                     to_ports, dns)
            continue
        for server in v4:
            b.append4("nat", OUTPUT_DNS, "-p", proto, "--dport", "53", "-d", f"{server}/32",
                      "-j", "REDIRECT", to_ports, dns)
        for server in v6:
            b.append6("nat", OUTPUT_DNS, "-p", proto, "--dport", "53", "-d", f"{server}/128",
                      "-j", "REDIRECT", to_ports, dns)
    # conntrack zones keep the proxy's upstream queries (zone 1) apart from the app's queries
    # to the proxy (zone 2), so UDP replies are never confused
    for kind, ids in (("--uid-owner", cfg.uids), ("--gid-owner", cfg.gids)):
        for owner in ids:
            b.append("raw", OUTPUT_DNS, "-p", "udp", "--dport", "53", "-m", "owner", kind, owner,
                     "-j", "CT", "--zone", "1")
            b.append("raw", OUTPUT_DNS, "-p", "udp", "--sport", dns, "-m", "owner", kind, owner,
                     "-j", "CT", "--zone", "2")
    if cfg.capture_all_dns:
        b.append("raw", "PREROUTING", "-j", INBOUND)
        b.append("raw", OUTPUT_DNS, "-p", "udp", "--dport", "53", "-j", "CT", "--zone", "2")
        b.append("raw", INBOUND, "-p", "udp", "--sport", "53", "-j", "CT", "--zone", "1")
        return
    if v4:
        b.append4("raw", "PREROUTING", "-j", INBOUND)
    for server in v4:
        b.append4("raw", OUTPUT_DNS, "-p", "udp", "--dport", "53", "-d", f"{server}/32",
                  "-j", "CT", "--zone", "2")
        b.append4("raw", INBOUND, "-p", "udp", "--sport", "53", "-s", f"{server}/32",
                  "-j", "CT", "--zone", "1")
    if v6:
        b.append6("raw", "PREROUTING", "-j", INBOUND)
    for server in v6:
        b.append6("raw", OUTPUT_DNS, "-p", "udp", "--dport", "53", "-d", f"{server}/128",
                  "-j", "CT", "--zone", "2")
        b.append6("raw", INBOUND, "-p", "udp", "--sport", "53", "-s", f"{server}/128",
                  "-j", "CT", "--zone", "1")


def _outbound_include(b: _Builder, cfg: CaptureConfig, ranges: _Ranges,
                      append: Callable[..., None], insert: Callable[..., None]) -> None:
    nics = split_list(cfg.kube_virt_interfaces)
    if ranges.wildcard:
        append("nat", OUTPUT, "-j", REDIRECT)
        for nic in nics:
            insert("nat", "PREROUTING", 1, "-i", nic, "-j", REDIRECT)
        return
    for cidr in ranges.cidrs:
        for nic in nics:
            insert("nat", "PREROUTING", 1, "-i", nic, "-d", cidr, "-j", REDIRECT)
        append("nat", OUTPUT, "-d", cidr, "-j", REDIRECT)


def _tproxy_marks(b: _Builder, cfg: CaptureConfig, lo4: str, lo6: str) -> None:
    mark = cfg.inbound_tproxy_mark
    # keep Envoy's original_src mark on the connection
    b.append("mangle", "PREROUTING", "-p", "tcp", "-m", "mark", "--mark", mark,
             "-j", "CONNMARK", "--save-mark")
    # Envoy -> app packets already marked are left alone
    b.append("mangle", "OUTPUT", "-p", "tcp", "-o", "lo", "-m", "mark", "--mark", mark,
             "-j", "RETURN")
    # Envoy's outbound side calling its own pod by pod IP: mark so inbound does not re-capture
    for kind, ids in (("--uid-owner", cfg.uids), ("--gid-owner", cfg.gids)):
        for owner in ids:
            b.versioned(lo4, lo6, "mangle", "OUTPUT", "!", "-d", _V, "-p", "tcp", "-o", "lo",
                        "-m", "owner", kind, owner, "-j", "MARK", "--set-mark", OUTBOUND_MARK)
    b.append("mangle", "OUTPUT", "-p", "tcp", "-m", "connmark", "--mark", mark,
             "-j", "CONNMARK", "--restore-mark")
    b.insert4("mangle", INBOUND, 1, "-p", "tcp", "-m", "mark", "--mark", mark, "-j", "RETURN")
    b.insert6("mangle", INBOUND, 1, "-p", "tcp", "-m", "mark", "--mark", mark, "-j", "RETURN")
    b.insert4("mangle", INBOUND, 2, "-p", "tcp", "-s", "127.0.0.6/32", "-i", "lo", "-j", "RETURN")
    b.insert6("mangle", INBOUND, 2, "-p", "tcp", "-s", "::6/128", "-i", "lo", "-j", "RETURN")
    b.insert4("mangle", INBOUND, 3, "-p", "tcp", "-i", "lo", "-m", "mark", "!", "--mark",
              OUTBOUND_MARK, "-j", "RETURN")
    b.insert6("mangle", INBOUND, 3, "-p", "tcp", "-i", "lo", "-m", "mark", "!", "--mark",
              OUTBOUND_MARK, "-j", "RETURN")


def _routes(cfg: CaptureConfig) -> tuple[tuple[str, ...], ...]:
    """``ip`` commands: the ``::6`` source address for IPv6, and for TPROXY the policy route
    that delivers marked packets locally."""
    out: list[tuple[str, ...]] = []
    if cfg.enable_ipv6:
        out.append(("-6", "addr", "add", "::6/128", "dev", "lo"))
    if cfg.tproxy and cfg.inbound_ports_include.strip():
        table, mark = cfg.inbound_tproxy_route_table, cfg.inbound_tproxy_mark
        families = ["-4", "-6"] if cfg.enable_ipv6 else ["-4"]
        for fam in families:
            out.append((fam, "rule", "add", "fwmark", mark, "lookup", table))
        for fam in families:
            out.append((fam, "route", "add", "local", "default", "dev", "lo", "table", table))
    return tuple(out)
