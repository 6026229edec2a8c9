"""EnvoyFilter end to end (transparent mode, real Envoy): a Lua filter inserted before the
router of httpbin's inbound HTTP chain adds a response header the curl pod sees, and goes
away with the EnvoyFilter; removing the fault filter from curl's outbound chains turns a
VirtualService abort (418) back into httpbin's 200."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lateen.testing.localmesh import ROOT, Mesh, mesh_up
from lateen.testing.procs import wait_for

pytestmark = pytest.mark.e2e

# prints "<status> <x-lateen-envoyfilter header or ->"; argv: url, request headers as JSON
GET = (
    "import json, sys, urllib.error, urllib.request\n"
    "req = urllib.request.Request(sys.argv[1], headers=json.loads(sys.argv[2]))\n"
    "try:\n"
    "    r = urllib.request.urlopen(req, timeout=10)\n"
    "except urllib.error.HTTPError as e:\n"
    "    r = e\n"
    "print(r.status, r.headers.get('x-lateen-envoyfilter') or '-')\n"
)

LUA = """\
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: httpbin-lua}
spec:
  workloadSelector: {labels: {app: httpbin}}
  configPatches:
  - applyTo: HTTP_FILTER
    match:
      context: SIDECAR_INBOUND
      listener:
        portNumber: 8080
        filterChain:
          filter:
            name: envoy.filters.network.http_connection_manager
            subFilter: {name: envoy.filters.http.router}
    patch:
      operation: INSERT_BEFORE
      value:
        name: envoy.filters.http.lua
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua
          default_source_code:
            inline_string: |
              function envoy_on_response(handle)
                handle:headers():add("x-lateen-envoyfilter", "lua")
              end
"""

ABORT = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin}
spec:
  hosts: [httpbin]
  http:
  - match: [{headers: {x-abort: {exact: "yes"}}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: httpbin}}]
  - route: [{destination: {host: httpbin}}]
"""

NO_FAULT = """\
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: curl-no-fault}
spec:
  workloadSelector: {labels: {app: curl}}
  configPatches:
  - applyTo: HTTP_FILTER
    match:
      context: SIDECAR_OUTBOUND
      listener:
        filterChain:
          filter:
            name: envoy.filters.network.http_connection_manager
            subFilter: {name: envoy.filters.http.fault}
    patch: {operation: REMOVE}
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    src = tmp_path_factory.mktemp("envoyfilter-src")
    samples = ROOT / "samples"
    (src / "kustomization.yaml").write_text(
        f"resources:\n- {samples / 'httpbin' / 'httpbin.yaml'}\n- {samples / 'curl' / 'curl.yaml'}\n"
    )
    with mesh_up(tmp_path_factory.mktemp("envoyfilter") / ".lateen", src, "transparent") as m:
        yield m


def _get(mesh: Mesh, headers: dict[str, str] | None = None) -> str:
    out = mesh.lateen(
        "exec", "deploy/curl", "--", sys.executable, "-c", GET,
        "http://httpbin:8000/status/200", json.dumps(headers or {}), check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout.strip()


def _apply(mesh: Mesh, tmp: Path, name: str, text: str, verb: str = "apply") -> None:
    path = tmp / f"{name}.yaml"
    path.write_text(text)
    out = mesh.lateen(verb, "-f", str(path))
    assert out.returncode == 0, out.stdout + out.stderr


def _eventually(mesh: Mesh, want: str, headers: dict[str, str] | None = None) -> None:
    seen: list[str] = []

    def ok() -> bool:
        seen.append(_get(mesh, headers))
        return seen[-1] == want

    wait_for(ok, timeout=30, interval=0.5, what=f"{want!r} (last answers: {seen[-3:]})")


def test_lua_filter_adds_a_response_header_until_the_envoyfilter_is_deleted(
    mesh: Mesh, tmp_path: Path
) -> None:
    assert _get(mesh) == "200 -"
    _apply(mesh, tmp_path, "lua", LUA)
    _eventually(mesh, "200 lua")
    # the filter is in httpbin's inbound chain only: curl's own listeners are untouched
    curl_listeners = mesh.lateen("proxy-config", "listener", "deploy/curl", "-o", "json").stdout
    assert "envoy.filters.http.lua" not in curl_listeners
    httpbin_listeners = mesh.lateen("proxy-config", "listener", "deploy/httpbin", "-o", "json")
    assert "envoy.filters.http.lua" in httpbin_listeners.stdout
    _apply(mesh, tmp_path, "lua", LUA, "delete")
    _eventually(mesh, "200 -")


def test_removing_the_fault_filter_disables_fault_injection(mesh: Mesh, tmp_path: Path) -> None:
    _apply(mesh, tmp_path, "abort", ABORT)
    _eventually(mesh, "418 -", {"x-abort": "yes"})
    assert _get(mesh) == "200 -"
    _apply(mesh, tmp_path, "no-fault", NO_FAULT)
    _eventually(mesh, "200 -", {"x-abort": "yes"})
    # the proxy took the config (no NACK): still SYNCED
    status = mesh.lateen("proxy-status").stdout
    curl_line = next(line for line in status.splitlines() if line.startswith("curl-"))
    assert "STALE" not in curl_line, status
