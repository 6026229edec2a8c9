"""``lateen iptables``: Istio's flags (short and long) and environment variables, --dry-run,
apply and clean through a fake runner, errors."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

import lateen.capture
from lateen.capture import CaptureConfig, CommandResult, build_rules, render_restore
from lateen.cli._iptables import config_from_args
from lateen.cli._main import build_parser, main
from lateen.testing.commands import FakeRunner

CONTRACT = ["-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*", "-x", "",
            "-b", "*", "-d", "15090,15021,15020"]


def parse(*argv: str, ipv6: bool = False) -> CaptureConfig:
    cfg = config_from_args(build_parser().parse_args(["iptables", *argv]), ipv6=ipv6)
    assert isinstance(cfg, CaptureConfig)
    return cfg


FLAGS = [
    ("-p", "--envoy-port", "16001", "proxy_port", 16001),
    ("-z", "--inbound-capture-port", "16006", "inbound_capture_port", 16006),
    ("-e", "--inbound-tunnel-port", "16008", "inbound_tunnel_port", 16008),
    ("-u", "--proxy-uid", "3,4", "proxy_uid", "3,4"),
    ("-g", "--proxy-gid", "1,2", "proxy_gid", "1,2"),
    ("-m", "--istio-inbound-interception-mode", "tproxy", "inbound_interception_mode", "TPROXY"),
    ("-b", "--istio-inbound-ports", "9080,9443", "inbound_ports_include", "9080,9443"),
    ("-d", "--istio-local-exclude-ports", "15020", "inbound_ports_exclude", "15020"),
    ("-c", "--istio-exclude-interfaces", "eth9", "exclude_interfaces", "eth9"),
    ("-i", "--istio-service-cidr", "198.19.0.0/16", "outbound_ip_ranges_include", "198.19.0.0/16"),
    ("-x", "--istio-service-exclude-cidr", "198.18.0.0/24", "outbound_ip_ranges_exclude",
     "198.18.0.0/24"),
    ("-q", "--istio-outbound-ports", "32000", "outbound_ports_include", "32000"),
    ("-o", "--istio-local-outbound-ports-exclude", "3306", "outbound_ports_exclude", "3306"),
    ("-k", "--kube-virt-interfaces", "eth1,eth2", "kube_virt_interfaces", "eth1,eth2"),
    ("-t", "--istio-inbound-tproxy-mark", "1400", "inbound_tproxy_mark", "1400"),
    ("-r", "--istio-inbound-tproxy-route-table", "140", "inbound_tproxy_route_table", "140"),
]


@pytest.mark.parametrize(("short", "long", "value", "field", "expected"), FLAGS,
                         ids=[f[1].lstrip("-") for f in FLAGS])
@pytest.mark.parametrize("form", ["short", "long", "long="])
def test_flags(form: str, short: str, long: str, value: str, field: str, expected: object) -> None:
    argv = {"short": [short, value], "long": [long, value], "long=": [f"{long}={value}"]}[form]
    assert getattr(parse(*argv), field) == expected


@pytest.mark.parametrize(("argv", "env", "expected"), [
    ([], {}, {}),
    ([], {"ISTIO_INBOUND_PORTS": "*", "ISTIO_SERVICE_CIDR": "*"},
     {"inbound_ports_include": "*", "outbound_ip_ranges_include": "*"}),
    (["-b", "9080"], {"ISTIO_INBOUND_PORTS": "*"}, {"inbound_ports_include": "9080"}),
    (["--dns-servers", "127.0.0.53"], {"ISTIO_META_DNS_CAPTURE": "true"},
     {"redirect_dns": True, "dns_servers_v4": ("127.0.0.53",)}),
    (["--redirect-dns=false"], {"ISTIO_META_DNS_CAPTURE": "true"}, {}),
    (["--redirect-dns", "--capture-all-dns"], {}, {"redirect_dns": True, "capture_all_dns": True}),
    ([], {"INVALID_DROP": "1"}, {"drop_invalid": True}),
    (["--drop-invalid"], {}, {"drop_invalid": True}),
    ([], {"ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE": "888"}, {"owner_groups_exclude": "888"}),
    (["-u", ""], {"ENVOY_USER": "root"}, {"proxy_uid": "0"}),
    (["-m", ""], {}, {"inbound_interception_mode": "REDIRECT"}),
], ids=["defaults", "env", "flag-over-env", "dns-env", "false-over-env", "all-dns",
        "invalid-drop-env", "drop-invalid", "owner-groups-env", "envoy-user", "empty-mode"])
def test_defaults_and_environment(argv: list[str], env: dict[str, str], expected: dict[str, object],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    base = ["-u", "1337"] if "-u" not in argv else []
    want = {"proxy_uid": "1337", **expected}
    cfg = parse(*base, *argv)
    assert {k: getattr(cfg, k) for k in want} == want
    if not expected:
        assert cfg == CaptureConfig()


def test_resolv_conf_is_read_for_dns(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.53\nnameserver ::1\n")
    cfg = parse("-u", "1337", "--redirect-dns", "--resolv-conf", str(resolv))
    assert (cfg.dns_servers_v4, cfg.dns_servers_v6) == (("127.0.0.53",), ("::1",))
    # capture-all-dns needs no servers: the file is not read
    cfg = parse("-u", "1337", "--redirect-dns", "--capture-all-dns",
                "--resolv-conf", str(tmp_path / "missing"))
    assert cfg.dns_servers_v4 == ()


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> list[FakeRunner]:
    """``lateen iptables`` runs its commands through FakeRunners (one per invocation)."""
    made: list[FakeRunner] = []

    def runner(prefix: Sequence[str] = ()) -> FakeRunner:
        def handler(argv: tuple[str, ...], _: str | None) -> CommandResult | None:
            if argv[:2] == ("ip", "-o"):
                return CommandResult(0, "2: eth0    inet 198.18.0.5/16 scope global eth0\n")
            return None

        r = FakeRunner(handler)
        r.prefix = list(prefix)  # type: ignore[attr-defined]
        made.append(r)
        return r

    monkeypatch.setattr(lateen.capture, "SubprocessRunner", runner)
    return made


def test_dry_run_prints_restore_input(fake: list[FakeRunner], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["iptables", *CONTRACT, "--dry-run"]) == 0
    out = capsys.readouterr().out
    expected = render_restore(build_rules(CaptureConfig.sidecar_defaults()))
    assert out == "# iptables-restore --noflush (IPv4)\n" + expected
    # nothing but the read-only address lookup ran
    assert fake[0].commands() == ["ip -o addr show"]


def test_dry_run_tproxy_ipv6(fake: list[FakeRunner], monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(lateen.capture, "ipv6_enabled", lambda *_: True)
    assert main(["iptables", *CONTRACT[:6], "-m", "TPROXY", "-b", "*", "-n"]) == 0
    out = capsys.readouterr().out
    assert "# ip6tables-restore --noflush (IPv6)\n*mangle\n" in out
    assert out.endswith("# ip -6 route add local default dev lo table 133\n")


def test_apply_and_clean(fake: list[FakeRunner], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["iptables", *CONTRACT, "--network-namespace", "/run/netns/pod"]) == 0
    runner = fake[0]
    assert runner.prefix == ["nsenter", "--net=/run/netns/pod", "--"]  # type: ignore[attr-defined]
    restore = runner.inputs(runner.calls[-1][0][0])
    assert restore == [render_restore(build_rules(CaptureConfig.sidecar_defaults()))]
    assert "18 rules applied (IPv4)" in capsys.readouterr().out

    for argv in (["iptables", "clean"], ["iptables", "--cleanup-only"]):
        assert main(argv) == 0
        assert all("-save" in c or " -C " in c for c in fake[-1].commands())
        assert "removed the capture rules (0 table(s) changed)" in capsys.readouterr().out


def test_skip_rule_apply_changes_nothing(fake: list[FakeRunner],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["iptables", *CONTRACT, "--skip-rule-apply"]) == 0
    assert fake[0].commands() == ["ip -o addr show"]
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(("value", "seconds"), [("5s", 5.0), ("500ms", 0.5), ("2", 2.0),
                                                ("1m", 60.0), ("1.5s", 1.5)],
                         ids=["s", "ms", "bare", "m", "fraction"])
def test_probe_timeout(value: str, seconds: float) -> None:
    args = build_parser().parse_args(["iptables", "--probe-timeout", value])
    assert args.probe_timeout == seconds


@pytest.mark.parametrize(("argv", "message"), [
    (["-p", "http"], "--envoy-port: 'http' is not a port"),
    (["-b", "80,x"], "inbound_ports_include: 'x'"),
    (["-m", "NONE"], "REDIRECT or TPROXY"),
    (["-x", "*"], "'*' is not allowed"),
    (["--redirect-dns", "--resolv-conf", "/nonexistent/resolv.conf"], "No such file"),
], ids=["port", "inbound-port", "mode", "exclude-wildcard", "resolv-conf"])
def test_errors(argv: list[str], message: str, fake: list[FakeRunner],
                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["iptables", "-u", "1337", *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lateen iptables: ") and message in err
    assert not any("restore" in c for r in fake for c in r.commands())


@pytest.mark.parametrize("cfg", [
    CaptureConfig(),
    CaptureConfig.sidecar_defaults(),
    CaptureConfig(proxy_uid="3,4", proxy_gid="1,2", inbound_interception_mode="TPROXY",
                  inbound_ports_include="9080", outbound_ports_include="32000",
                  outbound_ports_exclude="3306", outbound_ip_ranges_include="198.19.0.0/16",
                  outbound_ip_ranges_exclude="198.19.9.0/24", kube_virt_interfaces="eth1",
                  exclude_interfaces="eth9", inbound_tunnel_port=16008,
                  inbound_tproxy_mark="1400", inbound_tproxy_route_table="140",
                  redirect_dns=True, capture_all_dns=True, drop_invalid=True),
    CaptureConfig(redirect_dns=True, dns_servers_v4=("127.0.0.53",), dns_servers_v6=("::1",)),
], ids=["istio-iptables-defaults", "sidecar", "everything", "dns-servers"])
def test_to_args_round_trip(cfg: CaptureConfig) -> None:
    assert parse(*cfg.to_args()) == cfg


def test_to_args_of_annotations() -> None:
    # what the local platform runs as a pod's init step (Istio's istio-init arguments)
    cfg = lateen.capture.config_from_annotations(
        {"traffic.sidecar.istio.io/excludeOutboundPorts": "9080"}, dns_capture=True)
    assert cfg is not None
    assert cfg.to_args() == [*CONTRACT, "-o", "9080", "--redirect-dns"]
