"""Pod networking for the local platform, behind one small protocol.

``explicit`` mode (this module): no root, no namespaces. Each pod gets its own loopback
address (``127.B.x.y``) where its sidecar's listeners bind; the app of a pod with a proxy
listens on a twin address (``127.B+1.x.y``, the pod's "localhost"), and reaches other
services through the sidecar as an HTTP proxy (``HTTP_PROXY=http://<pod ip>:15001``).
The ``transparent`` mode (network namespaces + iptables) implements the same protocol.
"""

from __future__ import annotations

import ipaddress
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from lateen.platform.local._spec import PodSpec

__all__ = [
    "HTTP_PROXY_PORT",
    "AddressPool",
    "ExplicitNetwork",
    "PodAddress",
    "PodNetwork",
    "inherited_env",
    "loopback_block",
]

HTTP_PROXY_PORT = 15001


@dataclass(frozen=True, slots=True)
class PodAddress:
    ip: str  # the pod's address: endpoints, the proxy's node id, inbound listeners
    app_address: str  # where the pod's app listens (== ip for pods without a proxy)
    admin_address: str = ""  # where its Envoy admin binds, when not the default


class PodNetwork(Protocol):
    """How pods get addresses and how their processes are started inside them."""

    mode: str  # "explicit" | "transparent"
    interception_mode: str  # Istio's INTERCEPTION_MODE for the pod's proxy: NONE | REDIRECT

    async def start(self) -> None:
        """Before the control plane starts (it listens on ``control_plane_address``)."""
        ...

    async def stop(self) -> None:
        """After every pod stopped: remove what ``start`` created."""
        ...

    async def setup(self, spec: PodSpec) -> PodAddress: ...

    async def teardown(self, spec: PodSpec) -> None: ...

    def app_env(self, address: PodAddress, with_proxy: bool) -> dict[str, str]: ...

    def wrap(self, spec: PodSpec, argv: Sequence[str], *, proxy: bool) -> list[str]:
        """The command line that runs ``argv`` inside the pod (as its proxy or its app)."""
        ...

    def control_plane_address(self) -> str: ...

    def proxy_owner(self) -> int | None:
        """The uid the proxy runs as, when it differs from ours (its files are chowned)."""
        ...


def inherited_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The part of the runtime's environment a pod's processes inherit: everything but the
    ``*_proxy`` variables (a pod reaches the mesh through its own sidecar, never through
    the host's proxy)."""
    return {k: v for k, v in environ.items() if not k.lower().endswith("_proxy")}


def loopback_block(seed: str) -> int:
    """An even second octet in 20..218 chosen from ``seed`` (the state directory), so two
    meshes on one machine rarely share addresses."""
    return 20 + 2 * (zlib.crc32(seed.encode()) % 100)


class AddressPool:
    """Hands out host addresses of ``127.B.0.0/16`` from ``127.B.0.10`` on; a released
    address is reused only after the others (so a restarted pod rarely reuses a
    just-freed address whose sockets linger)."""

    def __init__(self, block: int) -> None:
        self.network = ipaddress.IPv4Network(f"127.{block}.0.0/16")
        self._next = int(self.network.network_address) + 10
        self._free: list[int] = []
        self._used: dict[tuple[str, str], int] = {}

    def allocate(self, key: tuple[str, str]) -> str:
        if key in self._used:
            return str(ipaddress.IPv4Address(self._used[key]))
        if self._next < int(self.network.broadcast_address):
            value = self._next
            self._next += 1
        elif self._free:
            value = self._free.pop(0)
        else:
            raise RuntimeError(f"address pool {self.network} is exhausted")
        self._used[key] = value
        return str(ipaddress.IPv4Address(value))

    def release(self, key: tuple[str, str]) -> None:
        value = self._used.pop(key, None)
        if value is not None:
            self._free.append(value)

    def in_use(self) -> Mapping[tuple[str, str], str]:
        return {k: str(ipaddress.IPv4Address(v)) for k, v in self._used.items()}


class ExplicitNetwork:
    mode = "explicit"
    interception_mode = "NONE"

    def __init__(self, block: int) -> None:
        self.block = block
        self.pool = AddressPool(block)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def setup(self, spec: PodSpec) -> PodAddress:
        ip = self.pool.allocate(spec.key)
        if spec.proxy is None:
            return PodAddress(ip, ip)
        parts = ip.split(".")
        return PodAddress(ip, f"127.{self.block + 1}.{parts[2]}.{parts[3]}")

    async def teardown(self, spec: PodSpec) -> None:
        self.pool.release(spec.key)

    def app_env(self, address: PodAddress, with_proxy: bool) -> dict[str, str]:
        env = {"LISTEN_ADDRESS": address.app_address, "INSTANCE_IP": address.ip}
        if with_proxy:
            proxy = f"http://{address.ip}:{HTTP_PROXY_PORT}"
            no_proxy = f"localhost,127.0.0.1,{address.ip},{address.app_address}"
            env.update(HTTP_PROXY=proxy, http_proxy=proxy, NO_PROXY=no_proxy, no_proxy=no_proxy)
        return env

    def wrap(self, spec: PodSpec, argv: Sequence[str], *, proxy: bool) -> list[str]:
        return list(argv)

    def control_plane_address(self) -> str:
        return f"127.{self.block}.0.1"

    def proxy_owner(self) -> int | None:
        return None
