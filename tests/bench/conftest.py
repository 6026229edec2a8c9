"""One ``python -m bench all --quick`` per test session, shared by the end-to-end bench tests
(each checks its scenario's JSON): CI pays for every quick scenario once (~2 min)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from bench_support import REPO, QuickRun

TIMEOUT_S = 600


@pytest.fixture(scope="session")
def quick_all() -> QuickRun:
    started = time.time() - 1
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "all", "--quick"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])},
    )  # fmt: skip
    try:
        out, _ = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.terminate()  # SIGTERM: the bench stops every process it started, then exits
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        pytest.fail(f"python -m bench all --quick took over {TIMEOUT_S} s:\n{out}")
    return QuickRun(proc.returncode, out, started)
