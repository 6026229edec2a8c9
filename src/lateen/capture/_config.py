"""``CaptureConfig``: the options of Istio's ``istio-iptables`` (same meaning, same defaults),
validation, the DNS servers of a resolv.conf, and the pod annotations that set them."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "DNS_LISTENER_PORT",
    "CaptureConfig",
    "CaptureConfigError",
    "config_from_annotations",
    "parse_resolv_conf",
    "split_list",
]

# the agent's DNS proxy (Istio's ``IstioAgentDNSListenerPort``)
DNS_LISTENER_PORT = 15053
# TPROXY: packets from Envoy's outbound side to the app by pod IP carry this mark
OUTBOUND_MARK = "1338"

InterceptionMode = Literal["REDIRECT", "TPROXY"]


class CaptureConfigError(ValueError):
    """An option value istio-iptables would reject (the message names the option)."""


def split_list(value: str) -> list[str]:
    """A comma separated option as its non-empty items (``"6000,7000,"`` -> 2 items)."""
    return [item.strip() for item in value.split(",") if item.strip()]


@dataclass(frozen=True, slots=True)
class CaptureConfig:
    """What to capture. Field defaults are istio-iptables' own flag defaults: with nothing set,
    only the proxy's own chains exist and nothing is redirected (``-b``/``-i`` empty); the
    injector's usual values are ``sidecar_defaults()``.

    List options keep istio-iptables' string form: comma separated, ``*`` for all, ``""`` for none.
    """

    proxy_port: int = 15001  # -p --envoy-port: outbound traffic goes here
    inbound_capture_port: int = 15006  # -z --inbound-capture-port
    inbound_tunnel_port: int = 15008  # -e --inbound-tunnel-port (HBONE), never captured
    proxy_uid: str = "1337"  # -u --proxy-uid: comma separated uids exempt from capture
    proxy_gid: str = ""  # -g --proxy-gid: default: the same as proxy_uid
    inbound_interception_mode: InterceptionMode = "REDIRECT"  # -m
    inbound_tproxy_mark: str = "1337"  # -t --istio-inbound-tproxy-mark
    inbound_tproxy_route_table: str = "133"  # -r --istio-inbound-tproxy-route-table
    inbound_ports_include: str = ""  # -b --istio-inbound-ports: "*", "" or ports
    inbound_ports_exclude: str = ""  # -d --istio-local-exclude-ports (with -b "*")
    outbound_ports_include: str = ""  # -q --istio-outbound-ports
    outbound_ports_exclude: str = ""  # -o --istio-local-outbound-ports-exclude
    outbound_ip_ranges_include: str = ""  # -i --istio-service-cidr: "*", "" or CIDRs
    outbound_ip_ranges_exclude: str = ""  # -x --istio-service-exclude-cidr
    kube_virt_interfaces: str = ""  # -k --kube-virt-interfaces
    exclude_interfaces: str = ""  # -c --istio-exclude-interfaces
    owner_groups_include: str = "*"  # $ISTIO_OUTBOUND_OWNER_GROUPS
    owner_groups_exclude: str = ""  # $ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE
    host_ipv4_loopback_cidr: str = "127.0.0.1/32"  # $ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR
    redirect_dns: bool = False  # --redirect-dns ($ISTIO_META_DNS_CAPTURE)
    capture_all_dns: bool = False  # --capture-all-dns
    dns_servers_v4: tuple[str, ...] = field(default=())  # from resolv.conf when redirect_dns
    dns_servers_v6: tuple[str, ...] = field(default=())
    drop_invalid: bool = False  # --drop-invalid ($INVALID_DROP)
    enable_ipv6: bool = False  # the pod has an IPv6 address: ip6tables rules too

    @property
    def uids(self) -> list[str]:
        return split_list(self.proxy_uid)

    @property
    def gids(self) -> list[str]:
        return split_list(self.proxy_gid or self.proxy_uid)

    @property
    def tproxy(self) -> bool:
        return self.inbound_interception_mode == "TPROXY"

    @classmethod
    def sidecar_defaults(cls) -> CaptureConfig:
        """The init container's arguments when no annotation changes them (Istio's
        contract): ``-p 15001 -z 15006 -u 1337 -m REDIRECT -i '*' -x '' -b '*'
        -d 15090,15021,15020``."""
        return cls(
            outbound_ip_ranges_include="*",
            inbound_ports_include="*",
            inbound_ports_exclude="15090,15021,15020",
        )

    def to_args(self) -> list[str]:
        """The ``lateen iptables`` (istio-iptables) flags for this config, in the injector's
        order: ``-p -z -u -m -i -x -b -d``, then the others when not at their default.
        Options that istio-iptables takes from the environment or detects (owner groups,
        loopback CIDR, IPv6) are not flags and are left out."""
        d = CaptureConfig()
        args = [
            "-p", str(self.proxy_port), "-z", str(self.inbound_capture_port),
            "-u", self.proxy_uid, "-m", self.inbound_interception_mode,
            "-i", self.outbound_ip_ranges_include, "-x", self.outbound_ip_ranges_exclude,
            "-b", self.inbound_ports_include, "-d", self.inbound_ports_exclude,
        ]  # fmt: skip
        optional = [
            ("-q", self.outbound_ports_include, d.outbound_ports_include),
            ("-o", self.outbound_ports_exclude, d.outbound_ports_exclude),
            ("-k", self.kube_virt_interfaces, d.kube_virt_interfaces),
            ("-c", self.exclude_interfaces, d.exclude_interfaces),
            ("-g", self.proxy_gid, d.proxy_gid),
            ("-e", str(self.inbound_tunnel_port), str(d.inbound_tunnel_port)),
            ("-t", self.inbound_tproxy_mark, d.inbound_tproxy_mark),
            ("-r", self.inbound_tproxy_route_table, d.inbound_tproxy_route_table),
        ]
        args += [a for flag, value, default in optional if value != default for a in (flag, value)]
        for flag, on in (("--redirect-dns", self.redirect_dns),
                         ("--capture-all-dns", self.capture_all_dns),
                         ("--drop-invalid", self.drop_invalid)):
            if on:
                args.append(flag)
        if self.dns_servers_v4 or self.dns_servers_v6:
            args += ["--dns-servers", ",".join(self.dns_servers_v4 + self.dns_servers_v6)]
        return args

    def validate(self) -> None:
        """Raise ``CaptureConfigError`` naming the first bad option."""
        for name in ("proxy_port", "inbound_capture_port", "inbound_tunnel_port"):
            _port(name, str(getattr(self, name)))
        if self.inbound_interception_mode not in ("REDIRECT", "TPROXY"):
            raise CaptureConfigError(
                f"istio-inbound-interception-mode: {self.inbound_interception_mode!r} is not "
                "REDIRECT or TPROXY"
            )
        for name in ("inbound_ports_include", "inbound_ports_exclude", "outbound_ports_include",
                     "outbound_ports_exclude"):
            value = getattr(self, name)
            if name == "inbound_ports_include" and value.strip() == "*":
                continue
            for item in split_list(value):
                _port(name, item)
        for name in ("proxy_uid", "proxy_gid", "inbound_tproxy_mark", "inbound_tproxy_route_table"):
            for item in split_list(getattr(self, name)):
                if not item.isdigit():
                    raise CaptureConfigError(f"{name}: {item!r} is not a number")
        if self.outbound_ip_ranges_exclude.strip() == "*":
            raise CaptureConfigError("istio-service-exclude-cidr: '*' is not allowed")
        for name in ("outbound_ip_ranges_include", "outbound_ip_ranges_exclude"):
            value = getattr(self, name)
            if value.strip() != "*":
                for item in split_list(value):
                    _network(name, item)
        loopback = _network("host_ipv4_loopback_cidr", self.host_ipv4_loopback_cidr)
        if loopback.version != 4 or not loopback.network_address.is_loopback:
            raise CaptureConfigError(
                f"host_ipv4_loopback_cidr: {self.host_ipv4_loopback_cidr!r} is not in 127.0.0.0/8"
            )
        for server in self.dns_servers_v4 + self.dns_servers_v6:
            try:
                ipaddress.ip_address(server)
            except ValueError:
                raise CaptureConfigError(f"dns server {server!r} is not an IP address") from None


def _port(name: str, value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise CaptureConfigError(f"{name}: {value!r} is not a port (1-65535)")
    return int(value)


def _network(name: str, value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise CaptureConfigError(f"{name}: {value!r} is not a CIDR") from None


def parse_resolv_conf(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The ``nameserver`` addresses of a resolv.conf, split into (IPv4, IPv6), in order."""
    v4: list[str] = []
    v6: list[str] = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(fields) < 2 or fields[0] != "nameserver":
            continue
        addr = fields[1].split("%", 1)[0]  # a zone index is not part of the address
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            continue
        # kept as written: the rules name the server exactly as resolv.conf does
        (v4 if ip.version == 4 else v6).append(addr)
    return tuple(v4), tuple(v6)


# --- pod annotations -> init container arguments ------------------------------------------

INTERCEPTION_MODE = "sidecar.istio.io/interceptionMode"
INCLUDE_OUTBOUND_IP_RANGES = "traffic.sidecar.istio.io/includeOutboundIPRanges"
EXCLUDE_OUTBOUND_IP_RANGES = "traffic.sidecar.istio.io/excludeOutboundIPRanges"
INCLUDE_INBOUND_PORTS = "traffic.sidecar.istio.io/includeInboundPorts"
EXCLUDE_INBOUND_PORTS = "traffic.sidecar.istio.io/excludeInboundPorts"
INCLUDE_OUTBOUND_PORTS = "traffic.sidecar.istio.io/includeOutboundPorts"
EXCLUDE_OUTBOUND_PORTS = "traffic.sidecar.istio.io/excludeOutboundPorts"
KUBEVIRT_INTERFACES = "traffic.sidecar.istio.io/kubevirtInterfaces"
EXCLUDE_INTERFACES = "traffic.sidecar.istio.io/excludeInterfaces"
STATUS_PORT = "status.sidecar.istio.io/port"


def _exclude_status_port(status_port: str, excluded: str) -> str:
    """The injector's ``excludeInboundPort``: add the agent's status port to the excluded
    inbound ports unless it is 0/empty or already listed."""
    port = status_port.strip()
    if not port or port == "0":
        return excluded
    ports = excluded.split(",")
    if port in ports:
        return excluded
    return ",".join([p.strip() for p in ports if p.strip()] + [port])


def config_from_annotations(
    annotations: Mapping[str, str],
    *,
    interception_mode: str = "REDIRECT",
    include_ip_ranges: str = "*",
    exclude_ip_ranges: str = "",
    include_inbound_ports: str = "*",
    exclude_inbound_ports: str = "",
    include_outbound_ports: str = "",
    exclude_outbound_ports: str = "",
    status_port: int = 15020,
    proxy_port: int = 15001,
    dns_capture: bool = False,
) -> CaptureConfig | None:
    """The capture a sidecar-injected pod gets, as Istio's injection template builds the
    ``istio-init`` arguments from the pod's annotations (keyword arguments are the mesh-wide
    values: ``global.proxy.includeIPRanges`` etc.). ``None`` for interception mode ``NONE``
    (no init container). DNS servers are left for the caller (they come from the pod's
    resolv.conf)."""

    def ann(key: str, default: str) -> str:
        return annotations.get(key, default)

    mode = ann(INTERCEPTION_MODE, interception_mode)
    if mode == "NONE":
        return None
    extra = _exclude_status_port(ann(STATUS_PORT, str(status_port)),
                                 ann(EXCLUDE_INBOUND_PORTS, exclude_inbound_ports))
    local_exclude = "15090,15021," + extra if extra else "15090,15021"
    cfg = CaptureConfig(
        proxy_port=proxy_port,
        inbound_capture_port=15006,
        proxy_uid="1337",
        inbound_interception_mode="TPROXY" if mode == "TPROXY" else "REDIRECT",
        outbound_ip_ranges_include=ann(INCLUDE_OUTBOUND_IP_RANGES, include_ip_ranges),
        outbound_ip_ranges_exclude=ann(EXCLUDE_OUTBOUND_IP_RANGES, exclude_ip_ranges),
        inbound_ports_include=ann(INCLUDE_INBOUND_PORTS, include_inbound_ports),
        inbound_ports_exclude=local_exclude,
        outbound_ports_include=ann(INCLUDE_OUTBOUND_PORTS, include_outbound_ports),
        outbound_ports_exclude=ann(EXCLUDE_OUTBOUND_PORTS, exclude_outbound_ports),
        kube_virt_interfaces=annotations.get(KUBEVIRT_INTERFACES, ""),
        exclude_interfaces=annotations.get(EXCLUDE_INTERFACES, ""),
        redirect_dns=dns_capture,
    )
    return cfg
