"""``lateen analyze [FILE|DIR...] [-f FILE|DIR]... [-A | -n NS] [-o log|json|yaml]``: istioctl
analyze for Lateen. Analyzes the running mesh (``lateen up``), with the given files applied on
top of it, or the files alone (with what ``lateen up`` installs) when no mesh runs or with
``--use-kube=false``. Exit 0 when no message reaches ``--failure-threshold``, else 1."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lateen.cli._common import add_state_dir

if TYPE_CHECKING:
    from lateen.analyze import Level
    from lateen.api import ConfigObject

__all__ = ["add_parser", "run"]


def _level(text: str) -> Level:
    from lateen.analyze import Level

    try:
        return Level.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _bool(text: str) -> bool:
    v = text.strip().lower()
    if v in ("true", "1", "yes", "on"):
        return True
    if v in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r}")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "analyze",
        help="analyze Istio config and print validation messages (istioctl analyze)",
        description="Report the common mistakes in the mesh's config with Istio's message "
        "codes (IST0101 ...): the running mesh, the running mesh with FILEs applied on top, or "
        "the FILEs alone when no mesh runs (or with --use-kube=false). Exit 1 when a message "
        "reaches --failure-threshold.",
    )
    p.add_argument("files", nargs="*", metavar="FILE|DIR",
                   help="YAML file or directory (recursive; a kustomization.yaml lists what to read); '-' for stdin")
    p.add_argument("-f", "--filename", action="append", default=[], metavar="FILE|DIR",
                   help="same as a positional FILE; repeatable")
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", default=None, metavar="NS",
                       help="namespace to analyze, and of objects in files that name none (default: default)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="analyze every namespace")
    p.add_argument("-o", "--output", default="log", choices=["log", "text", "json", "yaml"],
                   help="log (one line per message; 'text' is the same), json or yaml")
    p.add_argument("--failure-threshold", type=_level, default="Error", metavar="LEVEL",
                   help="exit 1 when a message is at least this level: Info, Warning, Error (default)")
    p.add_argument("--output-threshold", type=_level, default="Info", metavar="LEVEL",
                   help="print messages of at least this level (default Info)")
    p.add_argument("-S", "--suppress", action="append", default=[], metavar="CODE=RESOURCE",
                   help="suppress a code on a resource, e.g. 'IST0102=Namespace foo' or "
                   "'IST0101=VirtualService default/*'; repeatable")
    p.add_argument("-k", "--use-kube", type=_bool, default=True, metavar="BOOL",
                   help="analyze the running mesh too (default true); --use-kube=false: the files alone")
    p.add_argument("-L", "--list-analyzers", action="store_true", help="list the analyzers and exit")
    p.add_argument("--color", action=argparse.BooleanOptionalAction, default=None,
                   help="color the levels (default: when stdout is a terminal and TERM is not dumb)")
    add_state_dir(p)
    return p


def _display(path: str) -> str:
    """A file name as the user would write it: relative to the working directory when inside."""
    path = os.path.abspath(path)
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def _read(names: list[str]) -> list[dict[str, str]] | None:
    from lateen.platform.local import MeshError, read_documents

    docs: list[dict[str, str]] = []
    for name in names:
        if name == "-":
            docs.append({"source": "-", "text": sys.stdin.read()})
            continue
        try:
            docs.extend(read_documents([Path(name)]))
        except (MeshError, OSError, UnicodeDecodeError) as e:
            print(f"Error: {e}", file=sys.stderr)
            return None
    return [{"source": _display(d["source"]), "text": d["text"]} for d in docs]


def _live_objects(args: argparse.Namespace) -> list[ConfigObject] | None:
    """The running mesh's config and pods; None when no mesh runs from the state directory."""
    from lateen.api import parse_object
    from lateen.platform.local import NotRunning, connect

    try:
        client, _ = connect(args.state_dir)
        config = client.objects()
        pods = client.objects(group="", kind="Pod")
    except NotRunning:
        return None
    out: list[ConfigObject] = []
    for doc in [*(d for d in config if d.get("kind") != "Pod"), *pods]:
        obj, _info, _diags = parse_object(doc)
        if obj is not None:
            out.append(obj)
    return out


def _suppressions(values: list[str]) -> list[tuple[str, str]] | None:
    from lateen.analyze import by_code

    out: list[tuple[str, str]] = []
    for s in values:
        code, sep, resource = s.partition("=")
        if not sep or "=" in resource:
            print(f"Error: {s} is not a valid suppression value. See lateen analyze --help", file=sys.stderr)
            return None
        if by_code(code) is None:
            print(f"Warning: Supplied message code '{code}' is an unknown message code and will "
                  "not have any effect.", file=sys.stderr)
        out.append((code, resource))
    return out


def _use_color(flag: bool | None) -> bool:
    if flag is not None:
        return flag
    return sys.stdout.isatty() and os.environ.get("TERM", "").lower() != "dumb"


def run(args: argparse.Namespace) -> int:
    from lateen.analyze import ANALYZERS, DOC_URL, analyze_documents, render, select

    if args.list_analyzers:
        for a in sorted(ANALYZERS, key=lambda a: a.name):
            print(f"* {a.name}:\n    {a.description}")
        return 0
    suppress = _suppressions(args.suppress)
    if suppress is None:
        return 1
    names = [*args.files, *args.filename]
    docs = _read(names)
    if docs is None:
        return 1
    namespace = args.namespace or "default"
    target = "all namespaces" if args.all_namespaces else f"namespace: {namespace}"

    try:
        base: list[ConfigObject] | None = _live_objects(args) if args.use_kube else None
    except (RuntimeError, OSError) as err:
        print(f"Error: the running mesh did not answer: {err}", file=sys.stderr)
        return 1
    if base is None:
        if args.use_kube and not names:
            print(f"Error: no mesh is running from {args.state_dir} (start one with `lateen up DIR`, "
                  "or analyze files with `lateen analyze FILE...`)", file=sys.stderr)
            return 1
        from lateen.platform.local import builtin_objects

        base = builtin_objects("127.0.0.1", 8080)  # what `lateen up` installs, as istioctl's defaults
    result = analyze_documents(docs, base, namespace=namespace)
    shown_ns = None if args.all_namespaces else namespace
    messages = select(result.messages, namespace=shown_ns, suppress=suppress)
    output = select(messages, threshold=args.output_threshold)

    for e in result.parse_errors:
        print(f"Error(s) adding files: {e}", file=sys.stderr)
    text = render(output, args.output, color=_use_color(args.color))
    if text:  # nothing for an empty log; "[]" for JSON and YAML
        print(text)
    unparsed = len({e.source for e in result.parse_errors})
    if not output:
        if unparsed:
            files = "file" if unparsed == 1 else "files"
            print(f"No validation issues found when analyzing {target} (but {unparsed} {files} "
                  "could not be parsed).", file=sys.stderr)
        elif docs:
            analyzed = "\n".join(dict.fromkeys(d["source"] for d in docs))
            print(f"\u2714 No validation issues found when analyzing {analyzed}.", file=sys.stderr)
        else:
            print(f"\u2714 No validation issues found when analyzing {target}.", file=sys.stderr)
    if any(m.type.level >= args.failure_threshold for m in messages):
        print(f"Error: Analyzers found issues when analyzing {target}.\nSee {DOC_URL} for more "
              "information about causes and resolutions.", file=sys.stderr)
        return 1
    if unparsed:
        print("Error: Some files couldn't be parsed.", file=sys.stderr)
        return 1
    return 0
