from __future__ import annotations

import pytest

from lateen.api import ConfigKey, ConfigObject, ObjectMeta
from lateen.config import ConfigEvent, EventType
from lateen.model import OutboundTrafficPolicyMode, TriggerReason
from lateen.platform import push_request_for
from lateen.platform._controlplane import mesh_from_objects


def _event(kind: str, name: str = "x", group: str = "") -> ConfigEvent:
    key = ConfigKey(group, kind, "default", name)
    return ConfigEvent(EventType.UPDATE, key, None, None)


@pytest.mark.parametrize(
    ("kinds", "full", "reason"),
    [
        (["Endpoints"], False, TriggerReason.ENDPOINT),
        (["EndpointSlice", "Endpoints"], False, TriggerReason.ENDPOINT),
        (["Service"], True, TriggerReason.CONFIG),
        (["Endpoints", "VirtualService"], True, TriggerReason.CONFIG),
        (["Pod", "Endpoints"], False, TriggerReason.ENDPOINT),
        (["ServiceAccount"], None, None),
        (["Deployment"], None, None),
    ],
    ids=["endpoints", "slices", "service", "mixed", "pod", "ignored", "deployment"],
)
def test_push_request_for_events(kinds: list[str], full: bool | None, reason: TriggerReason | None) -> None:
    req = push_request_for([_event(k, f"n{i}") for i, k in enumerate(kinds)], now=5.0)
    if full is None:
        assert req is None
        return
    assert req is not None
    assert req.full is full
    assert req.reasons == {reason}
    assert req.start == 5.0
    assert len(req.config_updated) == len(kinds)


def test_mesh_config_from_istio_configmap() -> None:
    cm = ConfigObject(
        "", "ConfigMap", "v1", ObjectMeta("istio", "istio-system"),
        {"data": {"mesh": "outboundTrafficPolicy:\n  mode: REGISTRY_ONLY\n"}},
    )
    other = ConfigObject("", "ConfigMap", "v1", ObjectMeta("istio", "default"), {"data": {"mesh": "x: ["}})
    mesh = mesh_from_objects([other, cm])
    assert mesh is not None
    assert mesh.outbound_traffic_policy_mode is OutboundTrafficPolicyMode.REGISTRY_ONLY
    assert mesh_from_objects([other]) is None


MESH_CM = """
apiVersion: v1
kind: ConfigMap
metadata: {{name: istio, namespace: istio-system}}
data:
  mesh: |
    pathNormalization: {{normalization: {mode}}}
"""


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("BASE", "NONE", (False, False)),
        ("NONE", "MERGE_SLASHES", (True, True)),
        ("BASE", "DECODE_AND_MERGE_SLASHES", (True, True)),
    ],
    ids=["base-to-none", "none-to-merge", "base-to-decode"],
)
def test_mesh_configmap_change_is_a_full_push_with_the_new_mesh(
    first: str, second: str, expected: tuple[bool, bool]
) -> None:
    """Applying the ``istio`` ConfigMap at runtime (``lateen apply``) re-pushes every proxy's
    listeners built with the new mesh config."""
    import asyncio
    from pathlib import Path

    from lateen.api import load_yaml
    from lateen.config import MemoryStore
    from lateen.model import PushRequest
    from lateen.platform import ControlPlane
    from lateen.testing.golden import load_xds_case, message_to_data
    from lateen.xds import default_generators
    from lateen.xds.names import LISTENER_TYPE

    data = Path(__file__).parent.parent / "testdata" / "xds" / "01-bookinfo-sidecar.input.yaml"
    case = load_xds_case(data.read_text())
    store = MemoryStore()
    store.apply(*case.objects, *load_yaml(MESH_CM.format(mode=first), "t").objects)
    cp = ControlPlane(store)
    queued: list[PushRequest] = []
    pushed: list[tuple[object, PushRequest]] = []
    cp.debouncer.enqueue = queued.append  # type: ignore[method-assign]
    cp.server.push = lambda push, req: pushed.append((push, req))  # type: ignore[method-assign]
    assert cp.build().mesh.path_normalization == first

    store.apply(*load_yaml(MESH_CM.format(mode=second), "t").objects)
    assert len(queued) == 1 and queued[0].full, queued
    asyncio.run(cp._push(queued[0]))
    push, request = pushed[-1]
    assert request.full
    listeners = default_generators()[LISTENER_TYPE].generate(case.proxy, push)  # type: ignore[arg-type]
    inbound = next(r for r in listeners if r.name == "virtualInbound")
    text = str(message_to_data(inbound.message))
    assert f"'normalize_path': {expected[0]}" in text
    assert ("'merge_slashes': True" in text) is expected[1]
