"""``lateen logs`` and ``lateen exec``: picking the pod and container as kubectl does,
tailing and following log files, running a command with the pod's environment; through the
real CLI against a fake of the runtime's API, with real files and real child processes."""

from __future__ import annotations

import argparse
import io
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from lateen.cli import main
from lateen.cli._common import default_container, resolve_pod
from lateen.cli._exec import command_env, split_command
from lateen.cli._logs import follow, last_lines, pick_container, read_tail


def c(name: str) -> dict[str, Any]:
    return {"name": name, "log": f"/logs/{name}.log"}


PODS = [
    {"name": "reviews-v1-old", "namespace": "default", "owner": "Deployment/reviews-v1", "ready": False,
     "created": 10.0, "containers": [c("istio-proxy"), c("reviews")]},
    {"name": "reviews-v1-new", "namespace": "default", "owner": "Deployment/reviews-v1", "ready": True,
     "created": 20.0, "containers": [c("istio-proxy"), c("reviews")]},
    {"name": "ratings-v1-a", "namespace": "default", "owner": "Deployment/ratings-v1", "ready": False,
     "created": 5.0, "containers": [c("istio-proxy"), c("ratings")]},
    {"name": "gw-1", "namespace": "istio-system", "owner": "Deployment/istio-ingressgateway", "ready": True,
     "created": 1.0, "containers": [c("istio-proxy")]},
]


@pytest.mark.parametrize(
    ("target", "namespace", "expected", "error"),
    [
        ("reviews-v1-old", "default", "reviews-v1-old", ""),
        ("pod/reviews-v1-old", "default", "reviews-v1-old", ""),
        ("deploy/reviews-v1", "default", "reviews-v1-new", ""),  # the ready one
        ("deployment/ratings-v1", "default", "ratings-v1-a", ""),  # none ready: the first
        ("deploy/istio-ingressgateway", "istio-system", "gw-1", ""),
        ("gw-1", "default", None, 'Error from server (NotFound): pods "gw-1" not found'),
        ("deploy/nope", "default", None, 'Error from server (NotFound): deployments.apps "nope" not found'),
    ],
    ids=["pod", "pod-slash", "deploy-ready-pod", "deploy-none-ready", "gateway", "other-namespace", "no-deployment"],
)
def test_resolve_pod(target: str, namespace: str, expected: str | None, error: str) -> None:
    pod, err = resolve_pod(PODS, target, namespace)
    assert (pod["name"] if pod else None, err) == (expected, error)


@pytest.mark.parametrize(
    ("pod", "name", "expected", "error", "note"),
    [
        (PODS[0], None, "reviews", "", 'Defaulted container "reviews" out of: istio-proxy, reviews'),
        (PODS[0], "istio-proxy", "istio-proxy", "", ""),
        (PODS[3], None, "istio-proxy", "", ""),
        (PODS[0], "nope", None, "error: container nope is not valid for pod reviews-v1-old", ""),
    ],
    ids=["default-app-container", "sidecar", "gateway-only-proxy", "unknown-container"],
)
def test_pick_container(pod: Any, name: str | None, expected: str | None, error: str, note: str) -> None:
    container, err, got_note = pick_container(pod, name)
    assert (container["name"] if container else None, err, got_note) == (expected, error, note)
    assert default_container(pod) == (expected if name is None else default_container(pod))


@pytest.mark.parametrize(
    ("data", "n", "expected"),
    [
        (b"a\nb\nc\n", -1, b"a\nb\nc\n"),
        (b"a\nb\nc\n", 2, b"b\nc\n"),
        (b"a\nb\nc", 2, b"b\nc"),
        (b"a\nb\nc\n", 5, b"a\nb\nc\n"),
        (b"a\nb\nc\n", 0, b""),
        (b"", 3, b""),
    ],
    ids=["all", "last-two", "no-final-newline", "more-than-there-is", "zero", "empty"],
)
def test_last_lines(data: bytes, n: int, expected: bytes) -> None:
    assert last_lines(data, n) == expected
    assert read_tail(io.BytesIO(data), n) == expected


def test_read_tail_of_a_big_file_reads_backwards(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_bytes(b"".join(b"line %d\n" % i for i in range(100_000)))
    with open(path, "rb") as f:
        assert read_tail(f, 3) == b"line 99997\nline 99998\nline 99999\n"
        assert f.tell() == path.stat().st_size


def test_follow_prints_appends_and_survives_truncation_and_rotation(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"old\n")
    out = io.BytesIO()
    done = threading.Event()
    t = threading.Thread(target=follow, args=(str(path), 4, out),
                         kwargs={"stop": done.is_set, "interval": 0.01})
    t.start()
    try:
        with open(path, "ab") as f:
            f.write(b"new 1\n")
        deadline = time.monotonic() + 5
        while b"new 1" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
        path.write_bytes(b"cut\n")  # truncated
        while b"cut" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
        (tmp_path / "new.log").write_bytes(b"rotated, longer than before\n")
        os.replace(tmp_path / "new.log", path)  # replaced
        while b"rotated" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        done.set()
        t.join(5)
    assert out.getvalue() == b"new 1\ncut\nrotated, longer than before\n"


DEFAULTS = argparse.Namespace(namespace="default", container=None, state_dir=".lateen")


@pytest.mark.parametrize(
    ("words", "namespace", "container", "command", "error"),
    [
        (["curl", "-s", "x"], "default", None, ["curl", "-s", "x"], ""),
        (["sh", "-c", "a -- b"], "default", None, ["sh", "-c", "a -- b"], ""),
        (["-n", "ns", "-c", "app", "--", "curl", "-n", "x"], "ns", "app", ["curl", "-n", "x"], ""),
        (["-it", "--", "sh"], "default", None, ["sh"], ""),
        (["-n", "ns", "curl"], None, None, [], "error: separate the command from the flags with --"),
        (["--bogus", "--", "sh"], None, None, [], "error: unknown flag(s) --bogus"),
    ],
    ids=["plain", "double-dash-in-command", "flags-after-pod", "kubectl-it", "missing-separator", "unknown-flag"],
)
def test_split_command(words: list[str], namespace: str | None, container: str | None,
                       command: list[str], error: str) -> None:
    opts, cmd, err = split_command(words, DEFAULTS)
    assert cmd == command
    assert err.startswith(error) and bool(err) == bool(error)
    if opts is not None:
        assert (opts.namespace, opts.container) == (namespace, container)


def test_command_env_is_ours_without_proxies_plus_the_pods() -> None:
    env = command_env(
        {"PATH": "/bin", "http_proxy": "http://corp:3128", "HTTPS_PROXY": "x", "HOME": "/root"},
        {"HTTP_PROXY": "http://127.42.0.10:15001", "POD_NAME": "p"},
    )
    assert env == {"PATH": "/bin", "HOME": "/root", "HTTP_PROXY": "http://127.42.0.10:15001", "POD_NAME": "p"}


# -- through the CLI ------------------------------------------------------------------------------


@pytest.fixture
def mesh(fake_mesh: Any, make_pod: Any) -> Any:
    logs = fake_mesh.state_dir / "pods" / "default" / "productpage-v1-aaa"
    logs.mkdir(parents=True)
    (logs / "productpage.log").write_text("".join(f"request {i}\n" for i in range(10)))
    (logs / "istio-proxy.log").write_text('[2026-11-21T07:00:00.000Z] "GET /productpage HTTP/1.1" 200\n')
    containers = [
        {"name": "istio-proxy", "pid": 1, "restarts": 0, "running": True, "ready": True, "last_exit": None,
         "reason": "", "log": str(logs / "istio-proxy.log")},
        {"name": "productpage", "pid": 2, "restarts": 0, "running": True, "ready": True, "last_exit": None,
         "reason": "", "log": str(logs / "productpage.log")},
    ]
    fake_mesh.pods = [
        make_pod("productpage-v1-aaa", owner="Deployment/productpage-v1", containers=containers,
                 env={"POD_NAME": "productpage-v1-aaa", "HTTP_PROXY": "http://127.42.0.10:15001"},
                 exec_prefix=["env", "LATEEN_IN_POD=1"]),
    ]
    return fake_mesh


def test_logs_default_container_with_tail(mesh: Any, capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["logs", "deploy/productpage-v1", "--tail", "2", *mesh.args()]) == 0
    out, err = capfd.readouterr()
    assert out == "request 8\nrequest 9\n"
    assert err.strip() == 'Defaulted container "productpage" out of: istio-proxy, productpage'


def test_logs_of_the_sidecar(mesh: Any, capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["logs", "productpage-v1-aaa", "-c", "istio-proxy", *mesh.args()]) == 0
    assert '"GET /productpage HTTP/1.1" 200' in capfd.readouterr().out


@pytest.mark.parametrize(
    ("argv", "stderr"),
    [
        (["logs", "nope"], 'Error from server (NotFound): pods "nope" not found'),
        (["logs", "productpage-v1-aaa", "-c", "nope"], "error: container nope is not valid for pod productpage-v1-aaa"),
        (["logs", "deploy/productpage-v1", "-n", "other"],
         'Error from server (NotFound): deployments.apps "productpage-v1" not found'),
    ],
)
def test_logs_errors(mesh: Any, capfd: pytest.CaptureFixture[str], argv: list[str], stderr: str) -> None:
    assert main([*argv, *mesh.args()]) == 1
    assert capfd.readouterr().err.strip() == stderr


def test_exec_runs_with_the_pod_env_and_prefix_and_returns_its_exit_code(
    mesh: Any, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("http_proxy", "http://corp:3128")
    code = "import os, sys; print(os.environ['POD_NAME'], os.environ['HTTP_PROXY'], " \
           "os.environ.get('http_proxy'), os.environ['LATEEN_IN_POD']); sys.exit(3)"
    assert main(["exec", "deploy/productpage-v1", *mesh.args(), "--", sys.executable, "-c", code]) == 3
    assert capfd.readouterr().out == "productpage-v1-aaa http://127.42.0.10:15001 None 1\n"


def test_exec_flags_after_the_pod(mesh: Any, capfd: pytest.CaptureFixture[str]) -> None:
    argv = ["exec", "productpage-v1-aaa", "-c", "productpage", *mesh.args(), "--", sys.executable, "-c", "print('hi')"]
    assert main(argv) == 0
    assert capfd.readouterr().out == "hi\n"


@pytest.mark.parametrize(
    ("argv", "code", "stderr"),
    [
        (["exec", "nope", "--", "true"], 1, 'Error from server (NotFound): pods "nope" not found'),
        (["exec", "productpage-v1-aaa", "-c", "nope", "--", "true"], 1,
         "error: container nope is not valid for pod productpage-v1-aaa"),
        (["exec", "productpage-v1-aaa", "--", "lateen-no-such-command"], 127,
         "lateen-no-such-command"),  # env(1), the pod's exec prefix, says it (in the locale's words)
        (["exec", "productpage-v1-aaa"], 1, "error: you must specify at least one command: lateen exec POD -- CMD"),
    ],
    ids=["no-pod", "no-container", "no-command-binary", "no-command"],
)
def test_exec_errors(mesh: Any, capfd: pytest.CaptureFixture[str], argv: list[str], code: int, stderr: str) -> None:
    # flags go before POD here: after POD they belong to the command unless separated by --
    assert main([argv[0], *mesh.args(), *argv[1:]]) == code
    assert stderr in capfd.readouterr().err


def test_exec_without_prefix_reports_a_missing_command(mesh: Any, capfd: pytest.CaptureFixture[str]) -> None:
    mesh.pods[0]["exec_prefix"] = []
    assert main(["exec", *mesh.args(), "productpage-v1-aaa", "--", "lateen-no-such-command"]) == 127
    assert capfd.readouterr().err.strip() == "error: lateen-no-such-command: executable file not found"
    assert os.environ.get("LATEEN_IN_POD") is None
