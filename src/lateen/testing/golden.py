"""Golden-file helpers: generated artifacts compared against checked-in YAML.

``assert_golden(path, data)`` dumps ``data`` as YAML with sorted keys and compares it with
the file; with ``UPDATE_GOLDEN=1`` in the environment it (re)writes the file instead.
Protobuf resources become ``MessageToDict(preserving_proto_field_name=True)`` dicts.

xDS cases (``tests/testdata/xds/NN-<case>.input.yaml``) are ordinary Istio + Kubernetes
YAML plus one header document that describes the proxy under test::

    kind: TestProxy
    type: sidecar            # sidecar | router
    ip: 198.19.0.10            # INSTANCE_IPS, comma separated allowed
    id: productpage-v1.default   # POD.NS (default: test.<namespace>)
    namespace: default
    labels: {app: productpage, version: v1}
    metadata: {}             # extra node metadata
    mesh:                    # optional MeshConfig (mesh.yaml as a mapping)
      outboundTrafficPolicy: {mode: REGISTRY_ONLY}
    jwks:                    # optional: key sets the control plane fetched, by jwksUri
      http://127.0.0.1:8123/jwks.json: '{"keys": [...]}'
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from lateen.api import ConfigObject, load_yaml
from lateen.model import MeshConfig, Proxy, ProxyType

__all__ = [
    "XdsCase",
    "assert_golden",
    "dump_yaml",
    "load_xds_case",
    "message_to_data",
    "update_golden",
]

TEST_PROXY_KIND = "TestProxy"


def update_golden() -> bool:
    return os.environ.get("UPDATE_GOLDEN", "") not in ("", "0", "false")


def message_to_data(msg: Message) -> dict[str, Any]:
    # a JSON round trip turns the OrderedDicts of expanded ``Any`` fields into plain dicts
    data: dict[str, Any] = json.loads(
        json.dumps(MessageToDict(msg, preserving_proto_field_name=True))
    )
    return data


class _Dumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str_presenter)


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=True, default_flow_style=False, width=100)


def assert_golden(path: Path, data: Any) -> None:
    """Compare ``data`` (dumped as sorted YAML) with the golden file at ``path``."""
    actual = dump_yaml(data)
    if update_golden():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
        return
    if not path.exists():
        raise AssertionError(
            f"golden file {path} is missing; run with UPDATE_GOLDEN=1 to create it"
        )
    expected = path.read_text()
    if expected != actual:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=str(path),
                tofile="generated",
                n=3,
            )
        )
        raise AssertionError(f"{path} differs (UPDATE_GOLDEN=1 rewrites it):\n{diff[:20000]}")


@dataclass(frozen=True, slots=True)
class XdsCase:
    proxy: Proxy
    mesh: MeshConfig
    objects: tuple[ConfigObject, ...]
    jwks: Mapping[str, str] | None = None


def _proxy(doc: Mapping[str, Any]) -> Proxy:
    ns = str(doc.get("namespace") or "default")
    ips = tuple(x.strip() for x in str(doc.get("ip") or "198.18.0.1").split(",") if x.strip())
    return Proxy(
        type=ProxyType(str(doc.get("type") or "sidecar")),
        ip_addresses=ips,
        id=str(doc.get("id") or f"test.{ns}"),
        dns_domain=f"{ns}.svc.cluster.local",
        namespace=ns,
        labels={str(k): str(v) for k, v in (doc.get("labels") or {}).items()},
        service_account=str(doc.get("serviceAccount") or ""),
        metadata=dict(doc.get("metadata") or {}),
    )


def load_xds_case(text: str, source: str = "") -> XdsCase:
    """Split an xDS case into its TestProxy header and its config objects (every object must
    load without errors)."""
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    headers = [d for d in docs if isinstance(d, Mapping) and d.get("kind") == TEST_PROXY_KIND]
    if len(headers) != 1:
        raise ValueError(f"{source}: expected exactly one '{TEST_PROXY_KIND}' document")
    header = headers[0]
    rest = [d for d in docs if d is not header]
    result = load_yaml(yaml.safe_dump_all(rest), source)
    if result.errors:
        raise ValueError(f"{source}: " + "; ".join(str(e) for e in result.errors))
    jwks = {str(k): str(v) for k, v in (header.get("jwks") or {}).items()}
    return XdsCase(
        _proxy(header), MeshConfig.from_dict(header.get("mesh")), tuple(result.objects), jwks
    )


def resources_data(resources: Iterable[Any]) -> list[dict[str, Any]]:
    """Resources (``lateen.xds.Resource`` or bare messages) as plain data, in order."""
    out = []
    for r in resources:
        msg = r.message if hasattr(r, "message") else r
        out.append(message_to_data(msg))
    return out


__all__ += ["resources_data"]
