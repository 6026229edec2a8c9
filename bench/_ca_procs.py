"""Processes of the ``ca`` bench: ``python -m bench._ca_procs server|client ...``.

* ``server``: a CA (self-signed root of ``--key-type``, generated in ``--dir``) serving
  ``IstioCertificateService`` over TLS on ``--address`` with ``--workers`` signing threads,
  authenticating callers with the tokens of ``--tokens``; runs until SIGTERM.
* ``client``: makes ``--csrs`` keys and CSRs, prints ``ready``, reads ``START END`` (POSIX
  times) from stdin, then keeps ``--concurrency`` requests in flight over one TLS channel until
  END; counts the responses completed in [START, END) and prints one JSON line:
  ``{"ok", "errors", "first_error", "latencies_ms"}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path


def _server(args: argparse.Namespace) -> None:
    from lateen.security import (
        CaDirectory,
        CaServer,
        CaServerOptions,
        CertificateAuthority,
        SystemClock,
        TokenAuthenticator,
    )

    clock = SystemClock()
    signer, rotation = CaDirectory(Path(args.dir)).load_or_create(
        org="cluster.local", clock=clock, key_type=args.key_type
    )
    ca = CertificateAuthority(signer, clock=clock, rotation=rotation)
    server = CaServer(
        ca,
        TokenAuthenticator(Path(args.tokens)),
        CaServerOptions(address=args.address, sign_workers=args.workers),
    )
    asyncio.run(server.run())


async def _client(args: argparse.Namespace) -> dict[str, object]:
    from lateen.security import CaClient, CertificateRequestError, new_key_and_csr

    csrs = [new_key_and_csr(args.key_type)[1] for _ in range(args.csrs)]
    root = Path(args.root).read_text()
    print("ready", flush=True)
    start, end = (float(x) for x in sys.stdin.readline().split())
    ok = 0
    errors = 0
    first_error = ""
    latencies: list[float] = []

    async def worker(i: int) -> None:
        nonlocal ok, errors, first_error
        n = i
        while time.time() < end:
            t0 = time.perf_counter()
            try:
                await client.create_certificate(csrs[n % len(csrs)], args.token, timeout=30)
                done = time.time()
                if start <= done < end:
                    ok += 1
                    latencies.append((time.perf_counter() - t0) * 1000)
            except CertificateRequestError as e:
                errors += 1
                first_error = first_error or str(e)
                await asyncio.sleep(0.05)
            n += args.concurrency

    async with CaClient(args.address, root) as client:
        await asyncio.gather(*(worker(i) for i in range(args.concurrency)))
    return {"ok": ok, "errors": errors, "first_error": first_error,
            "latencies_ms": [round(x, 3) for x in latencies]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench._ca_procs")
    sub = p.add_subparsers(dest="role", required=True)
    s = sub.add_parser("server")
    s.add_argument("--dir", required=True)
    s.add_argument("--key-type", choices=["rsa", "ecdsa"], required=True)
    s.add_argument("--address", required=True)
    s.add_argument("--tokens", required=True)
    s.add_argument("--workers", type=int, default=0)
    c = sub.add_parser("client")
    c.add_argument("--address", required=True)
    c.add_argument("--root", required=True)
    c.add_argument("--token", required=True)
    c.add_argument("--key-type", choices=["rsa", "ecdsa"], required=True)
    c.add_argument("--concurrency", type=int, default=32)
    c.add_argument("--csrs", type=int, default=16)
    args = p.parse_args(argv)
    if args.role == "server":
        _server(args)
        return 0
    print(json.dumps(asyncio.run(_client(args))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
