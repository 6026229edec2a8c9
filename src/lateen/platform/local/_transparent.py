"""``transparent`` mode: every pod is a network namespace, as on a Kubernetes node.

- A bridge ``lt<id>`` holds ``198.18.S.1/24`` (S is chosen per mesh, free on this host);
  each pod gets a namespace ``lateen-<id>-<ns>-<pod>`` whose ``eth0`` (a veth peer on the
  bridge) holds ``198.18.S.n/24``. Pods reach the control plane at the bridge address and
  Service VIPs (``198.19.0.0/16``) via the bridge; nothing is routed off the machine (no
  default route, and the host's own network configuration is not touched).
- Before a sidecar pod's containers start, its init step runs ``lateen iptables`` inside
  the namespace, with Istio's flags from the pod's annotations: inbound to 15006, outbound
  to 15001, DNS to the agent on 15053, uid/gid 1337 exempt.
- The agent and Envoy run as uid/gid 1337, the app as ``APP_UID`` (1000), each entered into
  the namespace with the pod's ``resolv.conf`` (Kubernetes' search path) by ``_podexec``.
- Gateways stay in the host namespace with a /32 on the bridge, so they publish on
  127.0.0.1 as in explicit mode and pods can reach them.
- Everything created is recorded in ``<state>/network.json`` first, so ``lateen down
  --force`` (or the next ``lateen up``) cleans up after a crash.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import shutil
import subprocess
import sys
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lateen.platform.local._netlink import Netlink, PyrouteNetlink
from lateen.platform.local._network import AddressPool, PodAddress, loopback_block
from lateen.platform.local._spec import PodSpec, ProxyRole

__all__ = [
    "APP_UID",
    "DNS_VIP",
    "POD_RANGE",
    "PROXY_UID",
    "VIP_RANGE",
    "TransparentNetwork",
    "cleanup_recorded",
    "mesh_id",
    "resolv_conf",
    "transparent_available",
]

log = logging.getLogger(__name__)

PROXY_UID = 1337
APP_UID = 1000
POD_RANGE = ipaddress.IPv4Network("198.18.0.0/16")
VIP_RANGE = ipaddress.IPv4Network("198.19.0.0/16")
DNS_VIP = "198.19.0.10"  # the pods' nameserver (the cluster DNS VIP); the agent answers
RECORD = "network.json"
PODEXEC = Path(__file__).with_name("_podexec.py")


def mesh_id(state_root: str) -> str:
    return f"{zlib.crc32(state_root.encode()) & 0xFFFFF:05x}"


def resolv_conf(namespace: str, domain: str = "cluster.local") -> str:
    """A pod's resolv.conf, as the kubelet writes it for ``dnsPolicy: ClusterFirst``."""
    search = f"{namespace}.svc.{domain} svc.{domain} {domain}"
    return f"nameserver {DNS_VIP}\nsearch {search}\noptions ndots:5\n"


def transparent_available() -> str:
    """Why transparent mode cannot run here ("" when it can): root, iptables, setpriv."""
    if os.geteuid() != 0:
        return "needs root"
    for tool in ("iptables-restore", "setpriv"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    return ""


def _read_record(root: Path) -> dict[str, Any]:
    try:
        data = json.loads((root / RECORD).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def cleanup_recorded(root: Path, netlink: Netlink | None = None) -> list[str]:
    """Remove every namespace, link and bridge address a (possibly crashed) run of the mesh
    in ``root`` recorded, plus any namespace carrying its prefix. Returns what was removed."""
    record = _read_record(root)
    if not record:
        return []
    nl = netlink or PyrouteNetlink()
    removed: list[str] = []
    prefix = f"lateen-{record.get('id', '')}-"
    existing = set(nl.netns_list())
    names = set(record.get("netns") or []) | {n for n in existing if record.get("id") and n.startswith(prefix)}
    for name in sorted(names & existing):
        nl.netns_delete(name)
        removed.append(f"netns {name}")
    bridge = str(record.get("bridge") or "")
    if bridge:
        nl.link_delete(bridge)
        removed.append(f"bridge {bridge}")
    (root / RECORD).unlink(missing_ok=True)
    return removed


def _accessible(uid: int, paths: Sequence[str]) -> bool:
    """Whether ``uid`` can read every path (e.g. Python under a root-only home directory)."""
    for p in paths:
        r = subprocess.run(
            ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--", "test", "-r", p],
            capture_output=True,
        )
        if r.returncode != 0:
            return False
    return True


class TransparentNetwork:
    mode = "transparent"
    interception_mode = "REDIRECT"

    def __init__(
        self,
        state_root: Path,
        *,
        netlink: Netlink | None = None,
        python: str = sys.executable,
        read_paths: Sequence[str] = (),
        run: Callable[[list[str]], subprocess.CompletedProcess[str]] | None = None,
        loopback: AddressPool | None = None,
    ) -> None:
        self.root = state_root
        self.id = mesh_id(str(state_root))
        self.bridge = f"lt{self.id}"
        self.netlink: Netlink = netlink or PyrouteNetlink()
        self.python = python
        self.read_paths = tuple(read_paths)
        self.read_caps = False
        self._run = run or (lambda argv: subprocess.run(argv, capture_output=True, text=True))
        self._subnet: ipaddress.IPv4Network | None = None
        self._next_host = 10
        self._free: list[int] = []
        self._pods: dict[tuple[str, str], dict[str, Any]] = {}
        self._seq = 0
        self._lock = asyncio.Lock()
        self.loopback = loopback or AddressPool(loopback_block(str(state_root)))

    # -- record --------------------------------------------------------------------------------

    def _write_record(self) -> None:
        record = {
            "id": self.id,
            "bridge": self.bridge,
            "subnet": str(self.subnet),
            "netns": sorted(p["netns"] for p in self._pods.values() if p.get("netns")),
        }
        tmp = self.root / f".{RECORD}.tmp"
        tmp.write_text(json.dumps(record, indent=1))
        os.replace(tmp, self.root / RECORD)

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def subnet(self) -> ipaddress.IPv4Network:
        """This mesh's /24 of 198.18.0.0/16: the first one (from a hash of the state
        directory) with no address or route on this host. Chosen on first use (a read-only
        query), so the control plane's address is known before ``start``."""
        if self._subnet is None:
            self._subnet = self._pick_subnet()
        return self._subnet

    def gateway_ip(self) -> str:
        return str(self.subnet.network_address + 1)

    def _pick_subnet(self) -> ipaddress.IPv4Network:
        first = zlib.crc32(self.id.encode()) % 250 + 1
        for i in range(250):
            net = ipaddress.IPv4Network(f"198.18.{(first + i - 1) % 250 + 1}.0/24")
            if not self.netlink.network_in_use(str(net)):
                return net
        raise RuntimeError("no free /24 in 198.18.0.0/16 for the pod network")

    async def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(cleanup_recorded, self.root, self.netlink)
        self._write_record()
        await asyncio.to_thread(self.netlink.bridge_up, self.bridge, self.gateway_ip(), self.subnet.prefixlen)
        if self.read_paths:
            self.read_caps = not await asyncio.to_thread(_accessible, PROXY_UID, self.read_paths)
            if self.read_caps:
                log.info("uid %d cannot read the install; processes keep CAP_DAC_READ_SEARCH", PROXY_UID)
        log.info("pod network %s on bridge %s", self.subnet, self.bridge)

    async def stop(self) -> None:
        await asyncio.to_thread(cleanup_recorded, self.root, self.netlink)
        self._pods.clear()

    def control_plane_address(self) -> str:
        return self.gateway_ip()

    # -- pods ----------------------------------------------------------------------------------

    def _allocate(self) -> str:
        if self._next_host < self.subnet.num_addresses - 1:
            host = self._next_host
            self._next_host += 1
        elif self._free:
            host = self._free.pop(0)
        else:
            raise RuntimeError(f"pod network {self.subnet} is exhausted")
        return str(self.subnet.network_address + host)

    def _netns_name(self, spec: PodSpec) -> str:
        return f"lateen-{self.id}-{spec.namespace}-{spec.name}"

    def pod_dir(self, spec: PodSpec) -> Path:
        return self.root / "pods" / spec.namespace / spec.name

    async def setup(self, spec: PodSpec) -> PodAddress:
        async with self._lock:
            ip = self._allocate()
            entry: dict[str, Any] = {"ip": ip}
            self._pods[spec.key] = entry
            if spec.proxy is ProxyRole.ROUTER:
                entry["bridge_ip"] = ip
                await asyncio.to_thread(self.netlink.bridge_address, self.bridge, ip, True)
                # its admin on a loopback address of its own, out of the pods' reach
                return PodAddress(ip, ip, self.loopback.allocate(spec.key))
            self._seq += 1
            entry["netns"] = self._netns_name(spec)
            self._write_record()
            host_if = f"{self.bridge}v{self._seq:x}"[:15]
            await asyncio.to_thread(
                self.netlink.pod_up,
                entry["netns"],
                host_if,
                self.bridge,
                ip,
                self.subnet.prefixlen,
                self.gateway_ip(),
                [str(VIP_RANGE)],
            )
        pod_dir = self.pod_dir(spec)
        pod_dir.mkdir(parents=True, exist_ok=True)
        (pod_dir / "resolv.conf").write_text(resolv_conf(spec.namespace))
        if spec.proxy is ProxyRole.SIDECAR:
            await self._capture(spec, entry["netns"])
        return PodAddress(ip, ip)

    def capture_args(self, annotations: Mapping[str, str]) -> list[str]:
        """``lateen iptables`` flags for a pod: the injector's defaults, adjusted by the pod's
        ``traffic.sidecar.istio.io/*`` annotations, with DNS capture."""
        from lateen.capture import config_from_annotations

        cfg = config_from_annotations(annotations, dns_capture=True)
        return cfg.to_args() if cfg is not None else []

    async def _capture(self, spec: PodSpec, netns: str) -> None:
        args = self.capture_args(spec.annotations)
        if not args:  # sidecar.istio.io/interceptionMode: NONE
            return
        resolv = str(self.pod_dir(spec) / "resolv.conf")
        argv = [
            self.python, "-I", "-S", str(PODEXEC), "--netns", netns, "--resolv", resolv, "--",
            self.python, "-m", "lateen", "iptables", *args,
        ]  # fmt: skip
        result = await asyncio.to_thread(self._run, argv)
        log_path = self.pod_dir(spec) / "istio-init.log"
        log_path.write_text((result.stdout or "") + (result.stderr or ""))
        if result.returncode != 0:
            raise RuntimeError(f"istio-init failed ({result.returncode}); see {log_path}")

    async def teardown(self, spec: PodSpec) -> None:
        async with self._lock:
            entry = self._pods.pop(spec.key, None)
            if entry is None:
                return
            if entry.get("netns"):
                await asyncio.to_thread(self.netlink.netns_delete, entry["netns"])
                self._write_record()
            if entry.get("bridge_ip"):
                await asyncio.to_thread(self.netlink.bridge_address, self.bridge, entry["bridge_ip"], False)
                self.loopback.release(spec.key)
            host = int(ipaddress.IPv4Address(entry["ip"])) - int(self.subnet.network_address)
            self._free.append(host)

    def app_env(self, address: PodAddress, with_proxy: bool) -> dict[str, str]:
        return {"LISTEN_ADDRESS": "0.0.0.0", "INSTANCE_IP": address.ip}

    def wrap(self, spec: PodSpec, argv: Sequence[str], *, proxy: bool) -> list[str]:
        """``argv`` entered into the pod: its namespace and resolv.conf (not for gateways,
        which live in the host namespace), as uid 1337 for the proxy or the app uid."""
        uid = PROXY_UID if proxy else APP_UID
        out = [self.python, "-I", "-S", str(PODEXEC)]
        if spec.proxy is not ProxyRole.ROUTER:
            out += ["--netns", self._netns_name(spec), "--resolv", str(self.pod_dir(spec) / "resolv.conf")]
        out += ["--uid", str(uid), "--gid", str(uid)]
        if self.read_caps:
            out.append("--read-caps")
        return [*out, "--", *argv]

    def proxy_owner(self) -> int | None:
        """The uid that must own the proxy's files (its work dir and log)."""
        return PROXY_UID
