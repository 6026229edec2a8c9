"""Shared helpers for the CA tests: a fixed clock, roots and intermediates, CSRs of any shape,
chain verification with cryptography's verifier, and a deterministic certificate profile."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import PolicyBuilder, Store

from lateen.security import (
    KeyType,
    SigningBundle,
    certs_to_pem,
    create_ca_cert,
    generate_key,
    key_to_pem,
    load_certs,
)
from lateen.security._clock import to_datetime
from lateen.testing.clock import FakeClock

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
HOUR = 3600.0
DAY = 24 * HOUR


def clock(at: float = NOW) -> FakeClock:
    return FakeClock(start=at)


def root_bundle(now: float = NOW, key_type: KeyType = "ecdsa", ttl: float = 3650 * DAY) -> SigningBundle:
    return SigningBundle.self_signed_root(org="cluster.local", now=now, key_type=key_type, ttl=ttl)


def intermediate_bundle(
    now: float = NOW, levels: int = 1, *, int_ttl: float = 365 * DAY
) -> tuple[SigningBundle, x509.Certificate]:
    """An operator's CA: a root (O=example-root) and ``levels`` intermediates, in the
    ``cacerts`` layout (cert-chain.pem = ca-cert.pem ... root-cert.pem, as Istio's tools)."""
    root_key = generate_key("ecdsa")
    root = create_ca_cert(root_key, org="example-root", common_name="Root CA",
                          not_before=to_datetime(now - DAY), not_after=to_datetime(now + 3650 * DAY))
    chain = [root]
    key, cert = root_key, root
    for i in range(levels):
        k = generate_key("ecdsa")
        c = create_ca_cert(k, org="cluster.local", common_name=f"Intermediate CA {i + 1}",
                           not_before=to_datetime(now - DAY), not_after=to_datetime(now + int_ttl),
                           issuer_key=key, issuer_cert=cert)
        chain.insert(0, c)
        key, cert = k, c
    bundle = SigningBundle.from_pem(
        certs_to_pem([cert]), key_to_pem(key), certs_to_pem(chain), certs_to_pem([root])
    )
    return bundle, root


def csr_pem(
    key_type: KeyType = "ecdsa",
    *,
    uris: Sequence[str] = (),
    dns_names: Sequence[str] = (),
    common_name: str = "",
    key: Any = None,
) -> bytes:
    key = key or generate_key(key_type)
    names = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name else [])
    b = x509.CertificateSigningRequestBuilder().subject_name(names)
    sans = [x509.UniformResourceIdentifier(u) for u in uris] + [x509.DNSName(d) for d in dns_names]
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def tamper_signature(pem: bytes) -> bytes:
    """The same CSR with the last byte of its signature flipped."""
    der = bytearray(x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01
    body = base64.encodebytes(bytes(der)).decode().replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return ("-----BEGIN CERTIFICATE REQUEST-----\n" + "\n".join(lines)
            + "\n-----END CERTIFICATE REQUEST-----\n").encode()


def verify_client(chain: Sequence[str], roots: Sequence[x509.Certificate], at: float) -> list[str]:
    """Verify a response chain (leaf first) against ``roots`` as a peer verifies a client
    certificate (cryptography's X.509 path validation); the SPIFFE ids it proves."""
    certs = [load_certs(c)[0] for c in chain]
    verifier = PolicyBuilder().store(Store(list(roots))).time(to_datetime(at)).build_client_verifier()
    verified = verifier.verify(certs[0], certs[1:])
    return [str(s.value) for s in verified.subjects or []]


def _ext_value(ext: x509.Extension[Any]) -> Any:
    v = ext.value
    if isinstance(v, x509.SubjectAlternativeName):
        return [f"{type(n).__name__}:{n.value}" for n in v]
    if isinstance(v, x509.KeyUsage):
        names = ["digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                 "key_agreement", "key_cert_sign", "crl_sign"]
        return [n for n in names if getattr(v, n)]
    if isinstance(v, x509.ExtendedKeyUsage):
        return [u._name for u in v]
    if isinstance(v, x509.BasicConstraints):
        return {"ca": v.ca, "path_length": v.path_length}
    if isinstance(v, x509.SubjectKeyIdentifier | x509.AuthorityKeyIdentifier):
        return "present"
    return repr(v)


def _key(pub: Any) -> str:
    if isinstance(pub, rsa.RSAPublicKey):
        return f"RSA {pub.key_size}"
    if isinstance(pub, ec.EllipticCurvePublicKey):
        return f"ECDSA {pub.curve.name}"
    return type(pub).__name__


def profile(cert: x509.Certificate, now: float) -> dict[str, Any]:
    """What a certificate says, independent of keys, serials and absolute times."""
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "public_key": _key(cert.public_key()),
        "signature_hash": cert.signature_hash_algorithm.name if cert.signature_hash_algorithm else None,
        "not_before_offset_s": int(cert.not_valid_before_utc.timestamp() - now),
        "not_after_offset_s": int(cert.not_valid_after_utc.timestamp() - now),
        "serial_bits_max_159": cert.serial_number.bit_length() <= 159,
        "extensions": {
            ext.oid._name: {"critical": ext.critical, "value": _ext_value(ext)}
            for ext in cert.extensions
        },
    }
