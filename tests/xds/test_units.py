"""Unit tables for names, route matches, retry defaults and the generator contract."""

from __future__ import annotations

from typing import Any

import pytest

from lateen.api import load_yaml
from lateen.api.networking import HTTPMatchRequest
from lateen.model import (
    FULL_PUSH,
    MeshConfig,
    Proxy,
    ProxyType,
    PushRequest,
    TriggerReason,
    build_push_context,
)
from lateen.testing.golden import message_to_data
from lateen.xds import default_generators, names
from lateen.xds.nds import NAME_TABLE_TYPE
from lateen.xds.route import default_retry_policy, route_match
from lateen.xds.secret import SECRET_TYPE


def test_names() -> None:
    assert names.outbound_cluster_name(9080, "v1", "reviews.default.svc.cluster.local") == (
        "outbound|9080|v1|reviews.default.svc.cluster.local"
    )
    assert names.inbound_cluster_name(9080) == "inbound|9080||"
    assert names.parse_cluster_name("outbound|9080||a.b") == ("outbound", 9080, "", "a.b")
    assert names.parse_cluster_name("BlackHoleCluster") is None
    assert names.listener_name("198.18.0.1", 3306) == "198.18.0.1_3306"
    assert (
        names.sni_name(9080, "v1", "r.default.svc.cluster.local")
        == "outbound_.9080_.v1_.r.default.svc.cluster.local"
    )


@pytest.mark.parametrize(
    ("match", "expected"),
    [
        (None, {"prefix": "/"}),
        ({"uri": {"exact": "/a"}}, {"path": "/a", "case_sensitive": True}),
        (
            {"uri": {"prefix": "/api"}, "ignoreUriCase": True},
            {"prefix": "/api", "case_sensitive": False},
        ),
        (
            {"uri": {"regex": "/v[0-9]+"}},
            {"safe_regex": {"regex": "/v[0-9]+"}, "case_sensitive": True},
        ),
        (
            {"headers": {"End-User": {"exact": "jason"}, "x-any": {}}},
            {
                "prefix": "/",
                "case_sensitive": True,
                "headers": [
                    {"name": "end-user", "string_match": {"exact": "jason"}},
                    {"name": "x-any", "present_match": True},
                ],
            },
        ),
        (
            {"method": {"exact": "POST"}, "withoutHeaders": {"x-b": {"prefix": "t"}}},
            {
                "prefix": "/",
                "case_sensitive": True,
                "headers": [
                    {
                        "name": "x-b",
                        "string_match": {"prefix": "t"},
                        "invert_match": True,
                        "treat_missing_header_as_empty": True,
                    },
                    {"name": ":method", "string_match": {"exact": "POST"}},
                ],
            },
        ),
        (
            {"queryParams": {"q": {"regex": "a.*"}}},
            {
                "prefix": "/",
                "case_sensitive": True,
                "query_parameters": [
                    {"name": "q", "string_match": {"safe_regex": {"regex": "a.*"}}}
                ],
            },
        ),
    ],
    ids=[
        "none",
        "exact",
        "prefix-ignore-case",
        "regex",
        "headers",
        "method-without-headers",
        "query",
    ],
)
def test_route_match(match: dict[str, Any] | None, expected: dict[str, Any]) -> None:
    m = HTTPMatchRequest.model_validate(match) if match is not None else None
    assert message_to_data(route_match(m)) == expected


def test_default_retry_policy() -> None:
    data = message_to_data(default_retry_policy())
    assert data["num_retries"] == 2
    assert (
        data["retry_on"]
        == "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
    )
    assert data["retriable_status_codes"] == [503]
    assert data["host_selection_retry_max_attempts"] == "5"
    assert data["retry_host_predicate"][0]["name"] == "envoy.retry_host_predicates.previous_hosts"


def test_generator_contract() -> None:
    gens = default_generators()
    assert sorted(gens) == sorted(
        [names.CLUSTER_TYPE, names.ENDPOINT_TYPE, names.LISTENER_TYPE, names.ROUTE_TYPE,
         NAME_TABLE_TYPE, SECRET_TYPE]
    )
    proxy = Proxy(
        ProxyType.SIDECAR, ("198.18.0.1",), "a.default", "default.svc.cluster.local", "default"
    )
    eds_only = PushRequest(full=False, reasons=frozenset({TriggerReason.ENDPOINT}))
    for url, gen in gens.items():
        assert gen.type_url == url
        assert gen.needs_push(proxy, FULL_PUSH)
        assert gen.needs_push(proxy, eds_only) is (url == names.ENDPOINT_TYPE)
    push = build_push_context([], MeshConfig(), version="1")
    other = Proxy(
        ProxyType.SIDECAR, ("198.18.0.2",), "b.default", "default.svc.cluster.local", "default"
    )
    assert gens[names.ROUTE_TYPE].cache_key(proxy, push) == gens[names.ROUTE_TYPE].cache_key(
        other, push
    )
    # replicas without service instances share CDS/LDS; a proxy that is an endpoint of a
    # service (so it has inbound clusters and listeners) gets its own key
    cds = gens[names.CLUSTER_TYPE]
    assert cds.cache_key(proxy, push) == cds.cache_key(other, push)
    with_instance = build_push_context(
        load_yaml(
            "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: default}\n"
            "spec: {ports: [{name: http, port: 80}]}\n---\n"
            "apiVersion: v1\nkind: Endpoints\nmetadata: {name: a, namespace: default}\n"
            f"subsets: [{{addresses: [{{ip: '{proxy.ip}'}}], ports: [{{name: http, port: 8080}}]}}]\n"
        ).objects,
        MeshConfig(),
        version="2",
    )
    assert cds.cache_key(proxy, with_instance) != cds.cache_key(other, with_instance)
    assert [r.name for r in cds.generate(proxy, with_instance) if r.name.startswith("inbound")] == [
        "inbound|8080||"
    ]
    listeners = [r.name for r in gens[names.LISTENER_TYPE].generate(proxy, push)]
    assert listeners == ["virtualInbound", "virtualOutbound"]
    clusters = [r.name for r in gens[names.CLUSTER_TYPE].generate(proxy, push)]
    assert clusters == ["BlackHoleCluster", "InboundPassthroughCluster", "PassthroughCluster"]


@pytest.mark.parametrize(
    ("extra", "shared"),
    [
        ("", True),
        (
            "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"
            "metadata: {name: a, namespace: default}\nspec:\n  hosts: [a]\n  http:\n"
            "  - match: [{sourceLabels: {app: x}}]\n    route: [{destination: {host: a}}]\n",
            False,
        ),
        (
            "---\napiVersion: networking.istio.io/v1\nkind: Sidecar\n"
            "metadata: {name: s, namespace: default}\n"
            "spec: {workloadSelector: {labels: {app: x}}, egress: [{hosts: ['./*']}]}\n",
            False,
        ),
    ],
    ids=["no-label-selection", "vs-source-labels", "sidecar-workload-selector"],
)
def test_sidecars_share_cache_keys_unless_config_selects_on_labels(extra: str, shared: bool) -> None:
    svc = (
        "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: default}\n"
        "spec: {ports: [{name: http, port: 80}]}\n"
    )
    push = build_push_context(load_yaml(svc + extra).objects, MeshConfig(), version="1")
    one = Proxy(ProxyType.SIDECAR, ("198.18.0.1",), "a.default", "default.svc.cluster.local",
                "default", labels={"app": "x"})
    two = Proxy(ProxyType.SIDECAR, ("198.18.0.2",), "b.default", "default.svc.cluster.local",
                "default", labels={"app": "y"})
    for url, gen in default_generators().items():
        # credentials depend on the proxy's type and verified identity only, never on labels
        expected = True if url == SECRET_TYPE else shared
        assert (gen.cache_key(one, push) == gen.cache_key(two, push)) is expected, url
