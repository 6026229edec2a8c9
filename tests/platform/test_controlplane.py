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
