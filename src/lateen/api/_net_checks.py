"""Field-level checks shared by the networking validators (hosts, ports, labels, regexes...).

Each check returns an error message, or ``None`` when the value is valid. Messages follow
Istio's wording so users can search for them.
"""

from __future__ import annotations

import ipaddress
import re

from lateen.api._base import ValidationContext, parse_duration

__all__ = [
    "GRPC_STATUSES",
    "GRPC_STATUS_NAMES",
    "HTTP_STATUS_CODES",
    "check_duration",
    "check_labels",
    "dns1123_labels",
    "fqdn",
    "header_name",
    "host_matches",
    "host_subset_of",
    "ip_address",
    "ip_subnet",
    "is_dns1123_label",
    "is_ip",
    "namespace_slash_hostname",
    "parse_protocol",
    "partial_wildcard",
    "port",
    "regex_error",
    "unix_address",
    "wildcard_domain",
    "wildcard_domain_for_gateway_vs",
]

_LABEL_FMT = r"[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?"
_DNS1123_LABEL = re.compile(rf"^{_LABEL_FMT}$")
_WILDCARD_LABEL = re.compile(rf"^(?:\*|(?:\*|\*-)?{_LABEL_FMT})$")
_QUALIFIED_NAME = re.compile(r"^(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(?:(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$"
)
_HEADER_NAME = re.compile(r"^[-_A-Za-z0-9]+$")

# Go's net/http StatusText table: the codes Istio accepts as a retryOn entry.
HTTP_STATUS_CODES = frozenset(
    {100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226}
    | {300, 301, 302, 303, 304, 305, 307, 308}
    | set(range(400, 419))
    | {421, 422, 423, 424, 425, 426, 428, 429, 431, 451}
    | set(range(500, 509))
    | {510, 511}
)

# gRPC status names in code order (OK = 0 ... UNAUTHENTICATED = 16)
GRPC_STATUS_NAMES: tuple[str, ...] = (
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
)
GRPC_STATUSES = frozenset(GRPC_STATUS_NAMES)

# Istio's protocol names (pkg/config/protocol), matched case-insensitively.
_PROTOCOLS = {
    "grpc": "GRPC",
    "grpc-web": "GRPC-Web",
    "http": "HTTP",
    "http_proxy": "HTTP_PROXY",
    "http2": "HTTP2",
    "https": "HTTPS",
    "tcp": "TCP",
    "tls": "TLS",
    "udp": "UDP",
    "mongo": "Mongo",
    "redis": "Redis",
    "mysql": "MySQL",
}
HTTP_PROTOCOLS = frozenset({"HTTP", "HTTP2", "HTTP_PROXY", "GRPC", "GRPC-Web"})
TLS_PROTOCOLS = frozenset({"HTTPS", "TLS"})
TCP_PROTOCOLS = frozenset({"TCP", "HTTPS", "TLS", "Mongo", "Redis", "MySQL"})


def parse_protocol(name: str) -> str:
    """Istio's canonical protocol name, or ``"Unsupported"``."""
    return _PROTOCOLS.get(name.lower(), "Unsupported")


def is_dns1123_label(value: str) -> bool:
    return len(value) <= 63 and bool(_DNS1123_LABEL.match(value))


def _is_wildcard_label(value: str) -> bool:
    return len(value) <= 63 and bool(_WILDCARD_LABEL.match(value))


def _dns_preconditions(name: str) -> str | None:
    if len(name) > 255:
        return f"domain name {name!r} too long (max 255)"
    if not name:
        return "empty domain name not allowed"
    return None


def dns1123_labels(domain: str) -> str | None:
    parts = domain.split(".")
    tld = parts[-1]
    if tld.lstrip("+-").isdigit():
        return f"domain name {domain!r} invalid (top level domain {tld!r} cannot be all-numeric)"
    for i, label in enumerate(parts):
        if i == len(parts) - 1 and label == "":
            return None  # a trailing dot is allowed: "istio.io."
        if not is_dns1123_label(label):
            return f"domain name {domain!r} invalid (label {label!r} invalid)"
    return None


def fqdn(name: str) -> str | None:
    return _dns_preconditions(name) or dns1123_labels(name)


def wildcard_domain(domain: str) -> str | None:
    """A DNS name whose first label may be a wildcard (``*``, ``*.example.com``)."""
    err = _dns_preconditions(domain)
    if err:
        return err
    first, dot, rest = domain.partition(".")
    if not _is_wildcard_label(first):
        return f"domain name {domain!r} invalid (label {first!r} invalid)"
    if dot:
        return dns1123_labels(rest)
    return None


_OUTBOUND_SNI = re.compile(r"outbound_.([0-8].*).*")


def wildcard_domain_for_gateway_vs(sni: bool, domain: str) -> str | None:
    err = _dns_preconditions(domain)
    if err:
        return err
    first, dot, rest = domain.partition(".")
    if sni and first == "outbound_":
        if not _OUTBOUND_SNI.match(domain):
            return f"domain name {domain!r} invalid (label {first!r} invalid)"
        return None
    if not _is_wildcard_label(first):
        return f"domain name {domain!r} invalid (label {first!r} invalid)"
    if dot:
        return dns1123_labels(rest)
    return None


def partial_wildcard(host: str) -> str | None:
    if "*" in host and len(host) != 1 and not host.startswith("*."):
        return f"partial wildcard {host!r} not allowed"
    return None


def is_ip(addr: str) -> bool:
    try:
        ipaddress.ip_address(addr)
    except ValueError:
        return False
    return True


def ip_address(addr: str) -> str | None:
    return None if is_ip(addr) else f"{addr} is not a valid IP"


def ip_subnet(subnet: str) -> str | None:
    if subnet.count("/") == 1:
        try:
            ipaddress.ip_network(subnet, strict=False)
        except ValueError:
            return f"{subnet} is not a valid CIDR block"
        return None
    return ip_address(subnet)


def port(number: int) -> str | None:
    if 1 <= number <= 65535:
        return None
    return f"port number {number} must be in the range 1..65535"


def unix_address(addr: str) -> str | None:
    if not addr:
        return "unix address must not be empty"
    if addr.startswith("@"):
        return None
    if not addr.startswith("/") or addr.endswith("/"):
        return f"{addr} is not an absolute path to a file"
    return None


def header_name(name: str) -> str | None:
    if not name:
        return "header name cannot be empty"
    if not _HEADER_NAME.match(name):
        return f"header name {name} is not a valid header name"
    return None


def _label_key(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)):
        return f"invalid tag key: {key!r}"
    if not name or len(name) > 63 or not _QUALIFIED_NAME.match(name):
        return f"invalid tag key: {key!r}"
    return None


def check_labels(ctx: ValidationContext, path: str, labels: dict[str, str]) -> None:
    """Kubernetes label syntax for keys and values (Istio ``labels.Instance.Validate``)."""
    for key, value in labels.items():
        err = _label_key(key)
        if err:
            ctx.error(f"{path}.{key}", err)
        if len(value) > 63 or not _LABEL_VALUE.match(value):
            ctx.error(f"{path}.{key}", f"invalid tag value: {value!r}")


def _sidecar_or_gateway_host_part(hostname: str, is_gateway: bool) -> list[str]:
    errs: list[str] = []
    if hostname != "*" and "." not in hostname:
        errs.append("short names (non FQDN) are not allowed")
    err = wildcard_domain(hostname)
    if err and (not is_gateway or not is_ip(hostname)):
        errs.append(err)
    err = partial_wildcard(hostname)
    if err:
        errs.append(err)
    return errs


def namespace_slash_hostname(hostname: str, is_gateway: bool) -> list[str]:
    """``ns/host`` as used by Sidecar egress hosts and Gateway server hosts."""
    ns, slash, name = hostname.partition("/")
    if not slash:
        if is_gateway:
            return _sidecar_or_gateway_host_part(hostname, True)
        return ["host must be of form namespace/dnsName"]
    errs: list[str] = []
    if not ns or not name:
        errs.append("config namespace and dnsName in host entry cannot be empty")
    allowed = ("*", ".") if is_gateway else ("*", ".", "~")
    if ns not in allowed and not is_dns1123_label(ns):
        where = "gateway" if is_gateway else "sidecar"
        errs.append(f"invalid namespace value {ns!r} in {where}")
    errs.extend(_sidecar_or_gateway_host_part(name, is_gateway))
    return errs


def host_matches(a: str, b: str) -> bool:
    """Istio ``host.Name.Matches``: the two (possibly wildcard) hosts overlap."""
    aw, bw = a.startswith("*"), b.startswith("*")
    if aw and bw:
        return b[1:].endswith(a[1:]) if len(a) < len(b) else a[1:].endswith(b[1:])
    if aw:
        return b.endswith(a[1:])
    if bw:
        return a.endswith(b[1:])
    return a == b


def host_subset_of(a: str, b: str) -> bool:
    """Istio ``host.Name.SubsetOf``: every name matching ``a`` also matches ``b``."""
    if a == b:
        return True
    if b.startswith("*"):
        return a[1:].endswith(b[1:]) if a.startswith("*") else a.endswith(b[1:])
    return False


def check_duration(ctx: ValidationContext, path: str, text: str | None) -> float | None:
    """Istio's duration rule: well-formed, at least 1ms, millisecond precision."""
    if text is None:
        return None
    try:
        seconds = parse_duration(text)
    except ValueError as e:
        ctx.error(path, str(e))
        return None
    nanos = round(seconds * 1e9)
    if nanos < 1_000_000:
        ctx.error(path, "duration must be greater than 1ms")
    elif nanos % 1_000_000:
        ctx.error(path, "only durations to ms precision are supported")
    return seconds


# RE2 has no lookaround, backreferences, possessive quantifiers or atomic groups.
_RE2_UNSUPPORTED = re.compile(
    r"\(\?(?:=|!|<=|<!|>|P=)"  # lookaround, atomic group, named backreference
    r"|\\[1-9]"  # numbered backreference
    r"|\\k<"  # named backreference
    r"|[*+?}]\+"  # possessive quantifier
)
_UNICODE_CLASS = re.compile(r"\\[pP](?:\{[^}]*\}|[A-Za-z])")


def regex_error(expr: str) -> str | None:
    """Why ``expr`` is not an RE2 regex Envoy would accept, or None (approximation: Python's
    ``re`` plus a scan for constructs RE2 rejects)."""
    if len(expr) > 1024:
        return "regex is too large, max length allowed is 1024"
    bad = _RE2_UNSUPPORTED.search(expr.replace("\\\\", ""))
    if bad:
        return (
            f"invalid or unsupported Perl syntax: {bad.group(0)!r}; Istio uses RE2 style "
            "regex-based match (https://github.com/google/re2/wiki/Syntax)"
        )
    py = _UNICODE_CLASS.sub(".", expr).replace("\\z", "\\Z")
    py = re.sub(r"\(\?<(?=[A-Za-z_])", "(?P<", py)
    try:
        re.compile(py)
    except re.error as e:
        return f"{e}; Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)"
    return None
