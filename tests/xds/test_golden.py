"""Golden tests: every xDS type for each case in tests/testdata/xds (UPDATE_GOLDEN=1 rewrites),
and real Envoy accepts the generated config: every case's clusters, listeners, endpoints and
routes as a static bootstrap (EDS clusters made STATIC with their ClusterLoadAssignment, RDS
inlined), checked with ``envoy --mode validate`` (marked e2e)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lateen.agent import envoy_binary
from lateen.model import build_push_context
from lateen.testing.golden import assert_golden, load_xds_case, resources_data
from lateen.xds import default_generators
from lateen.xds.names import CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE

DATA = Path(__file__).parent.parent / "testdata" / "xds"
CASES = sorted(p.name.removesuffix(".input.yaml") for p in DATA.glob("*.input.yaml"))
SECTIONS = {
    "clusters": CLUSTER_TYPE,
    "endpoints": ENDPOINT_TYPE,
    "listeners": LISTENER_TYPE,
    "routes": ROUTE_TYPE,
}


def generate_case(name: str) -> dict[str, Any]:
    case = load_xds_case((DATA / f"{name}.input.yaml").read_text(), name)
    push = build_push_context(case.objects, case.mesh, version="golden", jwks=case.jwks)
    gens = default_generators()
    out: dict[str, Any] = {}
    for section, type_url in SECTIONS.items():
        resources = gens[type_url].generate(case.proxy, push)
        assert [r.name for r in resources] == sorted(r.name for r in resources), (
            "output must be sorted"
        )
        out[section] = resources_data(resources)
    return out


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str) -> None:
    assert_golden(DATA / f"{name}.golden.yaml", generate_case(name))


@pytest.mark.parametrize("name", CASES)
def test_deterministic(name: str) -> None:
    assert generate_case(name) == generate_case(name)


HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"


def static_bootstrap(data: dict[str, Any]) -> dict[str, Any]:
    cla = {c["cluster_name"]: c for c in data["endpoints"]}
    routes = {r["name"]: r for r in data["routes"]}
    clusters = []
    for c in data["clusters"]:
        c = dict(c)
        if c.get("type") == "EDS":
            c.pop("eds_cluster_config", None)
            c["type"] = "STATIC"
            c["load_assignment"] = cla.get(c["name"], {"cluster_name": c["name"]})
        clusters.append(c)
    listeners = []
    for lis in data["listeners"]:
        lis = json.loads(json.dumps(lis))
        chains = list(lis.get("filter_chains", []))
        if "default_filter_chain" in lis:
            chains.append(lis["default_filter_chain"])
        for chain in chains:
            for f in chain.get("filters", []):
                tc = f.get("typed_config", {})
                if tc.get("@type") == HCM and "rds" in tc:
                    name = tc.pop("rds")["route_config_name"]
                    tc["route_config"] = routes[name]
        listeners.append(lis)
    # the agent's SDS cluster (in every sidecar bootstrap that has SDS): mTLS cases name it
    clusters.append(
        {
            "name": "sds-grpc",
            "type": "STATIC",
            "load_assignment": {
                "cluster_name": "sds-grpc",
                "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"pipe": {"path": "sds.sock"}}}}]}],
            },
            "http2_protocol_options": {},
        }
    )
    return {
        "node": {
            "id": "sidecar~198.18.0.1~test.default~default.svc.cluster.local",
            "cluster": "test",
        },
        "static_resources": {"clusters": clusters, "listeners": listeners},
    }


@pytest.mark.e2e
@pytest.mark.parametrize("name", CASES)
def test_envoy_accepts(name: str, tmp_path: Path) -> None:
    envoy = envoy_binary()  # a dependency: its absence is a failure, not a skip
    data = generate_case(name)
    # every route configuration a listener names exists
    path = tmp_path / "bootstrap.json"
    path.write_text(json.dumps(static_bootstrap(data), indent=1))
    proc = subprocess.run(
        [str(envoy), "--mode", "validate", "-c", str(path), "-l", "error"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=DATA.parents[2],  # certificate files in the cases are relative to the repo root
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
