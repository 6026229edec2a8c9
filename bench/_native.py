"""The benchmarks' two small C programs (``bench/_native/*.c``), built at run time with gcc.

Python's asyncio cannot send 1000 requests per second on time on a 2-core machine (see
docs/benchmarks.md: ~0.55 ms send lag at p50), so the open-loop load generator and the HTTP
server are C. Each binary is compiled once per source version into a cache directory
(``$LATEEN_BENCH_CACHE``, default ``~/.cache/lateen-bench``) named by the source's hash.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["NativeBuildError", "binary", "cache_dir"]

SOURCES = Path(__file__).resolve().parent / "_native"
CFLAGS = ("-O2", "-Wall", "-Wextra", "-pthread")


class NativeBuildError(RuntimeError):
    """gcc is missing or the source did not compile."""


def cache_dir() -> Path:
    env = os.environ.get("LATEEN_BENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "lateen-bench"


def binary(name: str) -> Path:
    """Path of the built ``bench/_native/NAME.c`` (``loadgen`` or ``server``), building it if
    this version of the source was never built."""
    src = SOURCES / f"{name}.c"
    text = src.read_bytes()
    digest = hashlib.sha256(text + " ".join(CFLAGS).encode()).hexdigest()[:16]
    out = cache_dir() / f"{name}-{digest}"
    if out.exists():
        return out
    cc = shutil.which(os.environ.get("CC", "gcc")) or shutil.which("cc")
    if cc is None:
        raise NativeBuildError("no C compiler (gcc or cc) on PATH: apt-get install -y gcc")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}-", dir=out.parent)
    os.close(fd)
    try:
        proc = subprocess.run(
            [cc, *CFLAGS, "-o", tmp, str(src)], capture_output=True, text=True, timeout=120
        )
        if proc.returncode != 0:
            raise NativeBuildError(f"{cc} {src.name} failed:\n{proc.stderr}")
        os.replace(tmp, out)  # atomic: concurrent builders both end with a whole binary
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out
