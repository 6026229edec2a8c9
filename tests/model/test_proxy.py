"""Proxy metadata accessors: interception mode, app address, port bindings (explicit mode)."""

from __future__ import annotations

from typing import Any

import pytest

from lateen.model import parse_node
from lateen.model._proxy import InterceptionMode

NODE = "sidecar~127.42.0.7~productpage-v1-1.default~default.svc.cluster.local"


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({}, InterceptionMode.REDIRECT),
        ({"INTERCEPTION_MODE": "REDIRECT"}, InterceptionMode.REDIRECT),
        ({"INTERCEPTION_MODE": "TPROXY"}, InterceptionMode.TPROXY),
        ({"INTERCEPTION_MODE": "NONE"}, InterceptionMode.NONE),
        ({"INTERCEPTION_MODE": " none "}, InterceptionMode.NONE),
        ({"INTERCEPTION_MODE": "SOMETHING"}, InterceptionMode.REDIRECT),
        ({"INTERCEPTION_MODE": ""}, InterceptionMode.REDIRECT),
        ({"INTERCEPTION_MODE": None}, InterceptionMode.REDIRECT),
    ],
    ids=["absent", "redirect", "tproxy", "none", "lowercase-padded", "unknown", "empty", "null"],
)
def test_interception_mode(metadata: dict[str, Any], expected: InterceptionMode) -> None:
    assert parse_node(NODE, metadata).interception_mode is expected


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({}, "127.0.0.1"),
        ({"LATEEN_APP_ADDRESS": "127.43.0.7"}, "127.43.0.7"),
        ({"LATEEN_APP_ADDRESS": " 127.43.0.7 "}, "127.43.0.7"),
        ({"LATEEN_APP_ADDRESS": ""}, "127.0.0.1"),
        ({"INBOUND_ADDRESS": "127.9.9.9"}, "127.0.0.1"),
    ],
    ids=["absent", "set", "padded", "empty", "inbound-address-is-another-key"],
)
def test_app_address(metadata: dict[str, Any], expected: str) -> None:
    assert parse_node(NODE, metadata).app_address == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, {}),
        ({"8080": "127.0.0.1:18080"}, {8080: ("127.0.0.1", 18080)}),
        ('{"8080": "127.0.0.1:18080"}', {8080: ("127.0.0.1", 18080)}),
        ("", {}),
        ("not json", {}),
        ('["8080"]', {}),
        ({8080: "127.0.0.1:18080"}, {8080: ("127.0.0.1", 18080)}),
        ({8080.0: "127.0.0.1:18080"}, {8080: ("127.0.0.1", 18080)}),
        (
            {"9090": "127.0.0.2:19090", "8080": "127.0.0.1:18080"},
            {8080: ("127.0.0.1", 18080), 9090: ("127.0.0.2", 19090)},
        ),
        ({"8080": "[::1]:18080"}, {8080: ("::1", 18080)}),
        ({"8080": "127.0.0.1"}, {}),
        ({"8080": ":18080"}, {}),
        ({"8080": "127.0.0.1:0"}, {}),
        ({"8080": "127.0.0.1:70000"}, {}),
        ({"8080": "127.0.0.1:http"}, {}),
        ({"http": "127.0.0.1:18080"}, {}),
        ({"0": "127.0.0.1:18080"}, {}),
        ({"8080": 18080}, {}),
        ({"8080": "127.0.0.1:18080", "x": "y"}, {8080: ("127.0.0.1", 18080)}),
    ],
    ids=[
        "absent",
        "struct",
        "json-string",
        "empty-string",
        "bad-json",
        "json-not-a-mapping",
        "int-key",
        "float-key",
        "sorted-by-port",
        "ipv6",
        "no-port",
        "no-host",
        "port-zero",
        "port-too-big",
        "port-not-a-number",
        "key-not-a-port",
        "key-zero",
        "value-not-a-string",
        "bad-entries-skipped",
    ],
)
def test_port_bindings(raw: Any, expected: dict[int, tuple[str, int]]) -> None:
    md = {} if raw is None else {"LATEEN_PORT_BINDINGS": raw}
    bindings = parse_node(NODE, md).port_bindings
    assert dict(bindings) == expected
    assert list(bindings) == sorted(expected)
