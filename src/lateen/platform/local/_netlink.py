"""Netlink side effects of transparent mode, behind a small protocol (pyroute2 for real).

Everything here is named by the caller and recorded by it, so that a crashed run can be
cleaned up from its record alone."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from typing import Protocol

__all__ = ["Netlink", "PyrouteNetlink"]


class Netlink(Protocol):
    def bridge_up(self, name: str, address: str, prefixlen: int) -> None:
        """Create (or reuse) bridge ``name`` with ``address/prefixlen``, up."""
        ...

    def bridge_address(self, bridge: str, address: str, add: bool) -> None:
        """Add (or remove) a /32 host address on the bridge (a pod in the host namespace)."""
        ...

    def pod_up(
        self,
        netns: str,
        host_if: str,
        bridge: str,
        address: str,
        prefixlen: int,
        gateway: str,
        routes: Sequence[str],
    ) -> None:
        """Create netns ``netns`` with ``lo`` up and ``eth0`` (the peer of ``host_if``, which
        joins ``bridge``) holding ``address``; ``routes`` go via ``gateway``."""
        ...

    def netns_delete(self, name: str) -> None:
        """Delete the namespace (its veth pair goes with it); fine when absent."""
        ...

    def link_delete(self, name: str) -> None:
        """Delete a link; fine when absent."""
        ...

    def netns_list(self) -> list[str]: ...

    def network_in_use(self, network: str) -> bool:
        """Whether any host address or route falls in ``network``."""
        ...


_FORKS_QUIETED = False


def _quiet_forks() -> None:
    """pyroute2 forks helper processes (to create a namespace, to open a socket inside one)
    and stops them with SIGTERM. A forked child inherits asyncio's signal wakeup fd, so its
    SIGTERM would reach our event loop as if we had been told to stop. In every forked child:
    no wakeup fd, and SIGTERM/SIGINT back to their defaults."""
    global _FORKS_QUIETED
    if _FORKS_QUIETED:
        return
    import signal

    from pyroute2 import config

    def child() -> None:
        try:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
        except ValueError:  # not the main thread: nothing of asyncio's to undo
            pass

    config.disable_mp_signal = True
    os.register_at_fork(after_in_child=child)
    _FORKS_QUIETED = True


class PyrouteNetlink:
    """The real thing, with pyroute2 (imported on first use)."""

    def __init__(self) -> None:
        _quiet_forks()

    def bridge_up(self, name: str, address: str, prefixlen: int) -> None:
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            found = ipr.link_lookup(ifname=name)
            if not found:
                ipr.link("add", ifname=name, kind="bridge")
                found = ipr.link_lookup(ifname=name)
            idx = found[0]
            have = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=idx)}
            if address not in have:
                ipr.addr("add", index=idx, address=address, prefixlen=prefixlen)
            ipr.link("set", index=idx, state="up")

    def bridge_address(self, bridge: str, address: str, add: bool) -> None:
        from pyroute2 import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError

        with IPRoute() as ipr:
            found = ipr.link_lookup(ifname=bridge)
            if not found:
                return
            try:
                ipr.addr("add" if add else "del", index=found[0], address=address, prefixlen=32)
            except NetlinkError as e:
                if not (e.code == 17 and add) and not (e.code == 99 and not add):  # EEXIST / EADDRNOTAVAIL
                    raise

    def pod_up(
        self,
        netns: str,
        host_if: str,
        bridge: str,
        address: str,
        prefixlen: int,
        gateway: str,
        routes: Sequence[str],
    ) -> None:
        from pyroute2 import IPRoute, NetNS
        from pyroute2 import netns as pnetns

        self.netns_delete(netns)
        self.link_delete(host_if)
        pnetns.create(netns)
        peer = f"{host_if}c"[-15:]
        with IPRoute() as ipr:
            ipr.link("add", ifname=host_if, kind="veth", peer={"ifname": peer, "net_ns_fd": netns})
            host_idx = ipr.link_lookup(ifname=host_if)[0]
            bridge_idx = ipr.link_lookup(ifname=bridge)[0]
            ipr.link("set", index=host_idx, master=bridge_idx, state="up")
        with NetNS(netns) as ns:
            lo = ns.link_lookup(ifname="lo")[0]
            ns.link("set", index=lo, state="up")
            idx = ns.link_lookup(ifname=peer)[0]
            ns.link("set", index=idx, ifname="eth0")
            ns.addr("add", index=idx, address=address, prefixlen=prefixlen)
            ns.link("set", index=idx, state="up")
            for dst in routes:
                ns.route("add", dst=dst, gateway=gateway)

    def netns_delete(self, name: str) -> None:
        from pyroute2 import netns as pnetns

        if name in pnetns.listnetns():
            pnetns.remove(name)

    def link_delete(self, name: str) -> None:
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            for idx in ipr.link_lookup(ifname=name):
                ipr.link("del", index=idx)

    def netns_list(self) -> list[str]:
        from pyroute2 import netns as pnetns

        return list(pnetns.listnetns())

    def network_in_use(self, network: str) -> bool:
        from pyroute2 import IPRoute

        net = ipaddress.IPv4Network(network)
        with IPRoute() as ipr:
            for a in ipr.get_addr(family=2):
                addr = a.get_attr("IFA_ADDRESS")
                if addr and ipaddress.IPv4Address(addr) in net:
                    return True
            for r in ipr.get_routes(family=2):
                dst = r.get_attr("RTA_DST")
                if dst and ipaddress.IPv4Network(f"{dst}/{r['dst_len']}").overlaps(net):
                    return True
        return False
