"""``lateen analyze`` against a real running mesh (``lateen up samples/bookinfo -d``: real
processes, real Envoy sidecars and gateway): the running config and pods are analyzed, files
are analyzed on top of them, and applying a task's config changes what analyze reports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lateen.platform.local import StateDir, proc_start_time
from lateen.testing.procs import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
NET = "samples/bookinfo/networking"


def lateen(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lateen", *args, "--state-dir", str(state)],
        capture_output=True, text=True, timeout=180, cwd=ROOT,
        env={**os.environ, "TERM": "dumb"},
    )  # fmt: skip


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    state = tmp_path_factory.mktemp("analyze") / ".lateen"
    up = lateen(state, "up", "samples/bookinfo", "-d", "--ingress-port", str(free_port()), "--timeout", "90")
    try:
        assert up.returncode == 0, f"lateen up failed:\n{up.stdout}\n{up.stderr}"
        yield state
    finally:
        lateen(state, "down", "--force")
        for rec in StateDir(state).read_processes():
            if proc_start_time(rec.pid) == rec.start_time:
                os.killpg(rec.pid, signal.SIGKILL)


def test_running_bookinfo_is_clean(state: Path) -> None:
    proc = lateen(state, "analyze")
    assert (proc.returncode, proc.stdout) == (0, ""), proc.stderr
    assert proc.stderr == "\u2714 No validation issues found when analyzing namespace: default.\n"
    proc = lateen(state, "analyze", "-A")
    assert (proc.returncode, proc.stdout) == (0, ""), proc.stderr


def test_a_file_on_top_of_the_running_mesh(state: Path) -> None:
    proc = lateen(state, "analyze", f"{NET}/virtual-service-reviews-v3.yaml")
    assert proc.returncode == 1
    assert proc.stdout == (
        f"Error [IST0101] (VirtualService default/reviews {NET}/virtual-service-reviews-v3.yaml:11) "
        'Referenced host+subset in destinationrule not found: "reviews+v3"\n'
    )
    proc = lateen(state, "analyze", f"{NET}/virtual-service-reviews-v3.yaml", f"{NET}/destination-rule-reviews.yaml")
    assert (proc.returncode, proc.stdout) == (0, ""), proc.stderr


def test_applied_config_is_analyzed_with_the_running_pods(state: Path) -> None:
    applied = lateen(state, "apply", "-f", f"{NET}/destination-rule-all.yaml", "-f", f"{NET}/virtual-service-all-v1.yaml")
    assert applied.returncode == 0, applied.stderr
    proc = lateen(state, "analyze", "-o", "json")
    assert proc.returncode == 1
    got = [(m["code"], m["origin"], m["message"]) for m in json.loads(proc.stdout)]
    assert got == [
        ("IST0173", "DestinationRule default/ratings",
         "The Subset v2-mysql defined in the DestinationRule does not select any pods. Which may lead to 503 UH (NoHealthyUpstream)."),
        ("IST0173", "DestinationRule default/ratings",
         "The Subset v2-mysql-vm defined in the DestinationRule does not select any pods. Which may lead to 503 UH (NoHealthyUpstream)."),
        ("IST0140", "VirtualService default/bookinfo",
         "Subset in virtual service default/productpage has no effect on ingress gateway default/bookinfo requests"),
    ]  # fmt: skip
    assert all("reference" not in m for m in json.loads(proc.stdout))  # from the mesh, not a file
    proc = lateen(state, "analyze", "-S", "IST0173=DestinationRule default/ratings")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Warning [IST0140] (VirtualService default/bookinfo) ")
