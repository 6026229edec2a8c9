"""Unit tests (tables) for lateen.capture: config validation, resolv.conf, pod annotations,
restore input over an existing install, error messages, and apply/clean through FakeRunner."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lateen.capture import (
    CaptureConfig,
    CaptureConfigError,
    CaptureError,
    CommandResult,
    IptablesTools,
    apply,
    build_rules,
    clean,
    config_from_annotations,
    detect_tools,
    ipv6_enabled,
    parse_resolv_conf,
    parse_save,
    render_apply,
    render_clean,
    render_restore,
    restore_failure,
)
from lateen.capture._rules import chains_to_create
from lateen.testing.commands import FakeRunner

NFT = {"ipv4": IptablesTools("iptables-nft", "iptables-nft-save", "iptables-nft-restore"),
       "ipv6": IptablesTools("ip6tables-nft", "ip6tables-nft-save", "ip6tables-nft-restore")}
DEFAULTS = CaptureConfig.sidecar_defaults()


# --- config ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("changes", "message"), [
    ({"proxy_port": 0}, "proxy_port"),
    ({"inbound_capture_port": 70000}, "inbound_capture_port"),
    ({"inbound_interception_mode": "NONE"}, "REDIRECT or TPROXY"),
    ({"inbound_ports_include": "80,http"}, "inbound_ports_include: 'http'"),
    ({"inbound_ports_exclude": "99999"}, "inbound_ports_exclude"),
    ({"outbound_ports_exclude": "-1"}, "outbound_ports_exclude"),
    ({"outbound_ip_ranges_include": "198.18.0.0/33"}, "outbound_ip_ranges_include"),
    ({"outbound_ip_ranges_exclude": "*"}, "'*' is not allowed"),
    ({"outbound_ip_ranges_exclude": "not-a-cidr"}, "not a CIDR"),
    ({"proxy_uid": "istio-proxy"}, "proxy_uid"),
    ({"inbound_tproxy_mark": "0x539"}, "inbound_tproxy_mark"),
    ({"host_ipv4_loopback_cidr": "198.18.0.1/32"}, "127.0.0.0/8"),
    ({"dns_servers_v4": ("resolver",)}, "dns server"),
], ids=["port-zero", "port-too-big", "mode", "named-port", "exclude-port", "negative-port",
        "prefix-too-long", "exclude-wildcard", "bad-cidr", "uid-name", "mark-hex",
        "loopback-cidr", "dns-server"])
def test_invalid_config(changes: dict[str, object], message: str) -> None:
    cfg = replace(DEFAULTS, **changes)  # type: ignore[arg-type]
    with pytest.raises(CaptureConfigError, match=message.replace("*", r"\*")):
        build_rules(cfg)


@pytest.mark.parametrize(("cfg", "uids", "gids"), [
    (CaptureConfig(), ["1337"], ["1337"]),
    (CaptureConfig(proxy_uid="3,4"), ["3", "4"], ["3", "4"]),
    (CaptureConfig(proxy_uid="3,4", proxy_gid="1,2,"), ["3", "4"], ["1", "2"]),
], ids=["default", "gid-follows-uid", "own-gids"])
def test_uids_gids(cfg: CaptureConfig, uids: list[str], gids: list[str]) -> None:
    assert (cfg.uids, cfg.gids) == (uids, gids)


@pytest.mark.parametrize(("text", "v4", "v6"), [
    ("nameserver 127.0.0.53\n", ("127.0.0.53",), ()),
    ("# c\nnameserver 198.18.0.10 # main\nnameserver ::1\nsearch a b\noptions ndots:5\n",
     ("198.18.0.10",), ("::1",)),
    ("nameserver fe80::1%eth0\nnameserver bogus\nnameserver\n", (), ("fe80::1",)),
    ("", (), ()),
], ids=["one", "mixed", "zone-and-garbage", "empty"])
def test_parse_resolv_conf(text: str, v4: tuple[str, ...], v6: tuple[str, ...]) -> None:
    assert parse_resolv_conf(text) == (v4, v6)


# --- pod annotations -> config ------------------------------------------------------------

A = "traffic.sidecar.istio.io/"


@pytest.mark.parametrize(("annotations", "kwargs", "expected"), [
    ({}, {}, {}),
    ({"sidecar.istio.io/interceptionMode": "TPROXY"}, {}, {"inbound_interception_mode": "TPROXY"}),
    ({A + "includeOutboundIPRanges": "198.19.0.0/16"}, {},
     {"outbound_ip_ranges_include": "198.19.0.0/16"}),
    ({A + "excludeOutboundIPRanges": "198.18.9.0/24"}, {},
     {"outbound_ip_ranges_exclude": "198.18.9.0/24"}),
    ({A + "includeInboundPorts": "9080"}, {}, {"inbound_ports_include": "9080"}),
    ({A + "includeInboundPorts": ""}, {}, {"inbound_ports_include": ""}),
    ({A + "excludeInboundPorts": "8081,8082"}, {},
     {"inbound_ports_exclude": "15090,15021,8081,8082,15020"}),
    ({A + "excludeInboundPorts": "15020"}, {}, {"inbound_ports_exclude": "15090,15021,15020"}),
    ({"status.sidecar.istio.io/port": "0"}, {}, {"inbound_ports_exclude": "15090,15021"}),
    ({"status.sidecar.istio.io/port": "16000"}, {},
     {"inbound_ports_exclude": "15090,15021,16000"}),
    ({A + "excludeOutboundPorts": "3306"}, {}, {"outbound_ports_exclude": "3306"}),
    ({A + "includeOutboundPorts": "32000"}, {}, {"outbound_ports_include": "32000"}),
    ({A + "kubevirtInterfaces": "eth1"}, {}, {"kube_virt_interfaces": "eth1"}),
    ({A + "excludeInterfaces": "eth9"}, {}, {"exclude_interfaces": "eth9"}),
    ({}, {"include_ip_ranges": "198.19.0.0/16", "dns_capture": True},
     {"outbound_ip_ranges_include": "198.19.0.0/16", "redirect_dns": True}),
    ({A + "includeOutboundIPRanges": "*"}, {"include_ip_ranges": "198.19.0.0/16"},
     {"outbound_ip_ranges_include": "*"}),
], ids=["none", "tproxy", "include-ranges", "exclude-ranges", "include-inbound",
        "no-inbound", "exclude-inbound", "exclude-inbound-status", "no-status-port",
        "status-port", "exclude-outbound-ports", "include-outbound-ports", "kubevirt",
        "exclude-interfaces", "mesh-values", "annotation-over-mesh"])
def test_config_from_annotations(annotations: dict[str, str], kwargs: dict[str, object],
                                 expected: dict[str, object]) -> None:
    cfg = config_from_annotations(annotations, **kwargs)  # type: ignore[arg-type]
    assert cfg == replace(DEFAULTS, **expected)  # type: ignore[arg-type]


def test_interception_mode_none_means_no_capture() -> None:
    assert config_from_annotations({"sidecar.istio.io/interceptionMode": "NONE"}) is None


# --- rules ---------------------------------------------------------------------------------

def test_chain_creation_order() -> None:
    # chains with rules first (by first rule), then chains only jumped to
    rules = build_rules(replace(DEFAULTS, inbound_interception_mode="TPROXY")).ipv4
    assert chains_to_create(rules) == {
        "mangle": ["ISTIO_DIVERT", "ISTIO_TPROXY", "ISTIO_INBOUND"],
        "nat": ["ISTIO_INBOUND", "ISTIO_REDIRECT", "ISTIO_IN_REDIRECT", "ISTIO_OUTPUT"],
    }


def test_no_ipv6_rules_unless_enabled() -> None:
    assert build_rules(DEFAULTS).ipv6 == ()
    assert build_rules(replace(DEFAULTS, enable_ipv6=True)).ipv6


def test_dns_capture_without_servers_is_off() -> None:
    # as Istio: --redirect-dns with neither servers nor --capture-all-dns captures no DNS
    assert build_rules(replace(DEFAULTS, redirect_dns=True)) == build_rules(DEFAULTS)


# --- restore input over an existing install --------------------------------------------------

SAVED_DEFAULTS = """\
# Generated by iptables-nft-save v1.8.9 (nf_tables)
*mangle
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A OUTPUT -p tcp -m mark --mark 0x10 -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:ISTIO_INBOUND - [0:0]
:ISTIO_IN_REDIRECT - [0:0]
:ISTIO_OUTPUT - [0:0]
:ISTIO_REDIRECT - [0:0]
:ISTIO_STALE - [0:0]
:USER_CHAIN - [0:0]
-A PREROUTING -p tcp -j ISTIO_INBOUND
-A PREROUTING -p tcp -m comment --comment "user rule" -j USER_CHAIN
-A OUTPUT -j ISTIO_OUTPUT
-A ISTIO_INBOUND -p tcp -m tcp --dport 15008 -j RETURN
-A ISTIO_OUTPUT -j ISTIO_REDIRECT
-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001
COMMIT
"""


def test_parse_save() -> None:
    tables = parse_save(SAVED_DEFAULTS)
    assert sorted(tables) == ["mangle", "nat"]
    assert tables["nat"].ours() == ["ISTIO_INBOUND", "ISTIO_IN_REDIRECT", "ISTIO_OUTPUT",
                                    "ISTIO_REDIRECT", "ISTIO_STALE"]
    assert tables["nat"].rules[1] == (
        "PREROUTING", '-p tcp -m comment --comment "user rule" -j USER_CHAIN')


def test_reapply_replaces_ours_and_keeps_the_rest() -> None:
    ruleset = build_rules(DEFAULTS)
    text = render_apply(ruleset, "ipv4", parse_save(SAVED_DEFAULTS))
    lines = text.splitlines()
    assert lines[:14] == [
        "*nat",
        "-D PREROUTING -p tcp -j ISTIO_INBOUND",
        "-D OUTPUT -j ISTIO_OUTPUT",
        "-F ISTIO_INBOUND",
        "-F ISTIO_IN_REDIRECT",
        "-F ISTIO_OUTPUT",
        "-F ISTIO_REDIRECT",
        "-F ISTIO_STALE",
        "-X ISTIO_STALE",  # no longer used: deleted; the others are only flushed (no -N)
        "-A ISTIO_INBOUND -p tcp --dport 15008 -j RETURN",
        "-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001",
        "-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006",
        "-A PREROUTING -p tcp -j ISTIO_INBOUND",
        "-A ISTIO_INBOUND -p tcp --dport 15090 -j RETURN",
    ]
    assert "USER_CHAIN" not in text and "mangle" not in text
    # the rules that follow are exactly a fresh install's
    fresh = render_restore(ruleset).splitlines()
    assert lines[9:] == [line for line in fresh[1:] if not line.startswith("-N ")]


def test_apply_removes_present_builtin_rules() -> None:
    cfg = replace(DEFAULTS, exclude_interfaces="eth9")
    ruleset = build_rules(cfg)
    present = [r for r in ruleset.ipv4 if r.spec == ("-o", "eth9", "-j", "RETURN")]
    text = render_apply(ruleset, "ipv4", {}, present)
    assert text.splitlines()[1] == "-D OUTPUT -o eth9 -j RETURN"


@pytest.mark.parametrize(("saved", "expected"), [
    ("", ""),
    ("*nat\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -j USER\nCOMMIT\n", ""),
    (SAVED_DEFAULTS, "*nat\n-D PREROUTING -p tcp -j ISTIO_INBOUND\n-D OUTPUT -j ISTIO_OUTPUT\n"
     "-F ISTIO_INBOUND\n-F ISTIO_IN_REDIRECT\n-F ISTIO_OUTPUT\n-F ISTIO_REDIRECT\n"
     "-F ISTIO_STALE\n-X ISTIO_INBOUND\n-X ISTIO_IN_REDIRECT\n-X ISTIO_OUTPUT\n"
     "-X ISTIO_REDIRECT\n-X ISTIO_STALE\nCOMMIT\n"),
    ("*raw\n:OUTPUT ACCEPT [0:0]\n:ISTIO_OUTPUT_DNS - [0:0]\n"
     "-A OUTPUT -g ISTIO_OUTPUT_DNS\nCOMMIT\n",
     "*raw\n-D OUTPUT -g ISTIO_OUTPUT_DNS\n-F ISTIO_OUTPUT_DNS\n-X ISTIO_OUTPUT_DNS\nCOMMIT\n"),
], ids=["nothing", "not-ours", "defaults", "goto"])
def test_render_clean(saved: str, expected: str) -> None:
    assert render_clean(parse_save(saved)) == expected


@pytest.mark.parametrize(("stderr", "expected"), [
    ("iptables-nft-restore: line 3 failed: No chain/target/match by that name.\n",
     "line 3: '-A ISTIO_X -j RETURN': iptables-nft-restore: line 3 failed: No chain/target/"
     "match by that name."),
    ("iptables-restore v1.8.9: Chain 'ISTIO_NOPE' does not exist\nError occurred at line: 2\n",
     "line 2: '-A OUTPUT -j ISTIO_OUTPUT': iptables-restore v1.8.9: Chain 'ISTIO_NOPE' does "
     "not exist Error occurred at line: 2"),
    ("permission denied (you must be root)\n", "permission denied (you must be root)"),
    ("", "no error output"),
], ids=["nft-line", "legacy-line", "no-line", "silent"])
def test_restore_failure(stderr: str, expected: str) -> None:
    text = "*nat\n-A OUTPUT -j ISTIO_OUTPUT\n-A ISTIO_X -j RETURN\nCOMMIT\n"
    assert restore_failure(stderr, text) == expected


# --- environment --------------------------------------------------------------------------

IP_ADDR_V4 = """\
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
1: lo    inet6 ::1/128 scope host noprefixroute \\       valid_lft forever preferred_lft forever
2: eth0    inet 198.18.0.5/16 brd 198.18.255.255 scope global eth0\\       valid_lft forever
2: eth0    inet6 fd00::5/64 scope global \\       valid_lft forever preferred_lft forever
2: eth0    inet6 fe80::1/64 scope link \\       valid_lft forever preferred_lft forever
"""
IP_ADDR_V6 = "2: eth0    inet6 fd00::5/64 scope global \\       valid_lft forever\n"


@pytest.mark.parametrize(("text", "dual", "expected"), [
    (IP_ADDR_V4, False, False),
    (IP_ADDR_V4, True, True),
    (IP_ADDR_V6, False, True),
    ("1: lo    inet 127.0.0.1/8 scope host lo\n", True, False),
    ("", False, False),
], ids=["v4-first", "dual-stack", "v6-only", "loopback-only", "nothing"])
def test_ipv6_enabled(text: str, dual: bool, expected: bool) -> None:
    assert ipv6_enabled(text, dual) is expected


@pytest.mark.parametrize(("installed", "expected"), [
    ({"iptables-nft", "iptables-nft-restore", "ip6tables-nft", "ip6tables-nft-restore"},
     ("iptables-nft-restore", "ip6tables-nft-save")),
    ({"iptables", "iptables-restore"}, ("iptables-restore", "ip6tables-save")),
    ({"iptables-nft-restore"}, ("iptables-restore", "ip6tables-save")),
], ids=["nft", "legacy-only", "nft-incomplete"])
def test_detect_tools(installed: set[str], expected: tuple[str, str]) -> None:
    tools = detect_tools(lambda name: f"/usr/sbin/{name}" if name in installed else None)
    assert (tools["ipv4"].restore, tools["ipv6"].save) == expected


# --- apply / clean through the fake runner ---------------------------------------------------

def test_apply_fresh() -> None:
    runner = FakeRunner()
    apply(DEFAULTS, runner, NFT)
    assert runner.commands() == ["iptables-nft-save", "iptables-nft-restore --noflush"]
    assert runner.inputs("iptables-nft-restore") == [render_restore(build_rules(DEFAULTS))]


def test_apply_is_one_restore_per_family_with_checks_and_routes() -> None:
    cfg = replace(DEFAULTS, inbound_interception_mode="TPROXY", exclude_interfaces="eth9",
                  enable_ipv6=True)

    def handler(argv: tuple[str, ...], _: str | None) -> CommandResult | None:
        if argv[:1] == ("iptables-nft-save",):
            return CommandResult(0, SAVED_DEFAULTS)
        if argv[-4:] == ("-o", "eth9", "-j", "RETURN") and argv[0] == "iptables-nft":
            return CommandResult(0)  # that rule is there already
        if argv[:3] == ("ip", "-4", "rule"):
            return CommandResult(2, "", "RTNETLINK answers: File exists\n")
        return None

    runner = FakeRunner(handler)
    apply(cfg, runner, NFT)
    cmds = runner.commands()
    restores = [c for c in cmds if c.split()[0].endswith("-restore")]
    assert restores == ["iptables-nft-restore --noflush", "ip6tables-nft-restore --noflush"]
    checks = [c for c in cmds if " -C " in c]
    assert "iptables-nft -t nat -C OUTPUT -o eth9 -j RETURN" in checks
    assert cmds[-5:] == [
        "ip -6 addr add ::6/128 dev lo",
        "ip -4 rule add fwmark 1337 lookup 133",
        "ip -6 rule add fwmark 1337 lookup 133",
        "ip -4 route add local default dev lo table 133",
        "ip -6 route add local default dev lo table 133",
    ]
    v4 = runner.inputs("iptables-nft-restore")[0]
    assert "-D OUTPUT -o eth9 -j RETURN" in v4 and "-D OUTPUT -j ISTIO_OUTPUT" in v4
    assert "-D" not in runner.inputs("ip6tables-nft-restore")[0]


@pytest.mark.parametrize(("failing", "message"), [
    ("iptables-nft-save", "iptables-nft-save failed: modprobe: FATAL"),
    ("iptables-nft-restore", "line 2: '-N ISTIO_DIVERT': iptables-nft-restore: line 2 failed"),
    ("ip", "ip -4 rule add fwmark 1337 lookup 133 failed: modprobe: FATAL"),
], ids=["save", "restore", "route"])
def test_apply_errors(failing: str, message: str) -> None:
    def handler(argv: tuple[str, ...], _: str | None) -> CommandResult | None:
        if argv[0] != failing:
            return None
        if failing == "iptables-nft-restore":
            return CommandResult(1, "", "iptables-nft-restore: line 2 failed: Chain already exists.")
        return CommandResult(1, "", "modprobe: FATAL")

    cfg = replace(DEFAULTS, inbound_interception_mode="TPROXY")
    with pytest.raises(CaptureError, match=message):
        apply(cfg, FakeRunner(handler), NFT)


def test_clean_nothing_installed_changes_nothing() -> None:
    runner = FakeRunner()
    assert clean(runner, tools=NFT) == 0
    assert [c for c in runner.commands() if "restore" in c] == []


def test_clean_removes_ours_and_tolerates_no_ipv6() -> None:
    def handler(argv: tuple[str, ...], _: str | None) -> CommandResult | None:
        if argv[0] == "iptables-nft-save":
            return CommandResult(0, SAVED_DEFAULTS)
        if argv[0] == "ip6tables-nft-save":
            return CommandResult(1, "", "ip6tables: IPv6 not supported")
        return None

    runner = FakeRunner(handler)
    assert clean(runner, replace(DEFAULTS, inbound_interception_mode="TPROXY"), NFT) == 1
    assert runner.inputs("iptables-nft-restore") == [render_clean(parse_save(SAVED_DEFAULTS))]
    assert "ip -4 rule del fwmark 1337 lookup 133" in runner.commands()
    assert "ip -4 route flush table 133" in runner.commands()
