"""Transparent mode's pure parts and its bookkeeping, with the netlink fake: VIPs, names,
addresses, the command lines that enter a pod, and cleanup from the record."""

from __future__ import annotations

import ipaddress
import json
import subprocess
from pathlib import Path

import pytest

from lateen.api import ConfigObject, ObjectMeta
from lateen.platform.local import PodSpec, ProxyRole
from lateen.platform.local._podexec import parse, setpriv_argv
from lateen.platform.local._transparent import (
    DNS_VIP,
    VIP_RANGE,
    TransparentNetwork,
    cleanup_recorded,
    resolv_conf,
)
from lateen.platform.local._vips import assign_cluster_ips
from lateen.testing.netlink import FakeNetlink


def _svc(name: str, **spec: object) -> ConfigObject:
    return ConfigObject(
        group="", kind="Service", api_version="v1",
        meta=ObjectMeta(name=name, namespace="default"),
        spec={"spec": {"ports": [{"port": 9080}], **spec}},
    )  # fmt: skip


def _ip(o: ConfigObject) -> object:
    return o.spec["spec"].get("clusterIP")


@pytest.mark.parametrize(
    ("objects", "current", "expected"),
    [
        ([_svc("a"), _svc("b")], [], {"a": "198.19.0.11", "b": "198.19.0.12"}),
        ([_svc("a")], [_svc("a", clusterIP="198.19.0.40")], {"a": "198.19.0.40"}),
        ([_svc("a"), _svc("b")], [_svc("x", clusterIP="198.19.0.11")], {"a": "198.19.0.12", "b": "198.19.0.13"}),
        ([_svc("h", clusterIP="None")], [], {"h": "None"}),
        ([_svc("e", type="ExternalName", externalName="example.com")], [], {"e": None}),
        ([_svc("own", clusterIP="198.19.0.11"), _svc("b")], [], {"own": "198.19.0.11", "b": "198.19.0.12"}),
    ],
    ids=["allocated-in-order", "reapply-keeps-vip", "skips-used", "headless", "external-name", "own-vip-kept"],
)
def test_assign_cluster_ips(objects, current, expected):
    out = assign_cluster_ips(objects, {o.key: o for o in current}, VIP_RANGE, reserved=(DNS_VIP,))
    assert {o.name: _ip(o) for o in out} == expected
    for before, after in zip(objects, out, strict=True):
        if not _ip(before) and _ip(after):  # allocated here
            assert after.spec["spec"]["clusterIPs"] == [_ip(after)]
            assert ipaddress.IPv4Address(_ip(after)) in VIP_RANGE


def test_assign_skips_reserved_and_fails_when_exhausted():
    small = ipaddress.IPv4Network("198.19.0.0/28")  # hosts .11 to .14 are allocatable
    out = assign_cluster_ips([_svc("a"), _svc("b")], {}, small, reserved=("198.19.0.11", "198.19.0.13"))
    assert [_ip(o) for o in out] == ["198.19.0.12", "198.19.0.14"]
    with pytest.raises(ValueError, match="exhausted"):
        assign_cluster_ips([_svc(f"s{i}") for i in range(5)], {}, small)


def test_resolv_conf_has_kubernetes_search_path():
    text = resolv_conf("bookinfo")
    assert text.splitlines() == [
        f"nameserver {DNS_VIP}",
        "search bookinfo.svc.cluster.local svc.cluster.local cluster.local",
        "options ndots:5",
    ]


@pytest.mark.parametrize(
    ("args", "opts", "argv"),
    [
        (["--", "sleep", "1"], {}, ["sleep", "1"]),
        (["--netns", "n", "--resolv", "/r", "--", "a"], {"netns": "n", "resolv": "/r"}, ["a"]),
        (["--uid", "1337", "--gid", "1337", "--read-caps", "--", "a", "--x"],
         {"uid": "1337", "gid": "1337", "read-caps": "1"}, ["a", "--x"]),
    ],
    ids=["bare", "netns-resolv", "uid-caps"],
)
def test_podexec_parse(args, opts, argv):
    assert parse(args) == (opts, argv)


@pytest.mark.parametrize("args", [["--bogus", "--", "a"], ["--netns", "n"]], ids=["unknown", "no-command"])
def test_podexec_parse_rejects(args):
    with pytest.raises(SystemExit):
        parse(args)


def test_setpriv_argv_rearms_pdeathsig_and_keeps_read_caps_only_when_asked():
    assert setpriv_argv(1337, 1337, False, "TERM", ["envoy"]) == [
        "setpriv", "--reuid=1337", "--regid=1337", "--clear-groups", "--pdeathsig=TERM", "--", "envoy",
    ]  # fmt: skip
    with_caps = setpriv_argv(1000, 1000, True, "TERM", ["app"])
    assert "--ambient-caps=+dac_read_search" in with_caps and with_caps[-2:] == ["--", "app"]


def _network(tmp_path: Path, nl: FakeNetlink, runs: list[list[str]]) -> TransparentNetwork:
    def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
        runs.append(argv)
        return subprocess.CompletedProcess(argv, 0, "", "")

    return TransparentNetwork(tmp_path, netlink=nl, python="/py", run=run)


async def test_pods_get_namespaces_addresses_and_are_recorded(tmp_path: Path):
    nl, runs = FakeNetlink(used_networks=[]), []
    net = _network(tmp_path, nl, runs)
    await net.start()
    assert nl.bridges == {net.bridge: f"{net.gateway_ip()}/24"}
    assert net.control_plane_address() == net.gateway_ip()
    plain = PodSpec(name="curl-1", namespace="default")
    gw = PodSpec(name="gw-1", namespace="istio-system", proxy=ProxyRole.ROUTER)
    a = await net.setup(plain)
    g = await net.setup(gw)
    netns = f"lateen-{net.id}-default-curl-1"
    assert a.ip == a.app_address == str(net.subnet.network_address + 10)
    assert nl.namespaces[netns].routes == (str(VIP_RANGE),)
    assert nl.namespaces[netns].gateway == net.gateway_ip()
    assert (tmp_path / "pods/default/curl-1/resolv.conf").read_text() == resolv_conf("default")
    # the gateway lives in the host namespace: a /32 on the bridge, admin on loopback
    assert nl.bridge_addresses[net.bridge] == {g.ip}
    assert g.admin_address.startswith("127.")
    record = json.loads((tmp_path / "network.json").read_text())
    assert record["netns"] == [netns] and record["bridge"] == net.bridge
    assert runs == []  # no sidecar: no capture init
    wrapped = net.wrap(plain, ["python3", "app.py"], proxy=False)
    assert wrapped[:4] == ["/py", "-I", "-S", wrapped[3]] and wrapped[3].endswith("_podexec.py")
    assert wrapped[4:] == [
        "--netns", netns, "--resolv", str(tmp_path / "pods/default/curl-1/resolv.conf"),
        "--uid", "1000", "--gid", "1000", "--", "python3", "app.py",
    ]  # fmt: skip
    assert net.wrap(gw, ["agent"], proxy=True)[4:] == ["--uid", "1337", "--gid", "1337", "--", "agent"]
    await net.teardown(plain)
    await net.teardown(gw)
    assert nl.namespaces == {} and nl.bridge_addresses[net.bridge] == set()
    await net.stop()
    assert nl.bridges == {} and not (tmp_path / "network.json").exists()


async def test_subnet_avoids_networks_in_use(tmp_path: Path):
    probe = TransparentNetwork(tmp_path, netlink=FakeNetlink())
    taken = str(probe.subnet)
    net = TransparentNetwork(tmp_path, netlink=FakeNetlink(used_networks=[taken]))
    assert str(net.subnet) != taken and ipaddress.IPv4Network(net.subnet).subnet_of(ipaddress.IPv4Network("198.18.0.0/16"))


def test_cleanup_recorded_removes_what_a_crashed_run_left(tmp_path: Path):
    nl = FakeNetlink()
    nl.bridge_up("ltabcde", "198.18.9.1", 24)
    for n in ("lateen-abcde-default-a", "lateen-abcde-default-b", "lateen-other-default-c", "unrelated"):
        nl.pod_up(n, "x", "ltabcde", "198.18.9.10", 24, "198.18.9.1", [])
    (tmp_path / "network.json").write_text(json.dumps(
        {"id": "abcde", "bridge": "ltabcde", "netns": ["lateen-abcde-default-a"]}))
    removed = cleanup_recorded(tmp_path, nl)
    assert removed == ["netns lateen-abcde-default-a", "netns lateen-abcde-default-b", "bridge ltabcde"]
    assert sorted(nl.namespaces) == ["lateen-other-default-c", "unrelated"]
    assert cleanup_recorded(tmp_path, nl) == []  # nothing recorded any more
