"""The agent keeps the Envoy stats the pod's ProxyConfig (``PROXY_CONFIG``, from the
``proxy.istio.io/config`` annotation) asks for in ``proxyStatsMatcher``, as Istio's agent."""

from __future__ import annotations

import pytest

from lateen.cli._agent import stats_matcher_from_env


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, {}),
        ({"PROXY_CONFIG": ""}, {}),
        ({"PROXY_CONFIG": '{"concurrency": 2}'}, {}),
        (
            {"PROXY_CONFIG": '{"proxyStatsMatcher": {"inclusionPrefixes": ["cluster.outbound"]}}'},
            {"prefixes": ("cluster.outbound",)},
        ),
        (
            {
                "PROXY_CONFIG": "proxyStatsMatcher:\n  inclusionPrefixes:\n  - cluster.outbound\n"
                "  inclusionSuffixes: [upstream_rq_timeout]\n  inclusionRegexps: ['.*pending.*']\n"
            },
            {
                "prefixes": ("cluster.outbound",),
                "suffixes": ("upstream_rq_timeout",),
                "regexps": (".*pending.*",),
            },
        ),
        ({"PROXY_CONFIG": "proxyStatsMatcher: [oops"}, {}),
        ({"PROXY_CONFIG": "proxyStatsMatcher: none"}, {}),
    ],
    ids=["unset", "empty", "no-matcher", "json", "yaml-annotation", "broken-yaml", "not-a-mapping"],
)
def test_stats_matcher_from_env(env: dict[str, str], expected: dict[str, tuple[str, ...]]) -> None:
    assert stats_matcher_from_env(env) == expected
