"""End-to-end: ``lateen iptables`` in a real network namespace (root, iptables, iproute2).

A "pod" namespace is joined by a veth pair to a "peer" namespace. With Istio's default sidecar
capture applied in the pod: an app's (uid 0) connection to the peer lands on the pod's
listener on 15001 (with the dialed address as SO_ORIGINAL_DST) while the proxy's (uid 1337)
reaches the peer; the peer's connection to the pod lands on 15006 except for the excluded
status port 15021. Applying twice changes nothing; ``lateen iptables clean`` leaves nothing of
ours and traffic flows directly again. ``--run-validation`` fails before and passes after.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import lateen
from lateen.capture import detect_tools
from lateen.testing.procs import Processes, wait_for

pytestmark = pytest.mark.e2e

POD_IP = "198.18.250.1"
PEER_IP = "198.18.250.99"
CONTRACT = ["-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*", "-x", "",
            "-b", "*", "-d", "15090,15021,15020"]
LISTENER = str(Path(__file__).parent / "_listener.py")
SRC = str(Path(lateen.__file__).resolve().parents[1])


def sh(*argv: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=60, input=input)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} -> {proc.returncode}\n{proc.stdout}{proc.stderr}")
    return proc


@dataclass
class Net:
    pod: str
    peer: str

    def lateen(self, *args: str, env: tuple[str, ...] = (),
               check: bool = True) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", self.pod, "env", f"PYTHONPATH={SRC}", *env,
                  sys.executable, "-m", "lateen", "iptables", *args, check=check)

    def saved(self) -> str:
        out = sh("ip", "netns", "exec", self.pod, detect_tools()["ipv4"].save).stdout
        return "\n".join(line for line in out.splitlines() if not line.startswith("#"))

    def dial(self, ns: str, host: str, port: int, uid: int | None = None) -> str:
        """Connect from ``ns`` (as ``uid``) with bash's /dev/tcp and return the reply line."""
        run_as = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"] if uid else []
        proc = sh("ip", "netns", "exec", ns, *run_as, "timeout", "5", "/usr/bin/bash", "-c",
                  f"exec 3<>/dev/tcp/{host}/{port} && cat <&3", check=False)
        return proc.stdout.strip() or f"<no reply: rc={proc.returncode} {proc.stderr.strip()}>"


@pytest.fixture
def netns() -> Iterator[Net]:
    """The pod and peer namespaces, joined by a veth pair; removed afterwards."""
    tag = secrets.token_hex(3)
    net = Net(f"lateen-capt-{tag}", f"lateen-capt-{tag}-peer")
    created: list[str] = []
    try:
        for ns in (net.pod, net.peer):
            sh("ip", "netns", "add", ns)
            created.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", f"lcp{tag}", "netns", net.pod, "type", "veth",
           "peer", "name", f"lcq{tag}", "netns", net.peer)
        for ns, dev, ip in ((net.pod, f"lcp{tag}", POD_IP), (net.peer, f"lcq{tag}", PEER_IP)):
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
        yield net
    finally:
        for ns in created:
            sh("ip", "netns", "del", ns, check=False)


@pytest.fixture
def net(netns: Net, tmp_path: Path) -> Iterator[Net]:
    """``netns`` with listeners: the pod's "Envoy" on 15001 and 15006, its status port 15021,
    the peer's service on 8080."""
    with Processes(tmp_path) as procs:
        for name, ns, specs in (
            ("pod", netns.pod, ["outbound=127.0.0.1:15001", "inbound=0.0.0.0:15006",
                                "status=0.0.0.0:15021"]),
            ("peer", netns.peer, ["peer=0.0.0.0:8080"]),
        ):
            procs.start(name, ["ip", "netns", "exec", ns, sys.executable, LISTENER, *specs])
            wait_for(lambda name=name: "ready" in procs.log(name), what=f"{name} listeners")
        yield netns


def test_capture_in_a_network_namespace(net: Net) -> None:
    # before: nothing is captured
    assert net.dial(net.pod, PEER_IP, 8080) == f"peer {PEER_IP}:8080"

    out = net.lateen(*CONTRACT)
    assert "rules applied (IPv4)" in out.stdout
    saved = net.saved()
    for line in (
        "-A PREROUTING -p tcp -j ISTIO_INBOUND",
        "-A OUTPUT -j ISTIO_OUTPUT",
        "-A ISTIO_INBOUND -p tcp -m tcp --dport 15021 -j RETURN",
        "-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT",
        "-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006",
        "-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN",
        "-A ISTIO_OUTPUT -j ISTIO_REDIRECT",
        "-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001",
    ):
        assert line in saved.splitlines(), f"{line!r} not in:\n{saved}"

    # outbound: the app is captured to 15001, the proxy (uid 1337) is not
    assert net.dial(net.pod, PEER_IP, 8080) == f"outbound {PEER_IP}:8080"
    assert net.dial(net.pod, PEER_IP, 8080, uid=1337) == f"peer {PEER_IP}:8080"
    # inbound: captured to 15006, except the excluded status port
    assert net.dial(net.peer, POD_IP, 9080) == f"inbound {POD_IP}:9080"
    assert net.dial(net.peer, POD_IP, 15021).startswith("status ")

    # applying again replaces our rules: same state, nothing doubled
    net.lateen(*CONTRACT)
    assert net.saved() == saved

    # a different config replaces the old one atomically: inbound capture off
    net.lateen(*CONTRACT[:-4])  # no -b/-d: outbound capture only
    assert "ISTIO_IN_REDIRECT" not in "\n".join(
        line for line in net.saved().splitlines() if line.startswith("-A PREROUTING"))
    assert net.dial(net.peer, POD_IP, 15021).startswith("status ")
    assert net.dial(net.peer, POD_IP, 9080).startswith("<no reply")  # nothing listens on 9080

    out = net.lateen("clean")
    assert "removed the capture rules" in out.stdout
    assert "ISTIO" not in net.saved()
    assert net.dial(net.pod, PEER_IP, 8080) == f"peer {PEER_IP}:8080"
    # cleaning again is fine
    assert "(0 table(s) changed)" in net.lateen("clean").stdout


def test_failed_apply_changes_nothing(net: Net) -> None:
    net.lateen(*CONTRACT)
    before = net.saved()
    # iptables rejects a rule in the middle of the input (an unknown group name): the whole
    # restore is refused, the error names the line, the previous rules stay as they were
    proc = net.lateen(*CONTRACT, env=("ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE=lateen-no-such-group",),
                      check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "'-A ISTIO_OUTPUT -m owner --gid-owner lateen-no-such-group -j RETURN'" in proc.stderr
    assert net.saved() == before
    assert net.dial(net.pod, PEER_IP, 8080) == f"outbound {PEER_IP}:8080"
    net.lateen("clean")
    assert "ISTIO" not in net.saved()


def test_run_validation(netns: Net) -> None:
    # Istio's check: a connection from uid 1337 to 127.0.0.6:15002 must be captured. Without
    # rules it is not: exit 126, as istio-iptables
    probe = netns.lateen("--skip-rule-apply", "--run-validation", "--probe-timeout", "1s",
                         check=False)
    assert probe.returncode == 126 and "validation failed" in probe.stderr, probe.stderr
    out = netns.lateen(*CONTRACT, "--run-validation")
    assert "validation passed" in out.stdout
