"""An endpoint-only change that changes a service's sidecar service accounts (the SANs auto
mTLS clients check, which live in CDS) is pushed as a full push."""

from __future__ import annotations

import pytest

from lateen.api import load_yaml
from lateen.model import MeshConfig, build_push_context
from lateen.platform._controlplane import mesh_service_accounts

BASE = """
apiVersion: v1
kind: Service
metadata: {name: api, namespace: default}
spec:
  selector: {app: api}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: api-1, namespace: default, labels: {app: api, security.istio.io/tlsMode: istio}}
spec: {serviceAccountName: api, containers: [{name: c, image: x}]}
status: {podIP: 198.19.0.22}
"""


def _pod(name: str, sa: str, tls: bool = True) -> str:
    label = ", security.istio.io/tlsMode: istio" if tls else ""
    return f"""---
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: default, labels: {{app: api{label}}}}}
spec: {{serviceAccountName: {sa}, containers: [{{name: c, image: x}}]}}
status: {{podIP: 198.19.0.{30 + len(name)}}}
"""


def _accounts(text: str) -> object:
    objects = load_yaml(text, "t").objects
    return mesh_service_accounts(build_push_context(objects, MeshConfig(), version="t"))


@pytest.mark.parametrize(
    ("extra", "changed"),
    [
        (_pod("api-2", "api"), False),
        (_pod("api-2", "api-v2"), True),
        (_pod("api-2", "other", tls=False), False),
    ],
    ids=["same-account", "new-account", "no-sidecar"],
)
def test_accounts_change_only_with_a_new_sidecar_account(extra: str, changed: bool) -> None:
    assert (_accounts(BASE) != _accounts(BASE + extra)) is changed
    assert ("default", "api") in next(iter(_accounts(BASE).values()))  # type: ignore[attr-defined]
