"""Messages as istioctl prints them: text lines (with file:line and color), JSON and YAML, the
order, selection by namespace / level / suppression, and the lines of fields in files."""

from __future__ import annotations

import json

import pytest
import yaml

from lateen.analyze import Level, Message, Resource, analyze_documents, render, select
from lateen.analyze import _codes as C
from lateen.analyze._lines import field_line

VS = Resource("VirtualService", "default", "reviews")
VS_FILE = Resource("VirtualService", "default", "reviews", "vs.yaml", 3)
NS = Resource("Namespace", "", "plain")
NOT_FOUND = Message(C.REFERENCED_RESOURCE_NOT_FOUND, VS, ("host", '"reviews2"'))
IN_FILE = Message(C.REFERENCED_RESOURCE_NOT_FOUND, VS_FILE, ("gateway", '"gw"'), "spec.gateways[0]", 9)
UNREACHABLE = Message(C.VS_UNREACHABLE_RULE, VS, ("#1", "all matches used by prior rules"))
NOT_INJECTED = Message(C.NAMESPACE_NOT_INJECTED, NS, ("plain", "plain"))


@pytest.mark.parametrize(
    ("message", "color", "expected"),
    [
        (NOT_FOUND, False, 'Error [IST0101] (VirtualService default/reviews) Referenced host not found: "reviews2"'),
        (IN_FILE, False, 'Error [IST0101] (VirtualService default/reviews vs.yaml:9) Referenced gateway not found: "gw"'),
        (
            Message(C.REFERENCED_RESOURCE_NOT_FOUND, VS_FILE, ("host", '"x"')),
            False,
            'Error [IST0101] (VirtualService default/reviews vs.yaml:3) Referenced host not found: "x"',
        ),
        (NOT_FOUND, True, '\033[1;31mError\033[0m [IST0101] (VirtualService default/reviews) Referenced host not found: "reviews2"'),
        (UNREACHABLE, True, "\033[33mWarning\033[0m [IST0130] (VirtualService default/reviews) VirtualService rule #1 not used (all matches used by prior rules)."),
        (NOT_INJECTED, True, "Info [IST0102] (Namespace plain) " + C.NAMESPACE_NOT_INJECTED.render(("plain", "plain"))),
    ],
    ids=["plain", "file-and-field-line", "file-and-object-line", "error-red", "warning-yellow", "info-uncolored"],
)
def test_render_line(message: Message, color: bool, expected: str) -> None:
    assert message.render(color) == expected


def test_json_is_istioctls() -> None:
    out = render([IN_FILE, NOT_INJECTED], "json")
    assert out.startswith('[\n\t{\n\t\t"code": "IST0101",\n\t\t"documentationUrl": ')
    assert json.loads(out) == [
        {
            "code": "IST0101",
            "documentationUrl": "https://istio.io/latest/docs/reference/config/analysis/ist0101/?ref=istioctl-analyze",
            "level": "Error",
            "message": 'Referenced gateway not found: "gw"',
            "origin": "VirtualService default/reviews",
            "reference": "vs.yaml:9",
        },
        {
            "code": "IST0102",
            "documentationUrl": "https://istio.io/latest/docs/reference/config/analysis/ist0102/?ref=istioctl-analyze",
            "level": "Info",
            "message": C.NAMESPACE_NOT_INJECTED.render(("plain", "plain")),
            "origin": "Namespace plain",
        },
    ]


@pytest.mark.parametrize(("output", "expected"), [("json", "[]"), ("yaml", "[]"), ("log", "")], ids=["json", "yaml", "log"])
def test_render_nothing(output: str, expected: str) -> None:
    assert render([], output) == expected


def test_yaml_round_trips() -> None:
    out = render([NOT_FOUND], "yaml")
    assert yaml.safe_load(out) == [NOT_FOUND.to_dict()]
    assert out.startswith("- code: IST0101\n  documentationUrl: ")


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, [NOT_FOUND, UNREACHABLE, NOT_INJECTED]),
        ({"namespace": "default"}, [NOT_FOUND, UNREACHABLE]),
        ({"namespace": "plain"}, [NOT_INJECTED]),
        ({"namespace": "other"}, []),
        ({"threshold": Level.WARNING}, [NOT_FOUND, UNREACHABLE]),
        ({"threshold": Level.ERROR}, [NOT_FOUND]),
        ({"suppress": [("IST0101", "VirtualService default/reviews")]}, [UNREACHABLE, NOT_INJECTED]),
        ({"suppress": [("IST0101", "VirtualService default/*")]}, [UNREACHABLE, NOT_INJECTED]),
        ({"suppress": [("IST0101", "VirtualService other/*")]}, [NOT_FOUND, UNREACHABLE, NOT_INJECTED]),
        ({"suppress": [("IST0102", "*")]}, [NOT_FOUND, UNREACHABLE]),
    ],
    ids=["all", "namespace", "namespace-of-a-namespace", "other-namespace", "warning-up", "errors",
         "suppress-exact", "suppress-wildcard", "suppress-other", "suppress-code-everywhere"],
)
def test_select(kwargs: dict, expected: list[Message]) -> None:
    assert select([NOT_FOUND, UNREACHABLE, NOT_INJECTED], **kwargs) == expected


def test_suppress_annotation() -> None:
    text = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: a
  annotations: {galley.istio.io/analyze-suppress: "IST0101,IST0999"}
spec:
  hosts: [a]
  http: [{route: [{destination: {host: nope}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: b
  annotations: {galley.istio.io/analyze-suppress: "*"}
spec:
  hosts: [b]
  http: [{route: [{destination: {host: nope}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: c}
spec:
  hosts: [c]
  http: [{route: [{destination: {host: nope}}]}]
"""
    result = analyze_documents([{"source": "x.yaml", "text": text}])
    assert [m.origin for m in select(result.messages)] == ["VirtualService default/c"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Info", Level.INFO), ("warning", Level.WARNING), ("ERROR", Level.ERROR)],
    ids=["Info", "warning", "ERROR"],
)
def test_level_parse(text: str, expected: Level) -> None:
    assert Level.parse(text) is expected


def test_level_parse_rejects() -> None:
    with pytest.raises(ValueError, match="one of Info, Warning, Error"):
        Level.parse("fatal")


def test_sorted_by_level_code_resource_and_deduplicated() -> None:
    text = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: b}
spec:
  hosts: [b]
  http:
  - route: [{destination: {host: nope}}]
  - route: [{destination: {host: nope}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: a}
spec:
  hosts: [a]
  http: [{route: [{destination: {host: nope}}]}]
"""
    result = analyze_documents([{"source": "", "text": text}])
    assert [f"{m.type.code} {m.origin}" for m in result.messages] == [
        "IST0101 VirtualService default/a",
        "IST0101 VirtualService default/b",
        "IST0130 VirtualService default/b",
    ]
    # in a file the two destinations of b are two messages: they are on different lines
    result = analyze_documents([{"source": "f.yaml", "text": text}])
    assert [m.reference for m in result.messages if m.type.code == "IST0101"] == ["f.yaml:16", "f.yaml:8", "f.yaml:9"]


FILE = """# leading comment
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts:
  - reviews
  gateways:
  - mesh
  - missing
  http:
  - route:
    - destination:
        host: reviews
"""


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("metadata.name", 5),
        ("spec.gateways[1]", 11),
        ("spec.http[0].route[0].destination.host", 15),
        ("spec.http[1]", 0),
        ("spec.nothing", 0),
    ],
    ids=["key", "list-item", "deep", "missing-index", "missing-key"],
)
def test_field_line(path: str, line: int) -> None:
    node = yaml.compose(FILE)
    assert node is not None
    assert field_line(node, path) == line


def test_lines_of_a_second_document_and_a_list() -> None:
    text = FILE + "---\napiVersion: v1\nkind: List\nitems:\n- " + FILE.replace("name: reviews", "name: other").replace(
        "\n", "\n  "
    ).replace("# leading comment\n  ", "")
    result = analyze_documents([{"source": "f.yaml", "text": text}])
    refs = {(m.origin, m.text): m.reference for m in result.messages if m.type.code == "IST0101"}
    assert refs == {
        ("VirtualService default/reviews", 'Referenced gateway not found: "missing"'): "f.yaml:11",
        ("VirtualService default/reviews", 'Referenced host not found: "reviews"'): "f.yaml:15",
        ("VirtualService default/other", 'Referenced gateway not found: "missing"'): "f.yaml:29",
        ("VirtualService default/other", 'Referenced host not found: "reviews"'): "f.yaml:33",
    }
