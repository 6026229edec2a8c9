"""The validation corpus: every file under invalid/ must be rejected with the expected
field paths; every file under valid/ (Istio's documented examples) must be accepted.

Each invalid file starts with one or more ``# expect: <field path>: <message substring>``
lines; the object must be rejected with an error on that path whose message contains the
substring (case-insensitive).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lateen.api import load_yaml

CORPUS = Path(__file__).parent.parent / "testdata" / "validate"
INVALID = sorted((CORPUS / "invalid").glob("*.yaml"))
VALID = sorted((CORPUS / "valid").glob("*.yaml"))


def _expectations(text: str) -> list[tuple[str, str]]:
    out = []
    for line in text.splitlines():
        if line.startswith("# expect:"):
            path, _, msg = line[len("# expect:") :].strip().partition(": ")
            out.append((path.strip(), msg.strip().lower()))
    return out


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_object_is_rejected_with_its_path(path: Path) -> None:
    text = path.read_text()
    expected = _expectations(text)
    assert expected, f"{path.name} has no '# expect:' line"
    result = load_yaml(text, path.name)
    assert not result.objects, f"{path.name} was accepted"
    got = [(e.path, e.message.lower()) for e in result.errors]
    for want_path, want_msg in expected:
        assert any(p == want_path and want_msg in m for p, m in got), (
            f"{path.name}: no error at {want_path!r} containing {want_msg!r}; got {got}"
        )


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_documented_example_is_accepted(path: Path) -> None:
    result = load_yaml(path.read_text(), path.name)
    assert result.ok, [str(e) for e in result.errors]
    assert result.objects


def test_corpus_is_large_enough() -> None:
    assert len(INVALID) >= 60
