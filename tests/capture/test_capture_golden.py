"""Golden tests: the iptables-restore input (and ``ip`` commands) ``lateen iptables`` produces
for each case in tests/testdata/capture (``args``: the command's flags; optional ``ipv6``,
``resolvConf``, ``env``). UPDATE_GOLDEN=1 rewrites the golden files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from lateen.capture import build_rules, render_restore
from lateen.cli._iptables import config_from_args
from lateen.cli._main import build_parser
from lateen.testing.golden import assert_golden

DATA = Path(__file__).parent.parent / "testdata" / "capture"
CASES = sorted(p.name.removesuffix(".input.yaml") for p in DATA.glob("*.input.yaml"))


def generate(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    case = yaml.safe_load((DATA / f"{name}.input.yaml").read_text())
    for key, value in (case.get("env") or {}).items():
        monkeypatch.setenv(key, str(value))
    argv = ["iptables", *[str(a) for a in case["args"]]]
    if "resolvConf" in case:
        resolv = tmp_path / "resolv.conf"
        resolv.write_text(case["resolvConf"])
        argv += ["--resolv-conf", str(resolv)]
    args = build_parser().parse_args(argv)  # after the env: flag defaults come from it
    cfg = config_from_args(args, ipv6=bool(case.get("ipv6")))
    ruleset = build_rules(cfg)
    out: dict[str, Any] = {"iptables-restore": render_restore(ruleset, "ipv4")}
    if cfg.enable_ipv6:
        out["ip6tables-restore"] = render_restore(ruleset, "ipv6")
    if ruleset.routes:
        out["ip"] = [" ".join(r) for r in ruleset.routes]
    return out


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert_golden(DATA / f"{name}.golden.yaml", generate(name, tmp_path, monkeypatch))


def test_cases_exist() -> None:
    assert len(CASES) >= 20
