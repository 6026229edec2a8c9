"""Table tests for the Telemetry model, its validator and the CEL filter syntax check."""

from __future__ import annotations

from typing import Any

import pytest

from lateen.api import ValidationContext
from lateen.api.telemetry import Telemetry, check_cel_syntax, validate_telemetry


def _errors(spec: dict[str, Any]) -> list[str]:
    ctx = ValidationContext(namespace="istio-system")
    validate_telemetry(Telemetry.model_validate(spec), ctx)
    return [str(d) for d in ctx.errors]


CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("access-log-envoy", {"accessLogging": [{"providers": [{"name": "envoy"}]}]}, "", ""),
    (
        "sampling-bounds",
        {"tracing": [{"randomSamplingPercentage": 0}, {"randomSamplingPercentage": 100}]},
        "",
        "",
    ),
    (
        "sampling-negative",
        {"tracing": [{"randomSamplingPercentage": -1}]},
        "spec.tracing[0].randomSamplingPercentage",
        "[0.0, 100.0]",
    ),
    (
        "provider-empty",
        {"tracing": [{"providers": [{}]}]},
        "spec.tracing[0].providers[0].name",
        "may not be empty",
    ),
    (
        "tag-name-empty",
        {"tracing": [{"customTags": {"": {"literal": {"value": "x"}}}}]},
        "spec.tracing[0].customTags",
        "tag name may not be empty",
    ),
    (
        "tag-two-kinds",
        {"tracing": [{"customTags": {"t": {"literal": {"value": "x"}, "header": {"name": "h"}}}}]},
        "spec.tracing[0].customTags.t",
        "only one of literal, environment or header",
    ),
    (
        "tag-env-name",
        {"tracing": [{"customTags": {"t": {"environment": {}}}}]},
        "spec.tracing[0].customTags.t.environment.name",
        "may not be empty",
    ),
    (
        "upsert-without-value",
        {"metrics": [{"overrides": [{"tagOverrides": {"a": {}}}]}]},
        "spec.metrics[0].overrides[0].tagOverrides.a.value",
        "must be set when operation is UPSERT",
    ),
    (
        "remove-with-value",
        {
            "metrics": [
                {"overrides": [{"tagOverrides": {"a": {"operation": "REMOVE", "value": "x"}}}]}
            ]
        },
        "spec.metrics[0].overrides[0].tagOverrides.a.value",
        "may only be set when operation is UPSERT",
    ),
    (
        "custom-metric-empty",
        {"metrics": [{"overrides": [{"match": {"customMetric": ""}}]}]},
        "spec.metrics[0].overrides[0].match.customMetric",
        "may not be empty",
    ),
    (
        "reporting-interval",
        {"metrics": [{"reportingInterval": "0.1ms"}]},
        "spec.metrics[0].reportingInterval",
        "greater than 1ms",
    ),
    (
        "filter-invalid",
        {"accessLogging": [{"filter": {"expression": "a =="}}]},
        "spec.accessLogging[0].filter.expression",
        "valid CEL",
    ),
    (
        "filter-empty",
        {"accessLogging": [{"filter": {}}]},
        "spec.accessLogging[0].filter.expression",
        "valid CEL",
    ),
    (
        "target-ref-gateway",
        {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"}]},
        "",
        "",
    ),
    (
        "target-ref-namespace",
        {"targetRef": {"kind": "Service", "name": "a", "namespace": "b"}},
        "spec.targetRef.namespace",
        "cross namespace",
    ),
]


@pytest.mark.parametrize(
    ("spec", "path", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_telemetry(spec: dict[str, Any], path: str, message: str) -> None:
    errors = _errors(spec)
    if not path:
        assert errors == []
    else:
        assert any(e.startswith(f"{path}: ") and message in e for e in errors), errors


def test_multiple_tracing_is_a_warning() -> None:
    ctx = ValidationContext()
    validate_telemetry(Telemetry.model_validate({"tracing": [{}, {}]}), ctx)
    assert ctx.errors == []
    assert [str(d) for d in ctx.diagnostics] == [
        "spec.tracing: multiple tracing is not currently supported"
    ]


CEL: list[tuple[str, bool]] = [
    ("response.code >= 400", True),
    ("response.code >= 400 || xds.cluster_name == 'BlackHoleCluster'", True),
    ("!has(request.useragent) || !request.useragent.startsWith('kube-probe/')", True),
    ("request.headers['x-user'] in ['a', \"b\"] && size(request.path) > 0", True),
    ("connection.mtls ? 1 : 2", True),
    ("{'a': 1, 'b': [1, 2.5, 0x1F, 3u]}.size() == 2", True),
    ("-(1 + 2) * 3 % 4 / 5 != -1", True),
    ("", False),
    ("response.code >=", False),
    ("(response.code == 200", False),
    ("response.code == 200)", False),
    ("a b", False),
    ("a.", False),
    ("'unterminated", False),
    ("a ? b", False),
    ("a # b", False),
]


@pytest.mark.parametrize(
    ("expr", "ok"), CEL, ids=[f"{n}-{'ok' if ok else 'bad'}" for n, (_, ok) in enumerate(CEL)]
)
def test_cel_syntax(expr: str, ok: bool) -> None:
    assert (check_cel_syntax(expr) is None) is ok
