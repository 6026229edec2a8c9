from __future__ import annotations

import pytest

from lateen.cli import _iptables

# every variable `lateen iptables` reads: tests start from none of them set
CAPTURE_ENV = [
    *(_iptables._env_name(long) for _, long, _, _ in _iptables._STRING_FLAGS),
    *(_iptables._env_name(long) for long, _, _, _ in _iptables._BOOL_FLAGS),
    *(name for _, _, extra, _ in _iptables._BOOL_FLAGS for name in extra),
    "DRY_RUN", "NETWORK_NAMESPACE", "ENVOY_USER",
    "ISTIO_OUTBOUND_OWNER_GROUPS", "ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE",
    "ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR",
]


@pytest.fixture(autouse=True)
def _clean_capture_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CAPTURE_ENV:
        monkeypatch.delenv(name, raising=False)
