"""The CA messages are wire-compatible with Istio's ca.proto (field numbers and types)."""

from __future__ import annotations

import pytest

from lateen.security import ca_messages
from lateen.security._proto import CREATE_CERTIFICATE


def _len(field: int, payload: bytes) -> bytes:  # a length-delimited field (wire type 2)
    return bytes([field << 3 | 2, len(payload)]) + payload


@pytest.mark.parametrize(
    ("fields", "wire"),
    [
        ({"csr": "C"}, _len(1, b"C")),
        ({"validity_duration": 3600}, bytes([3 << 3 | 0]) + b"\x90\x1c"),
        ({"metadata": {"ClusterID": "Kubernetes"}},
         _len(4, _len(1, _len(1, b"ClusterID") + _len(2, bytes([3 << 3 | 2, 10]) + b"Kubernetes")))),
    ],
    ids=["csr=1", "validity_duration=3", "metadata=4"],
)
def test_request_wire(fields: dict[str, object], wire: bytes) -> None:
    request, _ = ca_messages()
    msg = request()
    for k, v in fields.items():
        if k == "metadata":
            msg.metadata.update(v)
        else:
            setattr(msg, k, v)
    assert msg.SerializeToString() == wire
    assert request.FromString(wire) == msg


def test_response_wire() -> None:
    _, response = ca_messages()
    msg = response(cert_chain=["leaf", "root"])
    assert msg.SerializeToString() == _len(1, b"leaf") + _len(1, b"root")


def test_names() -> None:
    request, response = ca_messages()
    assert request.DESCRIPTOR.full_name == "istio.v1.auth.IstioCertificateRequest"
    assert response.DESCRIPTOR.full_name == "istio.v1.auth.IstioCertificateResponse"
    assert CREATE_CERTIFICATE == "/istio.v1.auth.IstioCertificateService/CreateCertificate"
    assert request.DESCRIPTOR.fields_by_name["csr"].number == 1
    assert ca_messages() == (request, response)  # built once
