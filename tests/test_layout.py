"""The test tree's own rules: test modules are imported by basename (no packages under
tests/, so that ``xds`` and friends stay importable), so two with one name would clash."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).parent


def test_test_module_basenames_are_unique() -> None:
    names = Counter(p.name for p in TESTS.rglob("test_*.py"))
    assert [n for n, c in names.items() if c > 1] == []
