"""``lateen discovery``: the control plane over a watched directory of YAML."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass
from pathlib import Path

from lateen.config import DirectoryStore
from lateen.platform._controlplane import ControlPlane, ControlPlaneOptions

__all__ = ["DiscoveryOptions", "serve"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DiscoveryOptions:
    config_dirs: tuple[Path, ...]
    xds_port: int = 15010
    monitoring_port: int = 15014
    listen_address: str = "127.0.0.1"
    mesh_config: Path | None = None


async def serve(opts: DiscoveryOptions) -> None:
    """Load the directory, serve xDS and monitoring, watch for changes; stop on SIGINT/SIGTERM."""
    store = DirectoryStore(opts.config_dirs)
    store.load()
    n_errors = sum(len(v) for v in store.errors.values())
    log.info(
        "loaded %d object(s) from %s%s",
        len(store.snapshot()),
        ", ".join(str(d) for d in opts.config_dirs),
        f" ({n_errors} error(s) reported above)" if n_errors else "",
    )
    cp = ControlPlane(
        store,
        ControlPlaneOptions(
            xds_port=opts.xds_port,
            monitoring_port=opts.monitoring_port,
            listen_address=opts.listen_address,
            mesh_config=opts.mesh_config,
        ),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)

    async def until_stopped() -> None:
        await stop.wait()
        raise _Stop

    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(cp.run())
            tg.create_task(store.run(stop))
            tg.create_task(until_stopped())
    except* _Stop:
        log.info("stopped")


class _Stop(Exception):
    pass
