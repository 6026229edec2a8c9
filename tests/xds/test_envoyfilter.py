"""EnvoyFilter config patches: merge semantics, sibling operations, which filters apply and
in what order, validation of patch values, failures skipped, cache keys. The full outputs are
in the goldens tests/testdata/xds/6N-ef-*."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import yaml
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf import json_format

from lateen.api import ConfigObject, load_yaml
from lateen.api._net_ef import EnvoyFilter
from lateen.api._object import ObjectMeta
from lateen.model import Proxy, PushContext, build_push_context
from lateen.model._envoy_filter import compile_envoy_filter
from lateen.testing.golden import load_xds_case, message_to_data
from lateen.xds import default_generators
from lateen.xds.envoyfilter._common import guarded, list_operation
from lateen.xds.envoyfilter._merge import merge
from lateen.xds.names import CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE

BASE = """
kind: TestProxy
type: sidecar
ip: 198.18.7.10
id: httpbin-1.default
namespace: default
labels: {app: httpbin}
metadata: {ISTIO_VERSION: 1.24.0}
---
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: default}
spec:
  clusterIP: 198.18.70.1
  selector: {app: httpbin}
  ports: [{name: http, port: 8000, targetPort: 8080}]
"""

ROUTER_MATCH = {
    "listener": {
        "filterChain": {
            "filter": {
                "name": "envoy.filters.network.http_connection_manager",
                "subFilter": {"name": "envoy.filters.http.router"},
            }
        }
    }
}


def envoy_filter(
    name: str, patches: list[dict[str, Any]], namespace: str = "default", **spec: Any
) -> str:
    doc = {
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "EnvoyFilter",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"configPatches": patches, **spec},
    }
    return "---\n" + yaml.safe_dump(doc)


def lua_before_router(name: str, context: str = "SIDECAR_INBOUND") -> dict[str, Any]:
    return {
        "applyTo": "HTTP_FILTER",
        "match": {"context": context, **ROUTER_MATCH},
        "patch": {
            "operation": "INSERT_BEFORE",
            "value": {
                "name": name,
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
                    "default_source_code": {"inline_string": "function envoy_on_request(h) end"},
                },
            },
        },
    }


def case(text: str) -> tuple[Proxy, PushContext]:
    c = load_xds_case(BASE + text, "test")
    return c.proxy, build_push_context(c.objects, c.mesh, version="t")


def generate(proxy: Proxy, push: PushContext, type_url: str) -> list[dict[str, Any]]:
    return [
        message_to_data(r.message) for r in default_generators()[type_url].generate(proxy, push)
    ]


def http_filter_names(listeners: list[dict[str, Any]], listener: str) -> list[str]:
    (lis,) = [x for x in listeners if x["name"] == listener]
    hcm = lis["filter_chains"][0]["filters"][0]["typed_config"]
    return [f["name"] for f in hcm["http_filters"]]


# ---- merge semantics (Istio's pkg/proto/merge) -------------------------------------------


def _cluster(data: dict[str, Any]) -> cluster_pb2.Cluster:
    return json_format.ParseDict(data, cluster_pb2.Cluster())


@pytest.mark.parametrize(
    ("dst", "src", "replace_lists", "want"),
    [
        (
            {"name": "a", "connect_timeout": "1.500s"},
            {"connect_timeout": "5s"},
            False,
            {"name": "a", "connect_timeout": "5s"},
        ),
        (
            {"circuit_breakers": {"thresholds": [{"max_connections": 1}]}},
            {"circuit_breakers": {"thresholds": [{"max_connections": 2}]}},
            False,
            {"circuit_breakers": {"thresholds": [{"max_connections": 1}, {"max_connections": 2}]}},
        ),
        (
            {"circuit_breakers": {"thresholds": [{"max_connections": 1}]}},
            {"circuit_breakers": {"thresholds": [{"max_connections": 2}]}},
            True,
            {"circuit_breakers": {"thresholds": [{"max_connections": 2}]}},
        ),
        (
            {"metadata": {"filter_metadata": {"a": {"x": 1}, "b": {"y": 1}}}},
            {"metadata": {"filter_metadata": {"a": {"z": 2}}}},
            False,
            {"metadata": {"filter_metadata": {"a": {"z": 2}, "b": {"y": 1}}}},
        ),
        (
            {"type": "EDS", "eds_cluster_config": {"service_name": "s"}},
            {"cluster_type": {"name": "envoy.clusters.dynamic_forward_proxy"}},
            False,
            {  # type and cluster_type are one oneof: setting one clears the other
                "eds_cluster_config": {"service_name": "s"},
                "cluster_type": {"name": "envoy.clusters.dynamic_forward_proxy"},
            },
        ),
    ],
    ids=["duration-replaced", "list-appended", "list-replaced", "map-entry-replaced", "oneof-set"],
)
def test_merge(
    dst: dict[str, Any], src: dict[str, Any], replace_lists: bool, want: dict[str, Any]
) -> None:
    d = _cluster(dst)
    merge(d, _cluster(src), replace_lists=replace_lists)
    assert message_to_data(d) == message_to_data(_cluster(want))


def test_merge_rejects_other_types() -> None:
    with pytest.raises(TypeError):
        merge(cluster_pb2.Cluster(), lc.Filter())


# ---- operations on ordered siblings ---------------------------------------------------------


def _patch(op: str) -> Any:
    ef = ConfigObject(
        "networking.istio.io",
        "EnvoyFilter",
        "v1alpha3",
        ObjectMeta("x", "default"),
        EnvoyFilter.model_validate(
            {
                "configPatches": [
                    {
                        "applyTo": "NETWORK_FILTER",
                        "patch": {"operation": op, "value": {"name": "new"}},
                    }
                ]
            }
        ),
    )
    (p,) = compile_envoy_filter(ef)
    return p


@pytest.mark.parametrize(
    ("op", "match", "want"),
    [
        ("ADD", None, "a b c new"),
        ("INSERT_FIRST", None, "new a b c"),
        ("INSERT_BEFORE", "b", "a new b c"),
        ("INSERT_BEFORE", None, "new a b c"),
        ("INSERT_BEFORE", "zzz", "a b c"),
        ("INSERT_AFTER", "b", "a b new c"),
        ("INSERT_AFTER", "c", "a b c new"),
        ("INSERT_AFTER", None, "a b c new"),
        ("REPLACE", "b", "a new c"),
        ("REPLACE", None, "a b c"),
        ("REMOVE", "b", "a c"),
        ("REMOVE", None, "a b c"),
        ("MERGE", "b", "a b c"),
    ],
    ids=lambda v: str(v),
)
def test_list_operation(op: str, match: str | None, want: str) -> None:
    items = [lc.Filter(name=n) for n in "abc"]
    matcher = None if match is None else (lambda f: f.name == match)
    out = list_operation(items, _patch(op), matcher)
    assert " ".join(f.name for f in out) == want


def test_failed_patch_leaves_target_alone() -> None:
    target = lc.Filter(name="keep")

    def boom(t: Any, p: Any) -> None:
        t.name = "half-done"
        raise ValueError("bad patch")

    assert not guarded(_patch("MERGE"), "NETWORK_FILTER", boom, target)
    assert target.name == "keep"


# ---- which EnvoyFilters apply, in which order -----------------------------------------------


@pytest.mark.parametrize(
    ("filters", "want"),
    [
        (
            [
                envoy_filter("root", [lua_before_router("root")], "istio-system"),
                envoy_filter("local", [lua_before_router("local")]),
            ],
            ["root", "local"],
        ),
        (
            [
                envoy_filter("root", [lua_before_router("root")], "istio-system"),
                envoy_filter("local", [lua_before_router("local")], priority=-5),
            ],
            ["local", "root"],
        ),
        (
            [
                envoy_filter("b", [lua_before_router("b")]),
                envoy_filter("a", [lua_before_router("a")]),
            ],
            ["a", "b"],
        ),
        (
            [
                envoy_filter(
                    "other-app",
                    [lua_before_router("other-app")],
                    workloadSelector={"labels": {"app": "other"}},
                ),
                envoy_filter(
                    "mine",
                    [lua_before_router("mine")],
                    workloadSelector={"labels": {"app": "httpbin"}},
                ),
                envoy_filter("other-ns", [lua_before_router("other-ns")], "prod"),
                envoy_filter(
                    "refs",
                    [lua_before_router("refs")],
                    targetRefs=[{"kind": "Service", "name": "httpbin"}],
                ),
            ],
            ["mine"],
        ),
    ],
    ids=["root-namespace-first", "priority-first", "then-name", "selection"],
)
def test_filter_order(filters: list[str], want: list[str]) -> None:
    proxy, push = case("".join(filters))
    assert [ef.name for ef in push.envoy_filters_for_proxy(proxy)] == want
    names = http_filter_names(generate(proxy, push, LISTENER_TYPE), "virtualInbound")
    # each filter inserts its Lua right before the router: application order is kept
    assert names[-1 - len(want) : -1] == want


@pytest.mark.parametrize(
    ("proxy_match", "applies"),
    [
        ({"proxyVersion": r"^1\.24.*"}, True),
        ({"proxyVersion": r"^1\.9.*"}, False),
        ({"metadata": {"ISTIO_VERSION": "1.24.0"}}, True),
        ({"metadata": {"CLUSTER_ID": "east"}}, False),
    ],
    ids=["version-matches", "version-differs", "metadata-matches", "metadata-missing"],
)
def test_proxy_match(proxy_match: dict[str, Any], applies: bool) -> None:
    patch = lua_before_router("versioned")
    patch["match"]["proxy"] = proxy_match
    proxy, push = case(envoy_filter("v", [patch]))
    names = http_filter_names(generate(proxy, push, LISTENER_TYPE), "virtualInbound")
    assert ("versioned" in names) is applies


# ---- failures and ignored targets -----------------------------------------------------------


def test_unparseable_patch_is_skipped_rest_applies() -> None:
    broken = ConfigObject(
        "networking.istio.io",
        "EnvoyFilter",
        "v1alpha3",
        ObjectMeta("broken", "default", creation_timestamp="2020-01-01T00:00:00Z"),
        EnvoyFilter.model_validate(
            {
                "configPatches": [
                    {
                        "applyTo": "HTTP_FILTER",
                        "match": {"context": "SIDECAR_INBOUND", **ROUTER_MATCH},
                        "patch": {
                            "operation": "INSERT_BEFORE",
                            "value": {"typed_config": {"@type": "type.googleapis.com/x.v1.Nope"}},
                        },
                    },
                    lua_before_router("after-broken"),
                ]
            }
        ),
    )
    c = load_xds_case(BASE + envoy_filter("good", [lua_before_router("good")]), "t")
    proxy, push = c.proxy, build_push_context([*c.objects, broken], c.mesh, version="t")
    names = http_filter_names(generate(proxy, push, LISTENER_TYPE), "virtualInbound")
    # "good" has no creation time: it sorts (and applies) first
    assert names[-3:] == ["good", "after-broken", "envoy.filters.http.router"]


def test_bootstrap_and_extension_config_are_not_applied() -> None:
    plain = case("")
    patched = case(
        envoy_filter(
            "ignored",
            [
                {
                    "applyTo": "BOOTSTRAP",
                    "patch": {"operation": "MERGE", "value": {"node": {"id": "x"}}},
                },
                {
                    "applyTo": "EXTENSION_CONFIG",
                    "patch": {
                        "operation": "ADD",
                        "value": {
                            "name": "ext",
                            "typed_config": {
                                "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer",
                                "max_request_bytes": 1,
                            },
                        },
                    },
                },
            ],
        )
    )
    for type_url in (CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE):
        assert generate(*plain, type_url) == generate(*patched, type_url)


def test_cache_key_follows_matching_patches() -> None:
    patch = lua_before_router("versioned")
    patch["match"]["proxy"] = {"proxyVersion": r"^1\.24.*"}
    proxy, push = case(envoy_filter("v", [patch]))
    old = replace(proxy, metadata={})
    for gen in default_generators().values():
        if gen.type_url in (CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE):
            assert gen.cache_key(proxy, push) != gen.cache_key(old, push)
    _, plain_push = case("")  # no EnvoyFilter: the version does not matter
    gen = default_generators()[LISTENER_TYPE]
    assert gen.cache_key(proxy, plain_push) == gen.cache_key(old, plain_push)


# ---- validation of patch values -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "error", "warning"),
    [
        (
            {"name": "x", "typed_config": {"@type": "type.googleapis.com/x.v1.Nope"}},
            "referenced type unknown",
            None,
        ),
        (
            {
                "name": "x",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.config.filter.http.lua.v2.Lua"
                },
            },
            "hint: try using the v3 XDS API",
            None,
        ),
        ({"name": "x", "no_such_field": 1}, None, "no field named"),
        ({"name": 5}, "Envoy filter", None),
        (
            {
                "name": "envoy.filters.http.lua",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
                    "default_source_code": {"inline_string": "x"},
                },
            },
            None,
            None,
        ),
    ],
    ids=["unknown-type", "v2-type", "unknown-field-warns", "wrong-field-type", "valid"],
)
def test_validate_patch_value(
    value: dict[str, Any], error: str | None, warning: str | None
) -> None:
    text = envoy_filter(
        "v", [{"applyTo": "HTTP_FILTER", "patch": {"operation": "ADD", "value": value}}]
    )
    result = load_yaml(text, "t")
    errors = [str(e) for e in result.errors]
    warnings = [str(w) for w in result.warnings if "internal implementation" not in str(w)]
    if error is None:
        assert errors == []
    else:
        assert len(errors) == 1 and error in errors[0] and "patch.value" in errors[0]
    if warning is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and warning in warnings[0]


def test_hcm_patched_in_place_keeps_type() -> None:
    proxy, push = case(envoy_filter("lua", [lua_before_router("x", "SIDECAR_OUTBOUND")]))
    (lis,) = [
        r.message
        for r in default_generators()[LISTENER_TYPE].generate(proxy, push)
        if r.name == "0.0.0.0_8000"
    ]
    hcm = hcm_pb2.HttpConnectionManager()
    assert lis.filter_chains[0].filters[0].typed_config.Unpack(hcm)
    assert [f.name for f in hcm.http_filters][-2:] == ["x", "envoy.filters.http.router"]


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("http.8080", (8080, "", "")),
        ("https.443.https-main.public.default", (443, "https-main", "default/public")),
        ("8080", (0, "", "")),
    ],
    ids=["http", "https", "sidecar-name"],
)
def test_gateway_route_name(name: str, want: tuple[int, str, str]) -> None:
    from lateen.xds.envoyfilter._route import _gateway_route_name

    assert _gateway_route_name(name) == want
