"""Istio's CA messages (``istio/api`` ``security/v1alpha1/ca.proto``), wire-compatible.

Built at runtime from a ``FileDescriptorProto`` (no generated code is checked in): package
``istio.v1.auth``; ``IstioCertificateRequest {string csr = 1; int64 validity_duration = 3;
google.protobuf.Struct metadata = 4;}`` (field 2, the old ``subject_id``, is reserved, as in
Istio); ``IstioCertificateResponse {repeated string cert_chain = 1;}``; service
``IstioCertificateService`` with the unary ``CreateCertificate``.
"""

from __future__ import annotations

import functools
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, struct_pb2

__all__ = ["CREATE_CERTIFICATE", "ISTIOD_SERVER_NAME", "SERVICE", "ca_messages"]

PACKAGE = "istio.v1.auth"
SERVICE = f"{PACKAGE}.IstioCertificateService"
CREATE_CERTIFICATE = f"/{SERVICE}/CreateCertificate"
_FILE = "security/v1alpha1/ca.proto"
# the name the CA's serving certificate carries and clients verify (Istio's agent does)
ISTIOD_SERVER_NAME = "istiod.istio-system.svc"

_F = descriptor_pb2.FieldDescriptorProto


def _file() -> descriptor_pb2.FileDescriptorProto:
    f = descriptor_pb2.FileDescriptorProto(
        name=_FILE, package=PACKAGE, syntax="proto3", dependency=["google/protobuf/struct.proto"]
    )
    req = f.message_type.add(name="IstioCertificateRequest")
    req.field.add(name="csr", number=1, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL,
                  json_name="csr")
    req.field.add(name="validity_duration", number=3, type=_F.TYPE_INT64,
                  label=_F.LABEL_OPTIONAL, json_name="validityDuration")
    req.field.add(name="metadata", number=4, type=_F.TYPE_MESSAGE, label=_F.LABEL_OPTIONAL,
                  type_name=".google.protobuf.Struct", json_name="metadata")
    req.reserved_range.add(start=2, end=3)
    resp = f.message_type.add(name="IstioCertificateResponse")
    resp.field.add(name="cert_chain", number=1, type=_F.TYPE_STRING, label=_F.LABEL_REPEATED,
                   json_name="certChain")
    svc = f.service.add(name="IstioCertificateService")
    svc.method.add(name="CreateCertificate", input_type=f".{PACKAGE}.IstioCertificateRequest",
                   output_type=f".{PACKAGE}.IstioCertificateResponse")
    return f


@functools.cache
def ca_messages() -> tuple[Any, Any]:
    """(IstioCertificateRequest, IstioCertificateResponse) message classes (built once)."""
    pool = descriptor_pool.Default()
    _ = struct_pb2.Struct  # google/protobuf/struct.proto is in the default pool
    try:
        pool.FindFileByName(_FILE)
    except KeyError:
        pool.Add(_file())
    request = message_factory.GetMessageClass(
        pool.FindMessageTypeByName(f"{PACKAGE}.IstioCertificateRequest")
    )
    response = message_factory.GetMessageClass(
        pool.FindMessageTypeByName(f"{PACKAGE}.IstioCertificateResponse")
    )
    return request, response
