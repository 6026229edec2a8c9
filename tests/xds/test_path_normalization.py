"""Mesh ``pathNormalization`` -> every HTTP connection manager (Istio's mapping in
``buildHTTPConnectionManager``): sidecar outbound, sidecar inbound and gateway listeners all
get the same three fields; the MeshConfig and the ``istio`` ConfigMap reject unknown modes."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lateen.api import load_yaml
from lateen.model import MeshConfig, build_push_context
from lateen.testing.golden import load_xds_case, message_to_data
from lateen.xds import default_generators
from lateen.xds.names import LISTENER_TYPE

DATA = Path(__file__).parent.parent / "testdata" / "xds"
HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"

# (normalize_path, merge_slashes, path_with_escaped_slashes_action) per mode
MODES = {
    "NONE": (False, False, "KEEP_UNCHANGED"),
    "DEFAULT": (True, False, "KEEP_UNCHANGED"),
    "BASE": (True, False, "KEEP_UNCHANGED"),
    "MERGE_SLASHES": (True, True, "KEEP_UNCHANGED"),
    "DECODE_AND_MERGE_SLASHES": (True, True, "UNESCAPE_AND_FORWARD"),
}


def _hcms(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, dict):
        if data.get("@type") == HCM_TYPE:
            yield data
        for v in data.values():
            yield from _hcms(v)
    elif isinstance(data, list):
        for v in data:
            yield from _hcms(v)


def _listener_hcms(case: str, mode: str | None) -> list[tuple[str, dict[str, Any]]]:
    xds = load_xds_case((DATA / f"{case}.input.yaml").read_text(), case)
    mesh = {"pathNormalization": {"normalization": mode}} if mode else {}
    push = build_push_context(xds.objects, MeshConfig.from_dict(mesh), version="t")
    out = []
    for r in default_generators()[LISTENER_TYPE].generate(xds.proxy, push):
        for hcm in _hcms(message_to_data(r.message)):
            out.append((r.name, hcm))
    return out


@pytest.mark.parametrize("case", ["01-bookinfo-sidecar", "02-bookinfo-gateway", "10-explicit-sidecar"],
                         ids=["sidecar", "gateway", "explicit"])  # fmt: skip
@pytest.mark.parametrize("mode", [None, *MODES], ids=["unset", *MODES])
def test_every_hcm_follows_the_mesh_mode(case: str, mode: str | None) -> None:
    normalize, merge, action = MODES[mode or "BASE"]
    hcms = _listener_hcms(case, mode)
    assert hcms, "the case has HTTP listeners"
    names = {name for name, _ in hcms}
    if case != "02-bookinfo-gateway":  # outbound and inbound alike
        assert "virtualInbound" in names or any("_15001" in n for n in names), names
        assert len(names) > 1, names
    for name, hcm in hcms:
        got = (hcm.get("normalize_path"), hcm.get("merge_slashes", False),
               hcm.get("path_with_escaped_slashes_action"))  # fmt: skip
        assert got == (normalize, merge, action), name


@pytest.mark.parametrize(
    ("mesh", "expected"),
    [
        ({}, "BASE"),
        ({"pathNormalization": {}}, "BASE"),
        ({"pathNormalization": {"normalization": "DEFAULT"}}, "BASE"),
        ({"pathNormalization": {"normalization": "NONE"}}, "NONE"),
        ({"pathNormalization": {"normalization": "MERGE_SLASHES"}}, "MERGE_SLASHES"),
        ({"pathNormalization": {"normalization": "DECODE_AND_MERGE_SLASHES"}}, "DECODE_AND_MERGE_SLASHES"),
        ({"pathNormalization": {"normalization": "merge_slashes"}}, ValueError),
        ({"pathNormalization": {"normalization": "DECODE"}}, ValueError),
    ],
    ids=["absent", "empty", "default", "none", "merge", "decode", "lowercase", "unknown"],
)
def test_mesh_config_path_normalization(mesh: dict[str, Any], expected: Any) -> None:
    if expected is ValueError:
        with pytest.raises(ValueError, match=r"pathNormalization\.normalization: unknown mode"):
            MeshConfig.from_dict(mesh)
    else:
        assert MeshConfig.from_dict(mesh).path_normalization == expected


CONFIGMAP = """
apiVersion: v1
kind: ConfigMap
metadata: {{name: {name}, namespace: {ns}}}
data:
  mesh: |
{mesh}
"""


@pytest.mark.parametrize(
    ("name", "ns", "mesh", "error"),
    [
        ("istio", "istio-system", "pathNormalization: {normalization: MERGE_SLASHES}", None),
        ("istio", "istio-system", "pathNormalization: {normalization: MERGE}",
         "data.mesh: pathNormalization.normalization: unknown mode 'MERGE'"),
        ("istio", "istio-system", "pathNormalization: [1]", "data.mesh: pathNormalization: must be a mapping"),
        ("istio", "istio-system", "outboundTrafficPolicy: {mode: DENY}",
         "data.mesh: outboundTrafficPolicy.mode: unknown mode 'DENY'"),
        ("istio", "istio-system", "x: [", "data.mesh: invalid YAML"),
        ("istio", "istio-system", "- a", "data.mesh: mesh config must be a YAML mapping"),
        ("other", "istio-system", "pathNormalization: {normalization: MERGE}", None),
        ("istio", "default", "pathNormalization: {normalization: MERGE}", None),
    ],
    ids=["valid", "unknown-mode", "not-mapping", "bad-outbound", "bad-yaml", "list", "other-name", "other-ns"],
)  # fmt: skip
def test_istio_configmap_is_validated_on_load(name: str, ns: str, mesh: str, error: str | None) -> None:
    text = CONFIGMAP.format(name=name, ns=ns, mesh="    " + mesh)
    result = load_yaml(text, "mesh.yaml")
    messages = [str(e) for e in result.errors]
    if error is None:
        assert not messages and len(result.objects) == 1
    else:
        assert len(messages) == 1 and error in messages[0], messages
        assert "mesh.yaml" in messages[0] and f"ConfigMap {ns}/{name}" in messages[0], messages


def test_case_mesh_is_replaceable() -> None:
    """The helper really changes the mode (guards the table above against a no-op)."""
    xds = load_xds_case((DATA / "01-bookinfo-sidecar.input.yaml").read_text())
    assert dataclasses.replace(xds.mesh, path_normalization="NONE").path_normalization == "NONE"
    assert _listener_hcms("01-bookinfo-sidecar", "NONE") != _listener_hcms("01-bookinfo-sidecar", "BASE")
