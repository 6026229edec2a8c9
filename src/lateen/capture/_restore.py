"""iptables-restore input (pure): the rules of a ``Ruleset`` for one address family, optionally
preceded by the removal of whatever of ours is already installed, so that one
``iptables-restore --noflush`` call per table replaces our rules atomically and touches nothing
else; ``parse_save`` reads iptables-save output."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lateen.capture._rules import BUILTIN, Family, Rule, Ruleset

__all__ = [
    "SavedTable",
    "our_builtin_rules",
    "parse_save",
    "render_apply",
    "render_clean",
    "render_restore",
    "restore_failure",
]

PREFIX = "ISTIO_"


@dataclass(frozen=True, slots=True)
class SavedTable:
    """One table of iptables-save output: declared chains and rules (``(chain, spec)``, the
    spec as saved, without ``-A CHAIN``)."""

    chains: tuple[str, ...]
    rules: tuple[tuple[str, str], ...]

    def ours(self) -> list[str]:
        return [c for c in self.chains if c.startswith(PREFIX)]


def parse_save(text: str) -> dict[str, SavedTable]:
    """Tables of iptables-save output (comments and counters ignored)."""
    tables: dict[str, SavedTable] = {}
    table = ""
    chains: list[str] = []
    rules: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            table, chains, rules = line[1:].strip(), [], []
        elif line == "COMMIT":
            if table:
                tables[table] = SavedTable(tuple(chains), tuple(rules))
            table = ""
        elif line.startswith(":"):
            chains.append(line[1:].split()[0])
        elif line.startswith("-A "):
            _, chain, *rest = line.split(" ", 2)
            rules.append((chain, rest[0] if rest else ""))
    return tables


def _jump(spec: str) -> str | None:
    try:
        tokens = shlex.split(spec)
    except ValueError:
        tokens = spec.split()
    for i, tok in enumerate(tokens[:-1]):
        if tok in ("-j", "--jump", "-g", "--goto"):
            return tokens[i + 1]
    return None


def our_builtin_rules(ruleset: Ruleset, family: Family) -> list[Rule]:
    """Our rules in built-in chains that do not jump to one of our chains: the ones that can
    only be found by asking iptables (``-C``) whether they exist."""
    out: list[Rule] = []
    for r in ruleset.rules(family):
        if r.in_builtin_chain and not (r.jump or "").startswith(PREFIX) and r not in out:
            out.append(r)
    return out


def _removal(saved: Mapping[str, SavedTable], present: Iterable[Rule],
             keep: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """Per table: delete our rules in built-in chains (jumps to ISTIO_* as saved, plus the
    ``present`` ones by their spec), flush every ISTIO_* chain, delete those not kept."""
    out: dict[str, list[str]] = {}
    present = list(present)
    for table in sorted(set(saved) | {r.table for r in present}):
        st = saved.get(table, SavedTable((), ()))
        lines = [f"-D {chain} {spec}" for chain, spec in st.rules
                 if chain in BUILTIN and (_jump(spec) or "").startswith(PREFIX)]
        lines += [f"-D {r.chain} {' '.join(r.spec)}" for r in present if r.table == table]
        lines += [f"-F {c}" for c in st.ours()]
        lines += [f"-X {c}" for c in st.ours() if c not in keep.get(table, [])]
        if lines:
            out[table] = lines
    return out


def render_apply(ruleset: Ruleset, family: Family, saved: Mapping[str, SavedTable],
                 present: Iterable[Rule] = ()) -> str:
    """One iptables-restore input (for ``--noflush``) that removes what of ours ``saved``
    shows (plus the ``present`` built-in chain rules), then creates our chains (``-N``, in
    Istio's order; chains that already exist are only flushed) and adds the rules in order."""
    chains = ruleset.chains(family)
    removal = _removal(saved, present, chains)
    rules = ruleset.rules(family)
    out: list[str] = []
    for table in sorted(set(removal) | {r.table for r in rules}):
        existing = saved.get(table, SavedTable((), ())).chains
        out.append(f"*{table}")
        out += removal.get(table, [])
        out += [f"-N {c}" for c in chains.get(table, []) if c not in existing]
        out += [r.command for r in rules if r.table == table]
        out.append("COMMIT")
    return "".join(line + "\n" for line in out)


def render_restore(ruleset: Ruleset, family: Family = "ipv4") -> str:
    """The iptables-restore input that installs ``ruleset`` on a clean system: per table
    (sorted), ``-N`` for our chains, then every rule in order, then ``COMMIT``."""
    return render_apply(ruleset, family, {})


def render_clean(saved: Mapping[str, SavedTable], present: Iterable[Rule] = ()) -> str:
    """iptables-restore input removing our jumps, the ``present`` rules and every ISTIO_*
    chain; empty when there is nothing of ours."""
    out: list[str] = []
    for table, lines in _removal(saved, present, {}).items():
        out += [f"*{table}", *lines, "COMMIT"]
    return "".join(line + "\n" for line in out)


_LINE = re.compile(r"line:? (\d+)")


def restore_failure(stderr: str, text: str) -> str:
    """iptables-restore's complaint with the input line it names (``line N failed``,
    ``Error occurred at line: N``) quoted."""
    message = " ".join(stderr.split()) or "no error output"
    m = _LINE.search(stderr)
    if not m:
        return message
    n = int(m.group(1))
    lines = text.splitlines()
    if 1 <= n <= len(lines):
        return f"line {n}: {lines[n - 1]!r}: {message}"
    return message
