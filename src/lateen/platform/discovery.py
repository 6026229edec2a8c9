"""``lateen discovery``: the control plane over a watched directory of YAML."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lateen.config import DirectoryStore
from lateen.platform._controlplane import ControlPlane, ControlPlaneOptions
from lateen.server._server import StreamAuthenticator

if TYPE_CHECKING:
    from lateen.security import CaServer, KeyType, RootRotator

__all__ = ["DiscoveryOptions", "serve"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DiscoveryOptions:
    config_dirs: tuple[Path, ...]
    xds_port: int = 15010
    monitoring_port: int = 15014
    listen_address: str = "127.0.0.1"
    mesh_config: Path | None = None
    ca_dir: Path | None = None  # run the CA (port ca_port) when set
    ca_port: int = 15012
    ca_tokens: Path | None = None
    ca_key_type: KeyType = "rsa"


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
        authenticate=_stream_authenticator(opts.ca_tokens),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)

    async def until_stopped() -> None:
        await stop.wait()
        raise _Stop

    ca = _ca(opts, opts.ca_dir, cp) if opts.ca_dir is not None else None
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(cp.run())
            tg.create_task(store.run(stop))
            tg.create_task(until_stopped())
            if ca is not None:
                tg.create_task(ca[0].run())
                tg.create_task(ca[1].run())
    except* _Stop:
        log.info("stopped")


def _stream_authenticator(tokens: Path | None) -> StreamAuthenticator | None:
    """xDS streams authenticate with the pods' CA tokens (``authorization: Bearer``, which the
    agent puts in the bootstrap's ADS ``initial_metadata``); a proxy so verified may read its
    namespace's credentials over SDS. Without a token file no proxy is verified."""
    if tokens is None:
        return None
    from lateen.model import VerifiedIdentity
    from lateen.security import AuthenticationError, TokenAuthenticator

    auth = TokenAuthenticator(tokens)

    def authenticate(metadata: Sequence[tuple[str, Any]], peer: str) -> VerifiedIdentity | None:
        try:
            ident = auth.authenticate(metadata, peer)
        except AuthenticationError as e:
            log.debug("xDS stream from %s not authenticated: %s", peer, e)
            return None
        return VerifiedIdentity(ident.namespace, ident.service_account)

    return authenticate


def _ca(opts: DiscoveryOptions, ca_dir: Path, cp: ControlPlane) -> tuple[CaServer, RootRotator]:
    """The CA from ``ca_dir`` (generated if empty), its TLS server and its root rotator."""
    from lateen.security import (
        CaDirectory,
        CaServer,
        CaServerOptions,
        CertificateAuthority,
        RootRotator,
        SystemClock,
        TokenAuthenticator,
    )

    trust_domain = cp.mesh(cp.store.snapshot().values()).trust_domain
    directory = CaDirectory(ca_dir)
    clock = SystemClock()
    try:
        signer, rotation = directory.load_or_create(
            org=trust_domain, clock=clock, key_type=opts.ca_key_type
        )
        ca = CertificateAuthority(signer, trust_domain=trust_domain, clock=clock, rotation=rotation)
    except (OSError, ValueError) as e:
        raise SystemExit(f"lateen discovery: --ca-dir {ca_dir}: {e}") from None
    server = CaServer(
        ca,
        TokenAuthenticator(opts.ca_tokens),  # no token file: every caller is refused
        CaServerOptions(address=f"{opts.listen_address}:{opts.ca_port}"),
        registry=cp.metrics,
    )
    return server, RootRotator(ca, directory=directory)


class _Stop(Exception):
    pass
