"""``lateen iptables [clean] [flags]``: our ``istio-iptables`` (and ``istio-clean-iptables``).

Same flags (short and long) and environment variables as Istio's; installs the capture rules
in the current network namespace (``ip netns exec NS lateen iptables ...``, or
``--network-namespace``), atomically, replacing an earlier install. ``--dry-run`` prints the
iptables-restore input instead; ``clean`` removes everything of ours."""

from __future__ import annotations

import argparse
import os
import pwd
import sys
from typing import Any

__all__ = ["add_parser", "config_from_args", "run"]

# (short, long, dest, help); env var: the long name upper-cased with '_' (Istio's BindEnv)
_STRING_FLAGS: list[tuple[str, str, str, str]] = [
    ("-p", "--envoy-port", "proxy_port", "port all outbound TCP traffic is redirected to (15001)"),
    ("-z", "--inbound-capture-port", "inbound_capture_port",
     "port all inbound TCP traffic is redirected to (15006)"),
    ("-e", "--inbound-tunnel-port", "inbound_tunnel_port",
     "inbound tunnel (HBONE) port, never captured (15008)"),
    ("-u", "--proxy-uid", "proxy_uid",
     "uid(s) whose traffic is not captured: the proxy (default: user $ENVOY_USER, else 1337)"),
    ("-g", "--proxy-gid", "proxy_gid", "gid(s) whose traffic is not captured (default: -u)"),
    ("-m", "--istio-inbound-interception-mode", "inbound_interception_mode",
     "how inbound connections reach Envoy: REDIRECT (default) or TPROXY"),
    ("-b", "--istio-inbound-ports", "inbound_ports_include",
     "inbound ports to capture, comma separated; '*' for all; empty: no inbound capture"),
    ("-d", "--istio-local-exclude-ports", "inbound_ports_exclude",
     "inbound ports never captured (with -b '*')"),
    ("-c", "--istio-exclude-interfaces", "exclude_interfaces",
     "interfaces whose traffic is never captured, comma separated"),
    ("-i", "--istio-service-cidr", "outbound_ip_ranges_include",
     "outbound CIDRs to capture, comma separated; '*' for all; empty: no outbound capture"),
    ("-x", "--istio-service-exclude-cidr", "outbound_ip_ranges_exclude",
     "outbound CIDRs never captured"),
    ("-q", "--istio-outbound-ports", "outbound_ports_include",
     "outbound ports always captured, whatever the destination"),
    ("-o", "--istio-local-outbound-ports-exclude", "outbound_ports_exclude",
     "outbound ports never captured"),
    ("-k", "--kube-virt-interfaces", "kube_virt_interfaces",
     "interfaces whose inbound traffic (from a VM) is treated as outbound"),
    ("-t", "--istio-inbound-tproxy-mark", "inbound_tproxy_mark", "TPROXY packet mark (1337)"),
    ("-r", "--istio-inbound-tproxy-route-table", "inbound_tproxy_route_table",
     "TPROXY routing table (133)"),
]
_BOOL_FLAGS: list[tuple[str, str, tuple[str, ...], str]] = [
    ("--redirect-dns", "redirect_dns", ("ISTIO_META_DNS_CAPTURE",),
     "capture DNS (port 53) to the agent's DNS proxy on 15053"),
    ("--capture-all-dns", "capture_all_dns", (),
     "capture all port 53 traffic, not only to the resolv.conf servers (with --redirect-dns)"),
    ("--drop-invalid", "drop_invalid", ("INVALID_DROP",),
     "drop packets conntrack marks INVALID instead of resetting the connection"),
    ("--dual-stack", "dual_stack", ("ISTIO_DUAL_STACK",),
     "IPv6 rules too whenever the namespace has an IPv6 address"),
]


def _env_name(long: str) -> str:
    return long.lstrip("-").upper().replace("-", "_")


def _bool(value: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "t", "true", "yes", "on"):
        return True
    if v in ("0", "f", "false", "no", "off", ""):
        return False
    raise argparse.ArgumentTypeError(f"{value!r} is not a boolean")


def _seconds(value: str) -> float:
    """A duration: ``5``, ``5s``, ``500ms``, ``1m``."""
    v = value.strip()
    for suffix, scale in (("ms", 0.001), ("s", 1.0), ("m", 60.0)):
        if v.endswith(suffix) and v[: -len(suffix)].replace(".", "", 1).isdigit():
            return float(v[: -len(suffix)]) * scale
    try:
        return float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a duration") from None


def _env_bool(*names: str) -> bool:
    """True when one of the variables is set to a true value (bad values count as false)."""
    for name in names:
        try:
            if _bool(os.environ.get(name, "")):
                return True
        except argparse.ArgumentTypeError:
            pass
    return False


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "iptables",
        help="set up (or clean) the sidecar's traffic capture, as Istio's istio-iptables",
        description="Install Istio's capture rules (outbound -> Envoy :15001, inbound -> "
        ":15006, the proxy's uid/gid exempt) in this network namespace with one atomic "
        "iptables-restore per address family, replacing an earlier install. Flags and "
        "environment variables are istio-iptables'. 'lateen iptables clean' removes them.",
    )
    p.add_argument("action", nargs="?", choices=["apply", "clean"], default="apply",
                   help="apply (default) or clean (remove every rule and chain of ours)")
    env = os.environ.get
    for short, long, dest, help_ in _STRING_FLAGS:
        default = env(_env_name(long)) if long != "--envoy-port" else None
        p.add_argument(short, long, dest=dest, default=default, metavar="VALUE", help=help_)
    for long, dest, extra_env, help_ in _BOOL_FLAGS:
        p.add_argument(long, dest=dest, nargs="?", const=True, type=_bool,
                       default=_env_bool(_env_name(long), *extra_env), metavar="BOOL", help=help_)
    p.add_argument("-n", "--dry-run", nargs="?", const=True, type=_bool,
                   default=_env_bool("DRY_RUN"), metavar="BOOL",
                   help="print the iptables-restore input instead of applying it")
    p.add_argument("--skip-rule-apply", nargs="?", const=True, type=_bool,
                   default=_env_bool("SKIP_RULE_APPLY"), metavar="BOOL",
                   help="do not change the rules (with --run-validation: only validate)")
    p.add_argument("--run-validation", nargs="?", const=True, type=_bool,
                   default=_env_bool("RUN_VALIDATION"), metavar="BOOL",
                   help="then check that a connection from the proxy's uid to "
                   "127.0.0.6:<probe port> is captured (exit 126 if not)")
    p.add_argument("--iptables-probe-port", type=int, default=int(env("IPTABLES_PROBE_PORT") or 15002),
                   metavar="PORT", help="the validation probe's port (15002)")
    p.add_argument("--probe-timeout", type=_seconds, default=_seconds(env("PROBE_TIMEOUT") or "5s"),
                   metavar="DURATION", help="how long validation may take (5s)")
    p.add_argument("--cleanup-only", nargs="?", const=True, type=_bool, default=False,
                   metavar="BOOL", help="the same as 'clean'")
    p.add_argument("--network-namespace", default=env("NETWORK_NAMESPACE", ""), metavar="PATH",
                   help="apply in this network namespace (a /run/netns/NAME or /proc/PID/ns/net "
                   "path) instead of the current one")
    p.add_argument("--resolv-conf", default="/etc/resolv.conf", metavar="FILE",
                   help="where the DNS servers to capture are read (--redirect-dns)")
    p.add_argument("--dns-servers", default=None, metavar="IP,IP",
                   help="the DNS servers to capture, instead of reading --resolv-conf")
    return p


def _default_uid() -> str:
    try:
        return str(pwd.getpwnam(os.environ.get("ENVOY_USER") or "istio-proxy").pw_uid)
    except KeyError:
        return "1337"


def config_from_args(args: argparse.Namespace, ipv6: bool = False) -> Any:
    """The ``CaptureConfig`` the flags describe (DNS servers read from --resolv-conf when
    DNS capture needs them). Raises ``CaptureConfigError``/``OSError``."""
    from lateen.capture import CaptureConfig, CaptureConfigError, parse_resolv_conf, split_list

    d = CaptureConfig()
    values: dict[str, Any] = {}
    for _, long, dest, _ in _STRING_FLAGS:
        raw = getattr(args, dest)
        if raw is None:
            continue
        if dest in ("proxy_port", "inbound_capture_port", "inbound_tunnel_port"):
            if not raw.strip().isdigit():
                raise CaptureConfigError(f"{long}: {raw!r} is not a port")
            values[dest] = int(raw)
        elif dest == "inbound_interception_mode":
            values[dest] = raw.strip().upper() or "REDIRECT"
        else:
            values[dest] = raw
    if not values.get("proxy_uid"):
        values["proxy_uid"] = _default_uid()
    env = os.environ.get
    values["owner_groups_include"] = env("ISTIO_OUTBOUND_OWNER_GROUPS", d.owner_groups_include)
    values["owner_groups_exclude"] = env("ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE",
                                         d.owner_groups_exclude)
    values["host_ipv4_loopback_cidr"] = env("ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR",
                                            d.host_ipv4_loopback_cidr)
    values["redirect_dns"] = args.redirect_dns
    values["capture_all_dns"] = args.capture_all_dns
    values["drop_invalid"] = args.drop_invalid
    values["enable_ipv6"] = ipv6
    if args.redirect_dns and not args.capture_all_dns:
        if args.dns_servers is not None:
            text = "".join(f"nameserver {s}\n" for s in split_list(args.dns_servers))
        else:
            with open(args.resolv_conf, encoding="utf-8") as f:
                text = f.read()
        values["dns_servers_v4"], values["dns_servers_v6"] = parse_resolv_conf(text)
    cfg = CaptureConfig(**values)
    cfg.validate()
    return cfg


def _print_dry_run(cfg: Any) -> None:
    from lateen.capture import build_rules, render_restore

    ruleset = build_rules(cfg)
    out = ["# iptables-restore --noflush (IPv4)", render_restore(ruleset, "ipv4").rstrip("\n")]
    if cfg.enable_ipv6:
        out += ["# ip6tables-restore --noflush (IPv6)", render_restore(ruleset, "ipv6").rstrip("\n")]
    out += [f"# ip {' '.join(route)}" for route in ruleset.routes]
    print("\n".join(line for line in out if line))


def run(args: argparse.Namespace) -> int:
    from lateen.capture import (
        CaptureConfigError,
        CaptureError,
        SubprocessRunner,
        apply,
        clean,
        ipv6_enabled,
        validate,
    )

    prefix = ["nsenter", f"--net={args.network_namespace}", "--"] if args.network_namespace else []
    runner = SubprocessRunner(prefix)
    cleaning = args.action == "clean" or args.cleanup_only
    try:
        ipv6 = False
        if not cleaning:
            addrs = runner.run(["ip", "-o", "addr", "show"])
            ipv6 = addrs.returncode == 0 and ipv6_enabled(addrs.stdout, args.dual_stack)
        cfg = config_from_args(args, ipv6=ipv6)
        if args.dry_run:
            _print_dry_run(cfg)
            return 0
        if cleaning:
            tables = clean(runner, cfg)
            print(f"lateen iptables: removed the capture rules ({tables} table(s) changed)")
            return 0
        if not args.skip_rule_apply:
            ruleset = apply(cfg, runner)
            families = "IPv4 and IPv6" if cfg.enable_ipv6 else "IPv4"
            count = len(ruleset.ipv4) + len(ruleset.ipv6)
            print(f"lateen iptables: {count} rules applied ({families})")
    except (CaptureConfigError, CaptureError, OSError) as e:
        print(f"lateen iptables: {e}", file=sys.stderr)
        return 1
    if args.run_validation:
        if args.network_namespace:
            print("lateen iptables: --run-validation runs in the current network namespace; "
                  "use 'ip netns exec' rather than --network-namespace", file=sys.stderr)
            return 1
        try:
            validate(cfg, timeout=args.probe_timeout, probe_port=args.iptables_probe_port)
        except CaptureError as e:
            print(f"lateen iptables: {e}", file=sys.stderr)
            return 126  # Istio's validation error code
        print("lateen iptables: validation passed, traffic is captured")
    return 0
