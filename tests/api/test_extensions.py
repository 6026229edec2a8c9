"""Table tests for the WasmPlugin model and validator."""

from __future__ import annotations

from typing import Any

import pytest

from lateen.api import ValidationContext
from lateen.api.extensions import WasmPlugin, validate_wasm_plugin

SHA = "1ef0c9a92b0420cf25f7fe5d481b231464bc88f486ca3b9c83ed5cc21d2f6210"


def _errors(spec: dict[str, Any]) -> list[str]:
    ctx = ValidationContext()
    validate_wasm_plugin(WasmPlugin.model_validate(spec), ctx)
    return [str(d) for d in ctx.errors]


CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("oci", {"url": "oci://ghcr.io/a/b:1.0"}, "", ""),
    ("no-scheme", {"url": "ghcr.io/a/b:1.0"}, "", ""),
    ("file", {"url": "file:///opt/filters/a.wasm", "sha256": SHA}, "", ""),
    (
        "https",
        {
            "url": "https://example.com/a.wasm",
            "priority": -5,
            "pluginConfig": {"a": [1, {"b": None}]},
        },
        "",
        "",
    ),
    ("missing-url", {}, "spec.url", "url field needs to be set"),
    ("ftp", {"url": "ftp://a/b.wasm"}, "spec.url", "unsupported scheme: ftp"),
    (
        "registry-port-without-scheme",
        {"url": "localhost:5000/a:1"},
        "spec.url",
        "unsupported scheme: localhost",
    ),
    ("whitespace", {"url": "oci://a b"}, "spec.url", "failed to parse url"),
    ("sha-short", {"url": "oci://a/b", "sha256": "abc"}, "spec.sha256", "64 characters long"),
    ("sha-upper", {"url": "oci://a/b", "sha256": SHA.upper()}, "spec.sha256", "[a-f0-9]{64}"),
    (
        "secret-too-long",
        {"url": "oci://a/b", "imagePullSecret": "a" * 254},
        "spec.imagePullSecret",
        "253",
    ),
    (
        "plugin-name-too-long",
        {"url": "oci://a/b", "pluginName": "a" * 257},
        "spec.pluginName",
        "255",
    ),
    ("priority-overflow", {"url": "oci://a/b", "priority": 2**31}, "spec.priority", "32-bit"),
    (
        "env-empty-name",
        {"url": "oci://a/b", "vmConfig": {"env": [{"value": "x"}]}},
        "spec.vmConfig.env[0].name",
        "must not be empty",
    ),
    (
        "env-duplicate",
        {"url": "oci://a/b", "vmConfig": {"env": [{"name": "A"}, {"name": "A"}]}},
        "spec.vmConfig.env[1].name",
        "duplicate env",
    ),
    (
        "env-host-with-value",
        {
            "url": "oci://a/b",
            "vmConfig": {"env": [{"name": "A", "valueFrom": "HOST", "value": "x"}]},
        },
        "spec.vmConfig.env[0].value",
        "only be set when valueFrom is INLINE",
    ),
    (
        "match-port-zero",
        {"url": "oci://a/b", "match": [{"ports": [{"number": 0}]}]},
        "spec.match[0].ports[0].number",
        "out of range",
    ),
    (
        "selector-and-target-ref",
        {
            "url": "oci://a/b",
            "selector": {"matchLabels": {"a": "b"}},
            "targetRef": {"kind": "Service", "name": "s"},
        },
        "spec.targetRef",
        "only one of",
    ),
]


@pytest.mark.parametrize(
    ("spec", "path", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_wasm_plugin(spec: dict[str, Any], path: str, message: str) -> None:
    errors = _errors(spec)
    if not path:
        assert errors == []
    else:
        assert any(e.startswith(f"{path}: ") and message in e for e in errors), errors


def test_unknown_enum_is_a_model_error() -> None:
    with pytest.raises(ValueError, match="AUTHN"):
        WasmPlugin.model_validate({"url": "oci://a/b", "phase": "EARLY"})
