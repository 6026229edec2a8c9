"""The samples' YAML: every file validates, and the Deployments run scripts that exist,
under the service accounts and labels Istio's samples use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from samples_support import SAMPLES

from lateen.cli import main as lateen

YAML_FILES = sorted(p for p in SAMPLES.rglob("*.yaml") if p.name != "kustomization.yaml")


@pytest.mark.parametrize("path", YAML_FILES, ids=[str(p.relative_to(SAMPLES)) for p in YAML_FILES])
def test_manifest_validates(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = lateen(["validate", "-f", str(path)])
    assert rc == 0, capsys.readouterr()


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _deployments(path: Path) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _docs(path) if d["kind"] == "Deployment"}


BOOKINFO_DEPLOYMENTS = [
    (
        "details-v1",
        "details",
        "v1",
        "bookinfo-details",
        "src/details.py",
        {"SERVICE_VERSION": "v1"},
    ),
    (
        "ratings-v1",
        "ratings",
        "v1",
        "bookinfo-ratings",
        "src/ratings.py",
        {"SERVICE_VERSION": "v1"},
    ),
    (
        "reviews-v1",
        "reviews",
        "v1",
        "bookinfo-reviews",
        "src/reviews.py",
        {"SERVICE_VERSION": "v1", "ENABLE_RATINGS": "false"},
    ),
    (
        "reviews-v2",
        "reviews",
        "v2",
        "bookinfo-reviews",
        "src/reviews.py",
        {"SERVICE_VERSION": "v2", "STAR_COLOR": "black"},
    ),
    (
        "reviews-v3",
        "reviews",
        "v3",
        "bookinfo-reviews",
        "src/reviews.py",
        {"SERVICE_VERSION": "v3", "STAR_COLOR": "red"},
    ),
    ("productpage-v1", "productpage", "v1", "bookinfo-productpage", "src/productpage.py", {}),
]


@pytest.mark.parametrize(
    ("name", "app", "version", "account", "script", "env"),
    BOOKINFO_DEPLOYMENTS,
    ids=[d[0] for d in BOOKINFO_DEPLOYMENTS],
)
def test_bookinfo_deployment(
    name: str, app: str, version: str, account: str, script: str, env: dict[str, str]
) -> None:
    path = SAMPLES / "bookinfo" / "platform" / "bookinfo.yaml"
    docs = _docs(path)
    dep = _deployments(path)[name]
    labels = {"app": app, "version": version}
    assert dep["spec"]["selector"]["matchLabels"] == labels
    pod = dep["spec"]["template"]
    assert pod["metadata"]["labels"] == labels
    assert pod["spec"]["serviceAccountName"] == account
    assert account in {d["metadata"]["name"] for d in docs if d["kind"] == "ServiceAccount"}
    service = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == app)
    assert service["spec"]["selector"] == {"app": app}
    assert service["spec"]["ports"] == [{"port": 9080, "name": "http"}]
    (container,) = pod["spec"]["containers"]
    assert container["command"] == ["python3", script]
    assert (SAMPLES / "bookinfo" / script).is_file()
    assert container["ports"] == [{"containerPort": 9080}]
    assert container["image"].startswith(f"docker.io/istio/examples-bookinfo-{app}-{version}:")
    got_env = {e["name"]: e["value"] for e in container.get("env", [])}
    assert env.items() <= got_env.items()


@pytest.mark.parametrize(
    ("deployment", "folder", "args"),
    [
        ("tcp-echo-v1", "tcp-echo", ["9000,9001,9002", "one"]),
        ("tcp-echo-v2", "tcp-echo", ["9000,9001,9002", "two"]),
    ],
    ids=["v1", "v2"],
)
def test_tcp_echo_deployments(deployment: str, folder: str, args: list[str]) -> None:
    dep = _deployments(SAMPLES / folder / "tcp-echo-services.yaml")[deployment]
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python3", "src/tcp_echo.py"]
    assert container["args"] == args
    assert (SAMPLES / folder / "src" / "tcp_echo.py").is_file()


def test_httpbin_service_maps_8000_to_8080() -> None:
    docs = _docs(SAMPLES / "httpbin" / "httpbin.yaml")
    service = next(d for d in docs if d["kind"] == "Service")
    assert service["spec"]["ports"] == [{"name": "http", "port": 8000, "targetPort": 8080}]
    (container,) = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"][
        "containers"
    ]
    assert container["command"] == ["python3", "src/httpbin.py"]
    assert {"name": "PORT", "value": "8080"} in container["env"]
    assert container["ports"] == [{"containerPort": 8080}]


def test_tcp_shifting_weights() -> None:
    (vs,) = _docs(SAMPLES / "tcp-echo" / "tcp-echo-20-v2.yaml")
    routes = vs["spec"]["tcp"][0]["route"]
    assert [(r["destination"]["subset"], r["weight"]) for r in routes] == [("v1", 80), ("v2", 20)]
