"""The tcp-echo sample as a real process: ``<prefix> <line>`` per line, on every port given."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator

import pytest
from samples_support import NO_PROXY_ENV, SAMPLES

from lateen.testing.procs import Processes, free_port, wait_for

SCRIPT = SAMPLES / "tcp-echo" / "src" / "tcp_echo.py"


def _connects(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


@pytest.fixture(scope="module")
def echo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    ports = {"v1-a": free_port(), "v1-b": free_port(), "v2": free_port(), "default": free_port()}
    with Processes(tmp_path_factory.mktemp("tcp-echo")) as procs:
        # Istio's manifest style: "<ports>" "<prefix>"
        procs.start(
            "v1",
            [sys.executable, str(SCRIPT), f"{ports['v1-a']},{ports['v1-b']}", "one"],
            NO_PROXY_ENV,
        )
        # prefix only, port from $PORT
        procs.start(
            "v2", [sys.executable, str(SCRIPT), "two"], {**NO_PROXY_ENV, "PORT": str(ports["v2"])}
        )
        procs.start(
            "default",
            [sys.executable, str(SCRIPT)],
            {**NO_PROXY_ENV, "PORT": str(ports["default"])},
        )
        for name, port in ports.items():
            wait_for(lambda port=port: _connects(port), what=f"tcp-echo {name} listening")
        yield ports


def exchange(port: int, payload: bytes, expect_lines: int) -> list[bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(payload)
        data = b""
        while data.count(b"\n") < expect_lines:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.splitlines(keepends=True)


@pytest.mark.parametrize(
    ("server", "payload", "replies"),
    [
        ("v1-a", b"hello\n", [b"one hello\n"]),
        ("v1-b", b"hello\n", [b"one hello\n"]),
        ("v2", b"hello\n", [b"two hello\n"]),
        ("default", b"x\n", [b"hello x\n"]),
        ("v1-a", b"a\nb c\n", [b"one a\n", b"one b c\n"]),
    ],
    ids=["v1-first-port", "v1-second-port", "v2-prefix-from-args", "default-prefix", "two-lines"],
)
def test_echo_prefix(
    echo: dict[str, int], server: str, payload: bytes, replies: list[bytes]
) -> None:
    assert exchange(echo[server], payload, len(replies)) == replies


def test_partial_line_gets_no_reply(echo: dict[str, int]) -> None:
    with socket.create_connection(("127.0.0.1", echo["v1-a"]), timeout=5) as s:
        s.sendall(b"no newline")
        s.shutdown(socket.SHUT_WR)
        assert s.recv(100) == b""
