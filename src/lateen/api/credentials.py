"""Kubernetes Secrets holding TLS credentials, as Istio's ``credentialName`` reads them.

A Secret's ``data`` (base64) and ``stringData`` (plain) hold the credential under Istio's keys:
``cert``/``key``/``cacert`` (a generic Secret, looked at first) or ``tls.crt``/``tls.key``/
``ca.crt`` (a ``kubernetes.io/tls`` Secret). The CA certificate of credential ``NAME`` comes
from a Secret ``NAME-cacert`` when there is one, else from ``NAME`` itself.

:func:`validate_secret_credentials` checks what a Secret holds (PEM that parses, a key that
matches its certificate) with the field path of each problem; :func:`check_certificate_pem`
and friends do the same for bare PEM (the CLI names the file). Nothing here logs or returns
key material in messages.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from lateen.api._base import ValidationContext

__all__ = [
    "CACERT_SUFFIX",
    "CA_KEYS",
    "GENERIC_CA",
    "GENERIC_CERT",
    "GENERIC_KEY",
    "TLS_CA",
    "TLS_CERT",
    "TLS_KEY",
    "TLS_SECRET_TYPE",
    "CredentialError",
    "TlsCredential",
    "check_certificate_pem",
    "check_key_matches",
    "check_private_key_pem",
    "secret_ca",
    "secret_data",
    "secret_tls",
    "validate_secret_credentials",
]

GENERIC_CERT, GENERIC_KEY, GENERIC_CA = "cert", "key", "cacert"
TLS_CERT, TLS_KEY, TLS_CA = "tls.crt", "tls.key", "ca.crt"
CA_KEYS = (GENERIC_CA, TLS_CA)
TLS_SECRET_TYPE = "kubernetes.io/tls"
CACERT_SUFFIX = "-cacert"  # Istio's SdsCaSuffix


class CredentialError(ValueError):
    """A credential that cannot be used (the message names the problem, never the key)."""


@dataclass(frozen=True, slots=True)
class TlsCredential:
    """A certificate chain and its private key (PEM)."""

    cert: bytes
    key: bytes


def secret_data(body: Mapping[str, Any]) -> dict[str, bytes]:
    """The Secret's values, decoded: ``data`` (base64) overlaid with ``stringData``, as the
    API server merges them. Values that are not valid base64 are left out (validation
    reports them)."""
    out: dict[str, bytes] = {}
    for key, value in (body.get("data") or {}).items():
        try:
            out[str(key)] = base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            continue
    for key, value in (body.get("stringData") or {}).items():
        out[str(key)] = str(value).encode()
    return out


def secret_tls(body: Mapping[str, Any]) -> TlsCredential:
    """Certificate and key of a Secret (Istio's order: ``cert``/``key``, then
    ``tls.crt``/``tls.key``); :class:`CredentialError` naming the keys found otherwise."""
    data = secret_data(body)
    for cert_key, key_key in ((GENERIC_CERT, GENERIC_KEY), (TLS_CERT, TLS_KEY)):
        if data.get(cert_key) and data.get(key_key):
            return TlsCredential(data[cert_key], data[key_key])
    for cert_key, key_key in ((GENERIC_CERT, GENERIC_KEY), (TLS_CERT, TLS_KEY)):
        if cert_key in data and key_key in data:
            raise CredentialError(f"found keys {cert_key!r} and {key_key!r}, but they were empty")
    raise CredentialError(
        f"found secret, but didn't have expected keys ({GENERIC_CERT} and {GENERIC_KEY}) or "
        f"({TLS_CERT} and {TLS_KEY}); found: {', '.join(sorted(data)) or 'nothing'}"
    )


def secret_ca(body: Mapping[str, Any]) -> bytes:
    """The CA certificate(s) of a Secret (``cacert``, then ``ca.crt``)."""
    data = secret_data(body)
    for key in CA_KEYS:
        if data.get(key):
            return data[key]
    raise CredentialError(
        f"found secret, but didn't have expected keys {GENERIC_CA} or {TLS_CA}; "
        f"found: {', '.join(sorted(data)) or 'nothing'}"
    )


# -- checks -------------------------------------------------------------------------------


def check_certificate_pem(pem: bytes) -> list[x509.Certificate]:
    """The certificates of a PEM bundle; :class:`CredentialError` when there is none or one
    does not parse."""
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise CredentialError("no PEM certificate (-----BEGIN CERTIFICATE-----) found")
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError as e:
        raise CredentialError(f"certificate does not parse: {e}") from None


def check_private_key_pem(pem: bytes) -> Any:
    """The private key of a PEM block (unencrypted); :class:`CredentialError` otherwise. The
    error never quotes the key."""
    if b"PRIVATE KEY-----" not in pem:
        raise CredentialError("no PEM private key (-----BEGIN ... PRIVATE KEY-----) found")
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise CredentialError("the private key is encrypted (a password is needed)") from None
    except Exception as e:  # cryptography raises several types
        raise CredentialError(f"private key does not parse ({type(e).__name__})") from None
    if not isinstance(
        key,
        rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey,
    ):
        raise CredentialError(f"unsupported private key type {type(key).__name__}")
    return key


def _public_der(public: Any) -> bytes:
    der: bytes = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der


def check_key_matches(cert: x509.Certificate, key: Any) -> None:
    """:class:`CredentialError` unless ``key`` is the private key of ``cert`` (the leaf)."""
    if _public_der(cert.public_key()) != _public_der(key.public_key()):
        raise CredentialError("the private key does not match the certificate")


# -- Secret validation ----------------------------------------------------------------------


def _field(key: str) -> str:
    return f"data[{key}]"


def validate_secret_credentials(body: Mapping[str, Any], ctx: ValidationContext) -> None:
    """Check a Secret's TLS material: ``kubernetes.io/tls`` needs ``tls.crt`` and ``tls.key``
    (as the API server requires); every ``data`` value must be base64; every certificate key
    (``cert``, ``tls.crt``, ``cacert``, ``ca.crt``) must hold PEM certificates, every key
    (``key``, ``tls.key``) a PEM private key matching its certificate."""
    raw = body.get("data") or {}
    if not isinstance(raw, Mapping):
        return  # the model check reports the type
    for key, value in raw.items():
        try:
            base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            ctx.error(_field(str(key)), "not valid base64")
    data = secret_data(body)
    if body.get("type") == TLS_SECRET_TYPE:
        for key in (TLS_CERT, TLS_KEY):
            if key not in data:
                ctx.error(_field(key), f"required for a Secret of type {TLS_SECRET_TYPE}")
    certs: dict[str, x509.Certificate] = {}
    for key in (GENERIC_CERT, TLS_CERT, *CA_KEYS):
        if key not in data:
            continue
        try:
            certs[key] = check_certificate_pem(data[key])[0]
        except CredentialError as e:
            ctx.error(_field(key), str(e))
    for cert_key, key_key in ((GENERIC_CERT, GENERIC_KEY), (TLS_CERT, TLS_KEY)):
        if key_key not in data:
            if cert_key in data and body.get("type") != TLS_SECRET_TYPE:
                ctx.error(_field(key_key), f"missing: {cert_key!r} needs its private key")
            continue
        try:
            private = check_private_key_pem(data[key_key])
        except CredentialError as e:
            ctx.error(_field(key_key), str(e))
            continue
        if cert_key not in data:
            ctx.error(_field(cert_key), f"missing: {key_key!r} needs its certificate")
        elif cert_key in certs:
            try:
                check_key_matches(certs[cert_key], private)
            except CredentialError as e:
                ctx.error(_field(key_key), str(e))
