"""X.509 building blocks (all with ``cryptography``): keys, PEM, CA certificates, CSRs and the
workload certificate template Istio's CA signs.

A workload certificate has an empty subject, exactly one SAN (critical, since the subject is
empty) and, as Istio's: key usage digitalSignature + keyEncipherment (critical), extended key
usage serverAuth + clientAuth, basic constraints CA:FALSE (critical), subject and authority key
identifiers; it is valid from two minutes before it is signed (clock skew) for its TTL.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
from collections.abc import Iterable, Sequence
from typing import Literal, TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CLOCK_SKEW_GRACE",
    "KeyType",
    "PrivateKey",
    "PublicKey",
    "certs_to_pem",
    "check_public_key",
    "create_ca_cert",
    "create_csr",
    "create_leaf_cert",
    "generate_key",
    "key_to_pem",
    "key_type_of",
    "load_certs",
    "load_key",
    "new_key_and_csr",
    "uri_sans",
]

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
KeyType = Literal["rsa", "ecdsa"]

RSA_KEY_SIZE = 2048  # Istio's default for its self-signed root and for workload keys
MIN_RSA_KEY_SIZE = 2048
CLOCK_SKEW_GRACE = datetime.timedelta(minutes=2)  # Istio's ClockSkewGracePeriod
_CURVES = (ec.SECP256R1, ec.SECP384R1)


def generate_key(key_type: KeyType = "rsa") -> PrivateKey:
    """RSA 2048 (Istio's default) or ECDSA P-256 (Istio's ``ECC_SIGNATURE_ALGORITHM=ECDSA``)."""
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_SIZE)
    if key_type == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unknown key type {key_type!r} (rsa or ecdsa)")


def key_type_of(key: PrivateKey) -> KeyType:
    return "ecdsa" if isinstance(key, ec.EllipticCurvePrivateKey) else "rsa"


def key_to_pem(key: PrivateKey) -> bytes:
    """PKCS#1 ``RSA PRIVATE KEY`` / SEC1 ``EC PRIVATE KEY``, unencrypted, as Istio writes keys."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def load_key(pem: bytes | str) -> PrivateKey:
    data = pem.encode() if isinstance(pem, str) else pem
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"unsupported private key type {type(key).__name__} (RSA or ECDSA)")
    return key


def load_certs(pem: bytes | str) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle, in order (ValueError when there is none)."""
    data = pem.encode() if isinstance(pem, str) else pem
    certs = x509.load_pem_x509_certificates(data)
    if not certs:
        raise ValueError("no certificate found")
    return list(certs)


def certs_to_pem(certs: Iterable[x509.Certificate]) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


def check_public_key(key: object) -> PublicKey:
    """The public key types a CA accepts: RSA >= 2048 bits, ECDSA P-256 or P-384."""
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_KEY_SIZE:
            raise ValueError(f"RSA key of {key.key_size} bits (at least {MIN_RSA_KEY_SIZE})")
        return key
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, _CURVES):
            raise ValueError(f"unsupported curve {key.curve.name} (P-256 or P-384)")
        return key
    raise ValueError(f"unsupported public key type {type(key).__name__} (RSA or ECDSA)")


def _hash_for(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384:
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP384R1):
        return hashes.SHA384()
    return hashes.SHA256()


@functools.lru_cache(maxsize=16)
def _ski(cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    try:
        ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(check_public_key(cert.public_key()))


def create_ca_cert(
    key: PrivateKey,
    *,
    org: str,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
    common_name: str = "",
    issuer_key: PrivateKey | None = None,
    issuer_cert: x509.Certificate | None = None,
    path_length: int | None = None,
) -> x509.Certificate:
    """A CA certificate (``O=<org>``, keyCertSign): self-signed without an issuer (a root, as
    Istio's self-signed CA makes with ``O=<trust domain>``), else an intermediate."""
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)]
    if common_name:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    subject = x509.Name(attrs)
    signer_key = issuer_key or key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert is not None else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_CA_KEY_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer_cert is not None:
        builder = builder.add_extension(_ski(issuer_cert), critical=False)
    return builder.sign(signer_key, _hash_for(signer_key))


def create_leaf_cert(
    public_key: PublicKey,
    *,
    issuer_key: PrivateKey,
    issuer_cert: x509.Certificate,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
    uris: Sequence[str] = (),
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
) -> x509.Certificate:
    """A workload (or server) certificate: empty subject, the given SANs only."""
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(u) for u in uris]
    names += [x509.DNSName(d) for d in dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
    if not names:
        raise ValueError("a leaf certificate needs at least one subject alternative name")
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(issuer_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(names), critical=True)
        .add_extension(_LEAF_KEY_USAGE, critical=True)
        .add_extension(_LEAF_EKU, critical=False)
        .add_extension(_NOT_CA, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(_ski(issuer_cert), critical=False)
    )
    return builder.sign(issuer_key, _hash_for(issuer_key))


def create_csr(key: PrivateKey, spiffe_id: str | None = None) -> bytes:
    """A PEM CSR for ``key``, as Istio's agent makes one (the SAN is a hint the CA ignores)."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
    if spiffe_id:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe_id)]), critical=True
        )
    return builder.sign(key, _hash_for(key)).public_bytes(serialization.Encoding.PEM)


def new_key_and_csr(key_type: KeyType = "rsa", spiffe_id: str | None = None) -> tuple[bytes, bytes]:
    """(private key PEM, CSR PEM): what an agent's SDS makes before calling the CA."""
    key = generate_key(key_type)
    return key_to_pem(key), create_csr(key, spiffe_id)


def uri_sans(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return list(san.get_values_for_type(x509.UniformResourceIdentifier))


_CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)
_LEAF_EKU = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])
_NOT_CA = x509.BasicConstraints(ca=False, path_length=None)
_LEAF_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=True,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)
