"""Golden output of whole inputs as ``lateen analyze --use-kube=false -A`` reads them: each
``tests/testdata/analyze/NN-<case>`` directory (recursive, or what its kustomization.yaml lists)
or ``NN-<case>.input.yaml`` file, with what ``lateen up`` installs, -> ``NN-<case>.golden.yaml``
(the messages in istioctl's JSON form; UPDATE_GOLDEN=1 rewrites)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from lateen.analyze import analyze_documents, select
from lateen.platform.local import builtin_objects, read_documents
from lateen.testing.golden import assert_golden

DATA = Path(__file__).parent.parent / "testdata" / "analyze"
CASES = sorted(
    p.name.removesuffix(".input.yaml")
    for p in DATA.iterdir()
    if p.name[:2].isdigit() and (p.is_dir() or p.name.endswith(".input.yaml"))
)


def run(name: str) -> dict[str, Any]:
    path = DATA / name if (DATA / name).is_dir() else DATA / f"{name}.input.yaml"
    docs = [
        {"source": os.path.relpath(d["source"], DATA), "text": d["text"]} for d in read_documents([path])
    ]
    result = analyze_documents(docs, builtin_objects("127.0.0.1", 8080))
    return {
        "files": [d["source"] for d in docs],
        "messages": [m.to_dict() for m in select(result.messages)],
        "parse_errors": [str(e) for e in result.parse_errors],
    }


def test_cases_exist() -> None:
    assert "01-mixed" in CASES and "02-kustomized" in CASES


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str) -> None:
    assert_golden(DATA / f"{name}.golden.yaml", run(name))


def test_mixed_directory_reports_every_planted_mistake() -> None:
    """Each ``IST`` comment in the mixed directory's files is a code the analysis reports."""
    planted = set()
    for f in (DATA / "01-mixed").rglob("*.yaml"):
        for line in f.read_text().splitlines():
            planted.update(w.strip(":,.") for w in line.split() if w.startswith("IST"))
    reported = {m["code"] for m in run("01-mixed")["messages"]}
    assert planted and planted == reported
