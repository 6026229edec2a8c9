"""``lateen discovery``: the control plane (our istiod) serving xDS from a config directory."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "discovery",
        help="run the control plane: xDS (ADS) from a directory of Istio/Kubernetes YAML",
        description="Serve Envoy config over ADS (SotW and Delta) from the Istio and Kubernetes "
        "objects under --config-dir; changes to the files are picked up live.",
    )
    p.add_argument("--config-dir", required=True, type=Path, metavar="DIR", action="append",
                   help="directory (or file) of Istio config and Kubernetes Service/Endpoints "
                   "YAML; repeatable")
    p.add_argument("--xds-port", type=int, default=15010, help="plaintext xDS port (default 15010)")
    p.add_argument("--monitoring-port", type=int, default=15014,
                   help="port for /metrics and /debug/* (default 15014)")
    p.add_argument("--listen-address", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--mesh-config", type=Path, metavar="FILE",
                   help="MeshConfig YAML (default: ConfigMap istio-system/istio in --config-dir, if any)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    ca = p.add_argument_group("CA (IstioCertificateService over TLS; off unless --ca-dir is given)")
    ca.add_argument("--ca-dir", type=Path, metavar="DIR",
                    help="the CA in Istio's cacerts layout (ca-cert.pem, ca-key.pem, cert-chain.pem, "
                    "root-cert.pem); a self-signed root is generated there if it holds none")
    ca.add_argument("--ca-port", type=int, default=15012, help="CA port (default 15012)")
    ca.add_argument("--ca-tokens", type=Path, metavar="FILE",
                    help="per-pod token file (written by the runtime) that authenticates callers")
    ca.add_argument("--ca-key-type", choices=["rsa", "ecdsa"], default="rsa",
                    help="key of a generated root (default rsa: RSA 2048, as Istio)")
    return p


def run(args: argparse.Namespace) -> int:
    from lateen.platform.discovery import DiscoveryOptions, serve

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for d in args.config_dir:
        if not d.exists():
            print(f"lateen discovery: --config-dir {d}: no such file or directory")
            return 2
    opts = DiscoveryOptions(
        config_dirs=tuple(args.config_dir),
        xds_port=args.xds_port,
        monitoring_port=args.monitoring_port,
        listen_address=args.listen_address,
        mesh_config=args.mesh_config,
        ca_dir=args.ca_dir,
        ca_port=args.ca_port,
        ca_tokens=args.ca_tokens,
        ca_key_type=args.ca_key_type,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(opts))
    return 0
