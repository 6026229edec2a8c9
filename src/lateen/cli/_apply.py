"""``lateen apply -f`` / ``lateen delete -f``: change the config of the running mesh.

``apply`` validates everything first; one bad object rejects the whole request with its
error (file, object, field) and nothing already applied changes."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from lateen.cli._common import add_state_dir

__all__ = ["add_delete_parser", "add_parser", "run", "run_delete"]


def _common(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("-f", "--filename", action="append", required=required, metavar="FILE|DIR|-",
                   help="a YAML file, a directory (searched recursively) or - for stdin; repeatable")
    add_state_dir(p)


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "apply", help="apply config to the running mesh (validated first; all or nothing)")
    _common(p)
    p.add_argument("--dry-run", action="store_true", help="validate and report, change nothing")
    return p


def add_delete_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "delete", help="delete objects from the running mesh: -f FILE, or KIND NAME [-n NS]")
    p.add_argument("kind", nargs="?", metavar="KIND", help="kind, plural or short name (secret, vs...)")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("-n", "--namespace", default="default", metavar="NS")
    _common(p, required=False)
    return p


def _documents(names: list[str]) -> list[dict[str, str]] | None:
    from pathlib import Path

    from lateen.platform.local import MeshError, read_documents

    docs: list[dict[str, str]] = []
    for name in names:
        if name == "-":
            docs.append({"source": "<stdin>", "text": sys.stdin.read()})
            continue
        try:
            docs.extend(read_documents([Path(name)]))
        except MeshError as e:
            print(f"error: {e}", file=sys.stderr)
            return None
    return docs


def _plural(kind: str, group: str) -> str:
    from lateen.api import by_group_kind

    info = by_group_kind(group, kind)
    plural = info.plural if info is not None else kind.lower() + "s"
    return f"{plural}.{group}" if group else plural


def _print_results(result: dict[str, Any], suffix: str = "") -> None:
    for r in result.get("results") or []:
        ns = r.get("namespace")
        print(f"{_plural(r['kind'], r['group'])}/{r['name']}{f' ({ns})' if ns else ''} {r['action']}{suffix}")


def _send(args: argparse.Namespace, delete: bool) -> tuple[int, dict[str, Any]] | None:
    """Read ``-f`` and send it to the running mesh: (status, result), None when either failed."""
    from lateen.cli._common import connect_or_fail

    docs = _documents(args.filename)
    if docs is None:
        return None
    conn = connect_or_fail(args)
    if conn is None:
        return None
    client, _ = conn
    return client.delete(docs) if delete else client.apply(docs, dry_run=args.dry_run)


def _delete_by_name(args: argparse.Namespace) -> tuple[int, dict[str, Any]] | None:
    """``delete KIND NAME...``: the objects by key (no manifest needed)."""
    from lateen.api import lookup
    from lateen.cli._common import connect_or_fail

    info = lookup(args.kind)
    if info is None:
        print(f'error: the server doesn\'t have a resource type "{args.kind}"', file=sys.stderr)
        return None
    if not args.names:
        print("error: resource name(s) required: lateen delete KIND NAME", file=sys.stderr)
        return None
    conn = connect_or_fail(args)
    if conn is None:
        return None
    client, _ = conn
    ns = args.namespace if info.namespaced else ""
    keys = [{"group": info.group, "kind": info.kind, "namespace": ns, "name": n} for n in args.names]
    return client.delete_keys(keys)


def _errors(result: dict[str, Any]) -> None:
    for e in result.get("errors") or [str(result)]:
        print(f"error: {e}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    sent = _send(args, delete=False)
    if sent is None:
        return 1
    status, result = sent
    if status != 200:
        _errors(result)
        print("nothing was applied", file=sys.stderr)
        return 1
    _print_results(result, " (dry run)" if args.dry_run else "")
    return 0


def run_delete(args: argparse.Namespace) -> int:
    if bool(args.filename) == bool(args.kind):
        print("error: give -f FILE or KIND NAME (not both)", file=sys.stderr)
        return 1
    sent = _send(args, delete=True) if args.filename else _delete_by_name(args)
    if sent is None:
        return 1
    status, result = sent
    if status != 200:
        _errors(result)
        return 1
    _print_results(result)
    missing = [r for r in result.get("results") or [] if r.get("action") != "deleted"]
    for r in missing:
        if args.kind:
            print(f'Error from server (NotFound): {_plural(r["kind"], r["group"])} "{r["name"]}" not found',
                  file=sys.stderr)
    return 1 if missing else 0
