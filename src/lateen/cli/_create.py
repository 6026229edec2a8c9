"""``lateen create secret tls|generic NAME -n NS ...``: kubectl's ``create secret`` for the
running local mesh, checked first (PEM that parses, a key that matches its certificate), with
errors naming the file and the flag. The key material goes to the mesh, never to the output."""

from __future__ import annotations

import argparse
import base64
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lateen.cli._common import add_state_dir

__all__ = ["SecretSpec", "add_parser", "build_secret", "run"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "create",
        help="create an object in the running mesh (secret tls|generic, as kubectl)",
        description="Create a Kubernetes Secret holding a TLS credential (Istio's credentialName): "
        "lateen create secret tls NAME -n NS --cert FILE --key FILE [--cacert FILE], or "
        "lateen create secret generic NAME -n NS (--cert FILE --key FILE [--cacert FILE] | "
        "--from-file=[KEY=]PATH ...).",
    )
    p.add_argument("what", choices=["secret"], metavar="secret")
    p.add_argument("type", choices=["tls", "generic"], metavar="tls|generic")
    p.add_argument("name", metavar="NAME")
    p.add_argument("-n", "--namespace", default="default", metavar="NS")
    p.add_argument("--cert", metavar="FILE", help="certificate chain (PEM)")
    p.add_argument("--key", metavar="FILE", help="private key of the certificate (PEM)")
    p.add_argument("--cacert", metavar="FILE", help="CA certificate(s) that validate peers (PEM)")
    p.add_argument("--from-file", action="append", default=[], metavar="[KEY=]PATH",
                   help="generic: one data key from a file (key defaults to the file name); repeatable")
    p.add_argument("--dry-run", action="store_true", help="check and print the object's name only")
    add_state_dir(p)
    return p


@dataclass(frozen=True, slots=True)
class SecretSpec:
    kind: str  # tls | generic
    name: str
    namespace: str
    cert: str = ""
    key: str = ""
    cacert: str = ""
    from_file: tuple[str, ...] = ()


class CreateError(Exception):
    pass


def _read(path: str, flag: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise CreateError(f"{flag} {path}: {e.strerror or e}") from None


def _entries(spec: SecretSpec) -> list[tuple[str, str, str]]:
    """``(data key, file, flag)`` of the Secret. tls: ``tls.crt``/``tls.key``/``ca.crt``;
    generic: Istio's generic keys ``cert``/``key``/``cacert``, or ``--from-file``."""
    out: list[tuple[str, str, str]] = []
    tls = spec.kind == "tls"
    if tls and (not spec.cert or not spec.key):
        raise CreateError("secret tls needs --cert and --key")
    if tls and spec.from_file:
        raise CreateError("--from-file is for secret generic")
    if not tls and not spec.from_file and not spec.cert:
        raise CreateError("secret generic needs --cert and --key, or --from-file")
    if bool(spec.cert) != bool(spec.key):
        raise CreateError("--cert and --key go together")
    if spec.cacert and not spec.cert:
        raise CreateError("--cacert needs --cert and --key")
    names = ("tls.crt", "tls.key", "ca.crt") if tls else ("cert", "key", "cacert")
    for key, path, flag in zip(names, (spec.cert, spec.key, spec.cacert), ("--cert", "--key", "--cacert"), strict=True):
        if path:
            out.append((key, path, flag))
    for item in spec.from_file:
        key, sep, path = item.partition("=")
        if not sep:
            key, path = Path(item).name, item
        if not key or not path:
            raise CreateError(f"--from-file {item}: expected [KEY=]PATH")
        out.append((key, path, f"--from-file {key}"))
    keys = [k for k, _, _ in out]
    for k in keys:
        if keys.count(k) > 1:
            raise CreateError(f"data key {k!r} given twice")
    return out


def _check(values: dict[str, tuple[bytes, str, str]]) -> None:
    """PEM parses and keys match certificates; errors name the file and the flag."""
    from lateen.api.credentials import (
        CredentialError,
        check_certificate_pem,
        check_key_matches,
        check_private_key_pem,
    )

    certs: dict[str, Any] = {}
    for key in ("cert", "tls.crt", "cacert", "ca.crt"):
        if key in values:
            data, path, flag = values[key]
            try:
                certs[key] = check_certificate_pem(data)[0]
            except CredentialError as e:
                raise CreateError(f"{flag} {path}: {e}") from None
    for cert_key, key_key in (("cert", "key"), ("tls.crt", "tls.key")):
        if key_key not in values:
            continue
        data, path, flag = values[key_key]
        try:
            private = check_private_key_pem(data)
            if cert_key in certs:
                check_key_matches(certs[cert_key], private)
        except CredentialError as e:
            cert_path = values[cert_key][1] if cert_key in values else ""
            extra = f" ({cert_path})" if cert_path and "match" in str(e) else ""
            raise CreateError(f"{flag} {path}: {e}{extra}") from None


def build_secret(spec: SecretSpec) -> dict[str, Any]:
    """The Secret object (``data`` base64), after reading and checking every file;
    :class:`CreateError` naming the file and flag otherwise."""
    values = {key: (_read(path, flag), path, flag) for key, path, flag in _entries(spec)}
    _check(values)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": spec.name, "namespace": spec.namespace},
        "type": "kubernetes.io/tls" if spec.kind == "tls" else "Opaque",
        "data": {k: base64.b64encode(v[0]).decode() for k, v in sorted(values.items())},
    }


def run(args: argparse.Namespace) -> int:
    import yaml

    from lateen.cli._common import connect_or_fail
    from lateen.platform.local import NotRunning

    spec = SecretSpec(args.type, args.name, args.namespace, args.cert or "", args.key or "",
                      args.cacert or "", tuple(args.from_file))
    try:
        secret = build_secret(spec)
    except CreateError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    conn = connect_or_fail(args)
    if conn is None:
        return 1
    client, _ = conn
    try:
        if client.objects(kind="Secret", group="", namespace=spec.namespace, name=spec.name):
            print(f'Error from server (AlreadyExists): secrets "{spec.name}" already exists',
                  file=sys.stderr)
            return 1
        doc = {"source": f"lateen create secret {spec.kind} {spec.name}",
               "text": yaml.safe_dump(secret, sort_keys=False)}
        status, result = client.apply([doc], dry_run=args.dry_run)
    except (NotRunning, RuntimeError, OSError) as e:
        print(f"lateen: {e}", file=sys.stderr)
        return 1
    if status != 200:
        for err in result.get("errors") or [str(result)]:
            print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"secret/{spec.name} created{' (dry run)' if args.dry_run else ''}")
    return 0
