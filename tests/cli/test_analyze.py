"""``lateen analyze``: files alone, the running mesh (a fake of the local API) and both; exit
codes, thresholds, suppressions, namespaces, output formats, istioctl's closing lines."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from lateen.cli._main import main

ROOT = Path(__file__).resolve().parents[2]
NET = "samples/bookinfo/networking"
DOC = "See https://istio.io/latest/docs/reference/config/analysis for more information about causes and resolutions."

REVIEWS_V9 = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination:
        host: reviews
        subset: v9
"""
TWO_CATCH_ALLS = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews}}]
  - route: [{destination: {host: reviews}}]
---
apiVersion: v1
kind: Service
metadata: {name: reviews}
spec: {ports: [{name: http, port: 9080}]}
"""
UNREACHABLE = (
    "Warning [IST0130] (VirtualService default/reviews vs.yaml:8) VirtualService rule #1 not used "
    "(only the last rule can have no matches)."
)


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("LATEEN_STATE_DIR", str(tmp_path / "no-mesh"))
    monkeypatch.delenv("TERM", raising=False)


def analyze(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(["analyze", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_bookinfo_files_alone_are_clean(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = analyze(capsys, "samples/bookinfo")
    assert (rc, out) == (0, "")
    assert err == (
        "\u2714 No validation issues found when analyzing samples/bookinfo/platform/bookinfo.yaml\n"
        "samples/bookinfo/networking/bookinfo-gateway.yaml.\n"
    )


def test_an_error_exits_1_with_istioctls_lines(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    vs = write(tmp_path, "vs.yaml", REVIEWS_V9)
    rc, out, err = analyze(capsys, "samples/bookinfo", "-f", vs)
    assert rc == 1
    assert out == (
        f"Error [IST0101] (VirtualService default/reviews {vs}:10) Referenced host+subset in "
        'destinationrule not found: "reviews+v9"\n'
    )
    assert err == f"Error: Analyzers found issues when analyzing namespace: default.\n{DOC}\n"


@pytest.mark.parametrize(
    ("args", "rc", "shown"),
    [
        ([], 0, [UNREACHABLE]),
        (["--failure-threshold", "Warning"], 1, [UNREACHABLE]),
        (["--failure-threshold", "info"], 1, [UNREACHABLE]),
        (["--output-threshold", "Error"], 0, []),
        (["--output-threshold", "Error", "--failure-threshold", "Warning"], 1, []),
        (["-S", "IST0130=VirtualService default/reviews"], 0, []),
        (["--suppress", "IST0130=VirtualService default/*", "--failure-threshold", "Warning"], 0, []),
        (["-n", "other"], 0, []),
        (["-A"], 0, [UNREACHABLE]),
    ],
    ids=["warning-passes", "failure-threshold-warning", "failure-threshold-info", "output-threshold-hides",
         "hidden-still-fails", "suppressed", "suppressed-wildcard", "other-namespace", "all-namespaces"],
)
def test_thresholds_suppressions_and_namespaces(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], rc: int, shown: list[str]
) -> None:
    write(tmp_path, "vs.yaml", TWO_CATCH_ALLS.replace("name: reviews}", "name: reviews, namespace: default}"))
    os.chdir(tmp_path)
    got_rc, out, _ = analyze(capsys, "vs.yaml", *args)
    assert (got_rc, out.splitlines()) == (rc, shown)


def test_files_without_namespace_go_to_the_analyzed_one(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    vs = write(tmp_path, "vs.yaml", TWO_CATCH_ALLS)
    rc, out, err = analyze(capsys, vs, "-n", "shop")
    assert rc == 0
    assert out.startswith("Warning [IST0130] (VirtualService shop/reviews ")
    assert err == ""


def test_json_output(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    vs = write(tmp_path, "vs.yaml", REVIEWS_V9)
    rc, out, _ = analyze(capsys, "samples/bookinfo", vs, "-o", "json")
    assert rc == 1  # the exit code holds for every output format (istioctl: only for the log format)
    assert json.loads(out) == [
        {
            "code": "IST0101",
            "documentationUrl": "https://istio.io/latest/docs/reference/config/analysis/ist0101/?ref=istioctl-analyze",
            "level": "Error",
            "message": 'Referenced host+subset in destinationrule not found: "reviews+v9"',
            "origin": "VirtualService default/reviews",
            "reference": f"{vs}:10",
        }
    ]
    assert "\n\t{\n\t\t\"code\"" in out


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_clean_structured_output_is_an_empty_list(capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    rc, out, err = analyze(capsys, "samples/bookinfo", "-o", fmt)
    assert (rc, out) == (0, "[]\n")
    assert err.startswith("\u2714 No validation issues found")


def test_yaml_output(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    vs = write(tmp_path, "vs.yaml", REVIEWS_V9)
    rc, out, _ = analyze(capsys, "samples/bookinfo", vs, "-o", "yaml")
    assert rc == 1
    assert [m["code"] for m in yaml.safe_load(out)] == ["IST0101"]


def test_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO(REVIEWS_V9))
    rc, out, _ = analyze(capsys, "samples/bookinfo", "-")
    assert rc == 1
    assert out.startswith("Error [IST0101] (VirtualService default/reviews -:10) ")


def test_unparsable_file_fails(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", "apiVersion: v1\nkind: [unclosed\n")
    rc, out, err = analyze(capsys, bad)
    assert (rc, out) == (1, "")
    assert "Error(s) adding files: " in err and bad in err
    assert "No validation issues found when analyzing namespace: default (but 1 file could not be parsed)." in err
    assert err.endswith("Error: Some files couldn't be parsed.\n")


def test_invalid_object_is_a_message(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", REVIEWS_V9.replace("  - route:", "  - timeout: soon\n    route:"))
    rc, out, _ = analyze(capsys, bad)
    assert rc == 1
    assert out == (
        f"Error [IST0106] (VirtualService default/reviews {bad}:8) Schema validation error: "
        "spec.http[0].timeout: invalid duration 'soon'\n"
    )


def test_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = analyze(capsys, "no/such.yaml")
    assert (rc, out) == (1, "")
    assert "no such file or directory" in err


def test_bad_suppression(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = analyze(capsys, "samples/bookinfo", "-S", "IST0101")
    assert rc == 1
    assert "IST0101 is not a valid suppression value" in err


def test_unknown_suppression_code_warns(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = analyze(capsys, "samples/bookinfo", "-S", "IST9999=Pod x")
    assert rc == 0
    assert "Warning: Supplied message code 'IST9999' is an unknown message code" in err


def test_no_mesh_and_no_files(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = analyze(capsys)
    assert (rc, out) == (1, "")
    assert err.startswith("Error: no mesh is running from ")


def test_list_analyzers(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = analyze(capsys, "-L")
    assert rc == 0
    names = [line[2:-1] for line in out.splitlines() if line.startswith("* ")]
    assert names == sorted(names)
    assert "virtualservice.DestinationHostAnalyzer" in names
    assert "gateway.ConflictingGatewayAnalyzer" in names


def test_color(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    vs = write(tmp_path, "vs.yaml", REVIEWS_V9)
    _, out, _ = analyze(capsys, "samples/bookinfo", vs, "--color")
    assert out.startswith("\033[1;31mError\033[0m [IST0101]")


# -- the running mesh ------------------------------------------------------------------------


def _doc(text: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(text)
    data["metadata"].setdefault("namespace", "default")
    return data


def _mesh_objects() -> list[dict[str, Any]]:
    bookinfo = [d for d in yaml.safe_load_all((ROOT / "samples/bookinfo/platform/bookinfo.yaml").read_text()) if d]
    for d in bookinfo:
        d["metadata"].setdefault("namespace", "default")
    pods = [
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": f"reviews-{v}-abc", "namespace": "default", "labels": {"app": "reviews", "version": v}},
         "spec": {"containers": [{"name": "reviews"}]}}
        for v in ("v1", "v2", "v3")
    ]
    return [*bookinfo, _doc(REVIEWS_V9), *pods]


def test_running_mesh(capsys: pytest.CaptureFixture[str], fake_mesh: Any) -> None:
    fake_mesh.objects = _mesh_objects()
    rc, out, err = analyze(capsys, *fake_mesh.args())
    assert rc == 1
    assert out == (
        "Error [IST0101] (VirtualService default/reviews) Referenced host+subset in destinationrule "
        'not found: "reviews+v9"\n'
    )
    assert err.startswith("Error: Analyzers found issues when analyzing namespace: default.")
    assert "/v1/objects?group=&kind=Pod" in fake_mesh.requests


def test_files_on_top_of_the_running_mesh(capsys: pytest.CaptureFixture[str], fake_mesh: Any) -> None:
    """A file's object replaces the mesh's object of the same name (as istioctl analyze FILE
    against a cluster): the fixed VirtualService and its subsets make the mesh clean; the
    running pods stand for the Deployments, so the reviews subsets select pods."""
    fake_mesh.objects = _mesh_objects()
    rc, out, err = analyze(
        capsys, *fake_mesh.args(), f"{NET}/virtual-service-reviews-v3.yaml", f"{NET}/destination-rule-reviews.yaml"
    )
    assert (rc, out) == (0, "")
    assert err.startswith("\u2714 No validation issues found when analyzing samples/bookinfo/networking/")


def test_use_kube_false_ignores_the_running_mesh(capsys: pytest.CaptureFixture[str], fake_mesh: Any) -> None:
    fake_mesh.objects = _mesh_objects()
    rc, out, _ = analyze(capsys, *fake_mesh.args(), "--use-kube=false", "samples/bookinfo")
    assert (rc, out) == (0, "")
    assert fake_mesh.requests == []
