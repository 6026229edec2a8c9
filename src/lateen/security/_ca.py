"""Our Citadel: the signing CA (Istio's ``IstioCA`` and ``KeyCertBundle``).

A :class:`SigningBundle` is a signing key and certificate with the chain that follows a leaf
and the roots it chains to, loaded from a directory in Istio's ``cacerts`` layout
(``ca-cert.pem``, ``ca-key.pem``, ``cert-chain.pem``, ``root-cert.pem``) or generated as a
self-signed root (RSA 2048, ``O=<trust domain>``, 10 years, as Istio's self-signed CA).

:class:`CertificateAuthority` signs workload CSRs: only the CSR's public key is used (after its
signature is checked); the one URI SAN is the SPIFFE id of the *authenticated caller*, given
by the server, never anything the CSR asks for. Root rotation runs in Istio's three steps,
each a method here (:meth:`~CertificateAuthority.trust_new_signer`,
:meth:`~CertificateAuthority.switch_signer`, :meth:`~CertificateAuthority.retire_old_roots`);
:class:`lateen.security.RootRotator` drives them on a clock for a self-signed root.
"""

from __future__ import annotations

import datetime
import enum
import itertools
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization

from lateen.security._clock import SystemClock, WallClock, to_datetime
from lateen.security._files import write_private
from lateen.security._identity import Identity
from lateen.security._pki import (
    CLOCK_SKEW_GRACE,
    KeyType,
    PrivateKey,
    certs_to_pem,
    check_public_key,
    create_ca_cert,
    create_leaf_cert,
    generate_key,
    key_to_pem,
    key_type_of,
    load_certs,
    load_key,
)

__all__ = [
    "CA_CERT_FILE",
    "CA_KEY_FILE",
    "CERT_CHAIN_FILE",
    "DEFAULT_CERT_TTL",
    "GENERATED_MARKER",
    "MAX_CERT_TTL",
    "ROOT_CERT_FILE",
    "SELF_SIGNED_ROOT_TTL",
    "CAError",
    "CaStats",
    "CertificateAuthority",
    "Rotation",
    "RotationPhase",
    "SigningBundle",
]

DAY = 24 * 3600.0
DEFAULT_CERT_TTL = 1 * DAY  # Istio's DEFAULT_WORKLOAD_CERT_TTL
MAX_CERT_TTL = 90 * DAY  # Istio's MAX_WORKLOAD_CERT_TTL
SELF_SIGNED_ROOT_TTL = 3650 * DAY  # Istio's CITADEL_SELF_SIGNED_CA_CERT_TTL

CA_CERT_FILE = "ca-cert.pem"
CA_KEY_FILE = "ca-key.pem"
CERT_CHAIN_FILE = "cert-chain.pem"
ROOT_CERT_FILE = "root-cert.pem"
GENERATED_MARKER = "istio-generated"  # as in the ``cacerts`` secret istiod writes itself

CAErrorKind = Literal["CA_NOT_READY", "CSR_ERROR", "TTL_ERROR", "CERT_GEN_ERROR"]


class CAError(Exception):
    """A signing failure with Istio's error type (CSR_ERROR and TTL_ERROR are the caller's
    fault: INVALID_ARGUMENT on the wire; the others INTERNAL)."""

    def __init__(self, kind: CAErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: CAErrorKind = kind


def _ts(dt: datetime.datetime) -> float:
    return dt.timestamp()


def _same(a: x509.Certificate, b: x509.Certificate) -> bool:
    return a.public_bytes(serialization.Encoding.DER) == b.public_bytes(serialization.Encoding.DER)


def _dedup(certs: Iterable[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    out: list[x509.Certificate] = []
    for c in certs:
        if not any(_same(c, o) for o in out):
            out.append(c)
    return tuple(out)


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


@dataclass(frozen=True, slots=True, eq=False)
class SigningBundle:
    """Istio's KeyCertBundle: ``key``/``cert`` sign; ``chain`` follows every leaf (empty for a
    self-signed root; starts with ``cert`` for an intermediate); ``roots`` are trusted."""

    key: PrivateKey
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()
    roots: tuple[x509.Certificate, ...] = ()
    generated: bool = False  # a self-signed root Lateen made (and may rotate)

    @property
    def fingerprint(self) -> str:
        return self.cert.fingerprint(_SHA256).hex()

    def path(self) -> list[x509.Certificate]:
        """Signing cert and what follows it up to (not always including) a root."""
        if self.chain and _same(self.chain[0], self.cert):
            return list(self.chain)
        return [self.cert, *self.chain]

    def not_after(self) -> float:
        """The earliest expiry along the path (no certificate outlives its issuers)."""
        return min(_ts(c.not_valid_after_utc) for c in self.path())

    def verify(self, now: float) -> None:
        """ValueError unless the key matches, ``cert`` is a CA, valid now, and chains to a root."""
        pub = self.key.public_key().public_bytes(_DER, _SPKI)
        if self.cert.public_key().public_bytes(_DER, _SPKI) != pub:
            raise ValueError(f"{CA_KEY_FILE} does not match {CA_CERT_FILE}")
        try:
            bc = self.cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            bc = None
        if bc is None or not bc.ca:
            raise ValueError(f"{CA_CERT_FILE} is not a CA certificate (basicConstraints CA:TRUE)")
        if not self.roots:
            raise ValueError(f"no root certificate ({ROOT_CERT_FILE})")
        path = self.path()
        for child, parent in itertools.pairwise(path):
            if not _issued_by(child, parent):
                raise ValueError(f"{CERT_CHAIN_FILE}: {child.subject.rfc4514_string()!r} is not "
                                 f"signed by {parent.subject.rfc4514_string()!r}")
        top = path[-1]
        if not any(_same(top, r) or _issued_by(top, r) for r in self.roots):
            raise ValueError(f"{CA_CERT_FILE} does not chain to a certificate in {ROOT_CERT_FILE}")
        when = to_datetime(now)
        if not self.cert.not_valid_before_utc <= when <= self.cert.not_valid_after_utc:
            raise ValueError(f"{CA_CERT_FILE} is not valid now (valid "
                             f"{self.cert.not_valid_before_utc} to {self.cert.not_valid_after_utc})")

    # -- PEM and directories ---------------------------------------------------------------

    @classmethod
    def from_pem(
        cls,
        cert_pem: bytes | str,
        key_pem: bytes | str,
        chain_pem: bytes | str | None = None,
        roots_pem: bytes | str | None = None,
        *,
        generated: bool = False,
    ) -> SigningBundle:
        cert = load_certs(cert_pem)[0]
        key = load_key(key_pem)
        self_signed = cert.issuer == cert.subject and _issued_by(cert, cert)
        chain = tuple(load_certs(chain_pem)) if chain_pem and chain_pem.strip() else ()
        if not chain and not self_signed:
            chain = (cert,)
        roots = tuple(load_certs(roots_pem)) if roots_pem and roots_pem.strip() else ()
        if not roots and self_signed:
            roots = (cert,)
        return cls(key, cert, chain, _dedup(roots), generated)

    @classmethod
    def load(cls, directory: Path) -> SigningBundle:
        """Istio's ``cacerts`` layout: ``ca-cert.pem`` + ``ca-key.pem`` required,
        ``cert-chain.pem`` and ``root-cert.pem`` optional for a self-signed ``ca-cert.pem``."""

        def read(name: str) -> bytes | None:
            p = directory / name
            return p.read_bytes() if p.exists() else None

        cert_pem, key_pem = read(CA_CERT_FILE), read(CA_KEY_FILE)
        if cert_pem is None or key_pem is None:
            raise FileNotFoundError(f"{directory}: needs {CA_CERT_FILE} and {CA_KEY_FILE}")
        return cls.from_pem(
            cert_pem,
            key_pem,
            read(CERT_CHAIN_FILE),
            read(ROOT_CERT_FILE),
            generated=(directory / GENERATED_MARKER).exists(),
        )

    def write(self, directory: Path) -> None:
        """Write the four files (the key 0600) atomically, each replacing the old one."""
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        files = {
            CA_KEY_FILE: key_to_pem(self.key),
            CA_CERT_FILE: certs_to_pem([self.cert]).encode(),
            CERT_CHAIN_FILE: certs_to_pem(self.chain).encode(),
            ROOT_CERT_FILE: certs_to_pem(self.roots).encode(),
        }
        if self.generated:
            files[GENERATED_MARKER] = b""
        for name, data in files.items():
            write_private(directory / name, data, 0o600 if name == CA_KEY_FILE else 0o644)

    @classmethod
    def self_signed_root(
        cls, *, org: str, now: float, key_type: KeyType = "rsa", ttl: float = SELF_SIGNED_ROOT_TTL
    ) -> SigningBundle:
        """A new self-signed root, as Istio's self-signed CA makes one (``O=<org>``, no CN)."""
        key = generate_key(key_type)
        cert = create_ca_cert(
            key, org=org, not_before=to_datetime(now), not_after=to_datetime(now + ttl)
        )
        return cls(key, cert, (), (cert,), generated=True)


class RotationPhase(enum.StrEnum):
    STABLE = "stable"
    NEW_ROOT_TRUSTED = "new-root-trusted"  # step 1 done: both roots trusted, old one signs
    SIGNING_WITH_NEW = "signing-with-new"  # step 2 done: new one signs, old root still trusted


@dataclass(frozen=True, slots=True)
class Rotation:
    phase: RotationPhase = RotationPhase.STABLE
    since: float = 0.0  # when the phase began
    pending: SigningBundle | None = None  # NEW_ROOT_TRUSTED: the signer that takes over
    retiring_roots: tuple[x509.Certificate, ...] = ()  # SIGNING_WITH_NEW: old roots
    old_certs_expire: float = 0.0  # SIGNING_WITH_NEW: the old signer's last cert expires


@dataclass(slots=True)
class CaStats:
    """Counters under Istio's ``citadel_server_*`` meanings."""

    csr: int = 0
    success: int = 0
    authn_error: int = 0
    sign_errors: dict[str, int] = field(default_factory=dict)


class CertificateAuthority:
    """Signs workload CSRs for authenticated identities; holds the trust bundle and the
    root-rotation state. Thread-safe: :meth:`sign` may run in worker threads."""

    def __init__(
        self,
        signer: SigningBundle,
        *,
        trust_domain: str = "cluster.local",
        default_ttl: float = DEFAULT_CERT_TTL,
        max_ttl: float = MAX_CERT_TTL,
        clock: WallClock | None = None,
        rotation: Rotation | None = None,
    ) -> None:
        self.clock: WallClock = clock or SystemClock()
        signer.verify(self.clock.now())
        if rotation is not None and rotation.pending is not None:
            rotation.pending.verify(self.clock.now())
        self.trust_domain = trust_domain
        self.default_ttl = default_ttl
        self.max_ttl = max_ttl
        self.stats = CaStats()
        self._lock = threading.Lock()
        self._issued_until: dict[str, float] = {}  # signer fingerprint -> latest leaf expiry
        self._signer = signer
        self._rotation = rotation or Rotation(since=self.clock.now())
        self._refresh()

    # -- state ---------------------------------------------------------------------------

    @property
    def signer(self) -> SigningBundle:
        return self._signer

    @property
    def rotation(self) -> Rotation:
        return self._rotation

    def trust_bundle(self) -> tuple[x509.Certificate, ...]:
        """Every root a workload must trust now: the signer's, then the incoming or retiring ones."""
        return self._bundle

    def trust_bundle_pem(self) -> str:
        return certs_to_pem(self._bundle)

    def _refresh(self) -> None:
        r = self._rotation
        extra = r.pending.roots if r.pending is not None else r.retiring_roots
        self._bundle = _dedup((*self._signer.roots, *extra))
        # what follows every leaf in a response: the chain, then each root not already in it
        tail = list(self._signer.chain)
        tail += [root for root in self._bundle if not any(_same(root, c) for c in tail)]
        self._tail = tuple(certs_to_pem([c]) for c in tail)

    # -- signing -------------------------------------------------------------------------

    def lifetime(self, requested: float, now: float, signer: SigningBundle) -> float:
        """Istio's rule: <= 0 means the default TTL; over the maximum is an error. A certificate
        never outlives its signing chain."""
        if requested > self.max_ttl:
            raise CAError(
                "TTL_ERROR",
                f"requested TTL {_human(requested)} is greater than the max allowed TTL "
                f"{_human(self.max_ttl)}",
            )
        ttl = self.default_ttl if requested <= 0 else requested
        return min(ttl, signer.not_after() - now)

    def sign(self, csr_pem: bytes | str, identity: Identity, ttl: float = 0) -> list[str]:
        """The certificate chain for ``identity`` with the CSR's public key, as
        ``IstioCertificateResponse.cert_chain``: leaf, the signing chain, then every trusted
        root, one PEM certificate per element. Raises :class:`CAError`."""
        try:
            return self._sign(csr_pem, identity, ttl)
        except CAError as e:
            with self._lock:
                self.stats.sign_errors[e.kind] = self.stats.sign_errors.get(e.kind, 0) + 1
            raise

    def _sign(self, csr_pem: bytes | str, identity: Identity, ttl: float) -> list[str]:
        data = csr_pem.encode() if isinstance(csr_pem, str) else csr_pem
        try:
            csr = x509.load_pem_x509_csr(data)
        except ValueError as e:
            raise CAError("CSR_ERROR", f"failed to parse the CSR: {e}") from None
        try:
            valid = csr.is_signature_valid
            public_key = check_public_key(csr.public_key())
        except (ValueError, TypeError) as e:
            raise CAError("CSR_ERROR", f"CSR public key: {e}") from None
        if not valid:
            raise CAError("CSR_ERROR", "the CSR's signature does not verify")
        now = self.clock.now()
        with self._lock:
            signer, tail = self._signer, self._tail
            lifetime = self.lifetime(ttl, now, signer)
            if lifetime <= 0:
                raise CAError("CA_NOT_READY", "the CA certificate has expired")
            fp = signer.fingerprint
            self._issued_until[fp] = max(self._issued_until.get(fp, 0.0), now + lifetime)
        try:
            leaf = create_leaf_cert(
                public_key,
                issuer_key=signer.key,
                issuer_cert=signer.cert,
                not_before=to_datetime(now) - CLOCK_SKEW_GRACE,
                not_after=to_datetime(now + lifetime),
                uris=[identity.spiffe_id(self.trust_domain)],
            )
        except ValueError as e:
            raise CAError("CERT_GEN_ERROR", str(e)) from None
        return [certs_to_pem([leaf]), *tail]

    def issue_key_cert(
        self, *, dns_names: Iterable[str] = (), ip_addresses: Iterable[str] = (), ttl: float = 0
    ) -> tuple[bytes, bytes, float]:
        """A new key and certificate for a server (e.g. this CA's own gRPC server): (key PEM,
        chain PEM without the roots, expiry in POSIX seconds). Key type as the signing key's."""
        now = self.clock.now()
        with self._lock:
            signer = self._signer
            lifetime = self.lifetime(ttl, now, signer)
            fp = signer.fingerprint
            self._issued_until[fp] = max(self._issued_until.get(fp, 0.0), now + lifetime)
        key = generate_key(key_type_of(signer.key))
        leaf = create_leaf_cert(
            key.public_key(),
            issuer_key=signer.key,
            issuer_cert=signer.cert,
            not_before=to_datetime(now) - CLOCK_SKEW_GRACE,
            not_after=to_datetime(now + lifetime),
            dns_names=list(dns_names),
            ip_addresses=list(ip_addresses),
        )
        chain = [leaf, *(c for c in signer.chain if not _same(c, leaf))]
        chain = [c for c in chain if not any(_same(c, r) for r in signer.roots)]
        return key_to_pem(key), certs_to_pem(chain).encode(), now + lifetime

    # -- root rotation: Istio's three steps ---------------------------------------------

    def trust_new_signer(self, new: SigningBundle) -> None:
        """Step 1: add the new signer's roots to the trust bundle; the old signer keeps signing
        (every response now carries both roots, so workloads learn the new one)."""
        new.verify(self.clock.now())
        with self._lock:
            if self._rotation.phase is not RotationPhase.STABLE:
                raise RuntimeError(f"a rotation is already under way ({self._rotation.phase})")
            self._rotation = Rotation(RotationPhase.NEW_ROOT_TRUSTED, self.clock.now(), pending=new)
            self._refresh()

    def switch_signer(self) -> float:
        """Step 2: sign with the new signer; the old roots stay trusted until every certificate
        the old signer issued has expired. Returns that time (POSIX seconds): the latest expiry
        this process issued, and no earlier than one default TTL from now (certificates issued
        before a restart)."""
        now = self.clock.now()
        with self._lock:
            r = self._rotation
            if r.phase is not RotationPhase.NEW_ROOT_TRUSTED or r.pending is None:
                raise RuntimeError(f"no new signer is trusted yet ({r.phase})")
            old = self._signer
            old_expire = max(self._issued_until.get(old.fingerprint, 0.0), now + self.default_ttl)
            retiring = tuple(c for c in old.roots if not any(_same(c, n) for n in r.pending.roots))
            self._signer = r.pending
            self._rotation = Rotation(
                RotationPhase.SIGNING_WITH_NEW, now, retiring_roots=retiring,
                old_certs_expire=old_expire,
            )
            self._refresh()
            return old_expire

    def retire_old_roots(self, *, force: bool = False) -> None:
        """Step 3: drop the old roots from the trust bundle. Refused while a certificate of the
        old signer may still be live, unless ``force``."""
        now = self.clock.now()
        with self._lock:
            r = self._rotation
            if r.phase is not RotationPhase.SIGNING_WITH_NEW:
                raise RuntimeError(f"the new signer is not signing yet ({r.phase})")
            if now < r.old_certs_expire and not force:
                raise RuntimeError(
                    f"certificates of the old signer are live until {to_datetime(r.old_certs_expire)}"
                )
            self._rotation = Rotation(RotationPhase.STABLE, now)
            self._refresh()


def _human(seconds: float) -> str:
    """Go's duration format, as Istio's messages print TTLs (``2160h0m0s``)."""
    s = round(seconds)
    return f"{s // 3600}h{s % 3600 // 60}m{s % 60}s"


_SHA256 = hashes.SHA256()
_DER = serialization.Encoding.DER
_SPKI = serialization.PublicFormat.SubjectPublicKeyInfo
