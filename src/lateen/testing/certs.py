"""Test certificates (ECDSA P-256, ``cryptography``): a CA, server and client certificates
signed by it, and their PEM files, for the gateway TLS tests."""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Issued", "issue", "write_pem"]

Issued = tuple[x509.Certificate, ec.EllipticCurvePrivateKey]


def issue(
    cn: str, sans: list[str], issuer: Issued | None, *, ca: bool = False, client: bool = False
) -> Issued:
    """A certificate for ``cn`` (and DNS ``sans``), valid for a day, signed by ``issuer``
    (self-signed when None); a CA, or a server (``client``: client) certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), False)
    if not ca:
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return b.sign(issuer[1] if issuer else key, hashes.SHA256()), key


def write_pem(d: Path, name: str, issued: Issued) -> tuple[Path, Path]:
    """``<d>/<name>.pem`` and ``<d>/<name>-key.pem`` (PKCS#8, unencrypted)."""
    cert, key = issued
    cert_path, key_path = d / f"{name}.pem", d / f"{name}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path
