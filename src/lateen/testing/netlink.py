"""A fake of lateen.platform.local's Netlink: records bridges, addresses and namespaces."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["FakeNetlink", "FakePod"]


@dataclass
class FakePod:
    host_if: str
    bridge: str
    address: str
    prefixlen: int
    gateway: str
    routes: tuple[str, ...]


@dataclass
class FakeNetlink:
    bridges: dict[str, str] = field(default_factory=dict)  # name -> address/prefixlen
    bridge_addresses: dict[str, set[str]] = field(default_factory=dict)
    namespaces: dict[str, FakePod] = field(default_factory=dict)
    used_networks: list[str] = field(default_factory=list)  # host addresses/routes "in use"
    calls: list[str] = field(default_factory=list)

    def bridge_up(self, name: str, address: str, prefixlen: int) -> None:
        self.calls.append(f"bridge_up {name} {address}/{prefixlen}")
        self.bridges[name] = f"{address}/{prefixlen}"

    def bridge_address(self, bridge: str, address: str, add: bool) -> None:
        self.calls.append(f"bridge_address {bridge} {address} {'add' if add else 'del'}")
        addrs = self.bridge_addresses.setdefault(bridge, set())
        if add:
            addrs.add(address)
        else:
            addrs.discard(address)

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
        self.calls.append(f"pod_up {netns} {address}")
        self.namespaces[netns] = FakePod(host_if, bridge, address, prefixlen, gateway, tuple(routes))

    def netns_delete(self, name: str) -> None:
        self.calls.append(f"netns_delete {name}")
        self.namespaces.pop(name, None)

    def link_delete(self, name: str) -> None:
        self.calls.append(f"link_delete {name}")
        self.bridges.pop(name, None)
        self.bridge_addresses.pop(name, None)

    def netns_list(self) -> list[str]:
        return sorted(self.namespaces)

    def network_in_use(self, network: str) -> bool:
        net = ipaddress.IPv4Network(network)
        in_use = [ipaddress.IPv4Network(n, strict=False) for n in self.used_networks]
        in_use += [ipaddress.IPv4Network(a, strict=False) for a in self.bridges.values()]
        return any(n.overlaps(net) for n in in_use)
