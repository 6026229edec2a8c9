"""Side effects: ``apply`` installs a ``CaptureConfig``'s rules with one
``iptables-restore --noflush`` per address family (replacing whatever of ours is there),
``clean`` removes them; both through a ``CommandRunner`` (a fake in ``lateen.testing``)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from lateen.capture._config import CaptureConfig
from lateen.capture._restore import (
    our_builtin_rules,
    parse_save,
    render_apply,
    render_clean,
    restore_failure,
)
from lateen.capture._rules import Family, Rule, Ruleset, build_rules

__all__ = [
    "CaptureError",
    "CommandResult",
    "CommandRunner",
    "IptablesTools",
    "SubprocessRunner",
    "apply",
    "clean",
    "detect_tools",
    "ipv6_enabled",
]


@dataclass(frozen=True, slots=True)
class CommandResult:
    returncode: int
    stdout: str = ""
    stderr: str = ""


class CommandRunner(Protocol):
    def run(self, argv: Sequence[str], input: str | None = None) -> CommandResult:
        """Run ``argv`` (feeding ``input`` on stdin) and return its exit code and output."""
        ...


class SubprocessRunner:
    """Runs commands as subprocesses, optionally in another network namespace
    (``prefix=["nsenter", "--net=/run/netns/NAME", "--"]``)."""

    def __init__(self, prefix: Sequence[str] = (), timeout: float = 60.0) -> None:
        self.prefix = list(prefix)
        self.timeout = timeout

    def run(self, argv: Sequence[str], input: str | None = None) -> CommandResult:
        try:
            proc = subprocess.run([*self.prefix, *argv], input=input, capture_output=True,
                                  text=True, timeout=self.timeout, check=False)
        except FileNotFoundError as e:
            return CommandResult(127, "", f"{e.filename or argv[0]}: command not found")
        except subprocess.TimeoutExpired:
            return CommandResult(124, "", f"timed out after {self.timeout:g}s")
        return CommandResult(proc.returncode, proc.stdout, proc.stderr)


class CaptureError(RuntimeError):
    """A command that changes the rules failed; the message says which and why."""


@dataclass(frozen=True, slots=True)
class IptablesTools:
    """The three binaries used for one address family."""

    iptables: str
    save: str
    restore: str


def detect_tools(which: Callable[[str], str | None] = shutil.which) -> dict[Family, IptablesTools]:
    """Prefer the nftables backend (``iptables-nft*``) when installed, else plain ``iptables*``
    (whatever backend that is)."""
    def tools(base: str) -> IptablesTools:
        nft = f"{base}-nft"
        prefix = nft if which(f"{nft}-restore") and which(nft) else base
        return IptablesTools(prefix, f"{prefix}-save", f"{prefix}-restore")

    return {"ipv4": tools("iptables"), "ipv6": tools("ip6tables")}


def ipv6_enabled(ip_addr_output: str, dual_stack: bool = False) -> bool:
    """Istio's rule for adding IPv6 rules, from ``ip -o addr show``: the first address that is
    neither loopback nor link-local is IPv6 (or, with dual stack, any such address is)."""
    for line in ip_addr_output.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[2] not in ("inet", "inet6"):
            continue
        scope = fields[fields.index("scope") + 1] if "scope" in fields else "global"
        if scope in ("host", "link"):
            continue
        if fields[2] == "inet6":
            return True
        if not dual_stack:
            return False
    return False


def _families(cfg: CaptureConfig) -> list[Family]:
    return ["ipv4", "ipv6"] if cfg.enable_ipv6 else ["ipv4"]


def _present(runner: CommandRunner, tools: IptablesTools, rules: list[Rule]) -> list[Rule]:
    """The rules iptables says exist (``-C``)."""
    return [r for r in rules
            if runner.run([tools.iptables, "-t", r.table, "-C", r.chain, *r.spec]).returncode == 0]


def _save(runner: CommandRunner, tools: IptablesTools) -> CommandResult:
    return runner.run([tools.save])


def _restore(runner: CommandRunner, tools: IptablesTools, text: str) -> None:
    res = runner.run([tools.restore, "--noflush"], input=text)
    if res.returncode != 0:
        raise CaptureError(f"{tools.restore} --noflush failed: {restore_failure(res.stderr, text)}")


def apply(cfg: CaptureConfig, runner: CommandRunner,
          tools: Mapping[Family, IptablesTools] | None = None) -> Ruleset:
    """Install the rules for ``cfg``: per address family, read the current rules, then one
    ``iptables-restore --noflush`` that removes whatever of ours is there and adds the new
    rules (all or nothing); then the ``ip`` routes TPROXY/IPv6 need. Idempotent."""
    ruleset = build_rules(cfg)
    tools = tools or detect_tools()
    for family in _families(cfg):
        t = tools[family]
        saved = _save(runner, t)
        if saved.returncode != 0:
            raise CaptureError(f"{t.save} failed: {' '.join(saved.stderr.split())}")
        present = _present(runner, t, our_builtin_rules(ruleset, family))
        _restore(runner, t, render_apply(ruleset, family, parse_save(saved.stdout), present))
    for route in ruleset.routes:
        res = runner.run(["ip", *route])
        if res.returncode != 0 and "File exists" not in res.stderr:
            raise CaptureError(f"ip {' '.join(route)} failed: {' '.join(res.stderr.split())}")
    return ruleset


def clean(runner: CommandRunner, cfg: CaptureConfig | None = None,
          tools: Mapping[Family, IptablesTools] | None = None) -> int:
    """Remove our rules (IPv4 and IPv6): jumps from built-in chains to ISTIO_* chains, the
    rules ``cfg`` (default: istio-iptables' defaults) adds to built-in chains, every ISTIO_*
    chain, and TPROXY's routes. Nothing of ours present is fine. Returns how many tables were
    changed."""
    cfg = cfg or CaptureConfig()
    ruleset = build_rules(replace(cfg, enable_ipv6=True))
    tools = tools or detect_tools()
    changed = 0
    families: tuple[Family, ...] = ("ipv4", "ipv6")
    for family in families:
        t = tools[family]
        saved = _save(runner, t)
        if saved.returncode != 0:
            if family == "ipv6":
                continue  # no IPv6 support here: nothing to clean
            raise CaptureError(f"{t.save} failed: {' '.join(saved.stderr.split())}")
        present = _present(runner, t, our_builtin_rules(ruleset, family))
        text = render_clean(parse_save(saved.stdout), present)
        if text:
            _restore(runner, t, text)
            changed += text.count("COMMIT")
    if cfg.tproxy:
        table, mark = cfg.inbound_tproxy_route_table, cfg.inbound_tproxy_mark
        for fam in ("-4", "-6"):
            for _ in range(16):  # every copy of the rule, but never loop forever
                if runner.run(["ip", fam, "rule", "del", "fwmark", mark, "lookup", table]).returncode:
                    break
            runner.run(["ip", fam, "route", "flush", "table", table])
    return changed
