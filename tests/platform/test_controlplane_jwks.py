"""The control plane fetches RequestAuthentication jwksUris before the push that needs them,
carries the key sets in the push context, and pushes again when a refreshed key set changes."""

from __future__ import annotations

import pytest

from lateen.api import load_yaml
from lateen.config import MemoryStore
from lateen.model import FAIL_CLOSED_JWKS, JwksResolver, TriggerReason
from lateen.platform._controlplane import ControlPlane
from lateen.testing.clock import FakeClock
from lateen.testing.jwt import FakeJwksSource, jwks_json, make_ec_key

URI = "http://127.0.0.1:8123/jwks.json"
KEYS = jwks_json(make_ec_key("cp"))
CONFIG = f"""
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: jwt, namespace: foo}}
spec:
  jwtRules: [{{issuer: iss, jwksUri: "{URI}"}}]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: inline, namespace: foo}}
spec:
  jwtRules: [{{issuer: other, jwks: '{KEYS}'}}]
"""


def _control_plane(responses: dict[str, str]) -> tuple[ControlPlane, FakeJwksSource]:
    result = load_yaml(CONFIG, "ra.yaml")
    assert not result.errors
    clock = FakeClock()
    source = FakeJwksSource(responses=dict(responses))
    cp = ControlPlane(MemoryStore(result.objects), clock=clock, jwks=JwksResolver(source, clock))
    return cp, source


@pytest.mark.parametrize(
    ("responses", "expected"),
    [({URI: KEYS}, KEYS), ({}, FAIL_CLOSED_JWKS)],
    ids=["fetched", "fetch-failed-fails-closed"],
)
async def test_push_context_carries_fetched_key_sets(responses: dict[str, str], expected: str) -> None:
    cp, source = _control_plane(responses)
    objects = list(cp.store.snapshot().values())
    await cp.sync_jwks(objects)
    push = cp.build(objects)
    assert dict(push.jwks) == {URI: expected}
    assert [uri for uri, _ in source.calls] == [URI]  # inline jwks are never fetched


async def test_changed_key_set_enqueues_a_push_of_the_policies_naming_it() -> None:
    cp, _ = _control_plane({URI: KEYS})
    cp._on_jwks_change(frozenset({URI}))
    request = cp.debouncer.pending
    assert request is not None and request.full
    assert {(k.kind, k.namespace, k.name) for k in request.config_updated} == {
        ("RequestAuthentication", "foo", "jwt")
    }
    assert request.reasons == frozenset({TriggerReason.CONFIG})
