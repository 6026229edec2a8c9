"""The signing CA: identities come from the caller, only the CSR's key is used, TTL rules,
CSR checks, intermediate chains, the cacerts layout, and the certificate profile (golden)."""

from __future__ import annotations

import concurrent.futures
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from ca_support import (
    DAY,
    HOUR,
    NOW,
    clock,
    csr_pem,
    intermediate_bundle,
    profile,
    root_bundle,
    tamper_signature,
    verify_client,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.verification import VerificationError

from lateen.security import (
    CaDirectory,
    CAError,
    CertificateAuthority,
    Identity,
    SigningBundle,
    certs_to_pem,
    create_ca_cert,
    generate_key,
    key_to_pem,
    load_certs,
    new_key_and_csr,
    uri_sans,
)
from lateen.security._clock import to_datetime
from lateen.testing.golden import assert_golden

CALLER = Identity("default", "bookinfo-reviews")
CALLER_ID = "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"


@pytest.fixture(scope="module")
def root() -> SigningBundle:
    return root_bundle()


def make_ca(signer: SigningBundle, **kw: Any) -> CertificateAuthority:
    return CertificateAuthority(signer, clock=kw.pop("clock", clock()), **kw)


@pytest.mark.parametrize(
    "csr_kw",
    [
        {},
        {"uris": ["spiffe://cluster.local/ns/istio-system/sa/istiod"]},
        {"uris": ["spiffe://cluster.local/ns/a/sa/b", "spiffe://evil/ns/c/sa/d"]},
        {"dns_names": ["reviews.default.svc.cluster.local"], "common_name": "admin"},
        {"key_type": "rsa", "uris": ["spiffe://other.domain/ns/default/sa/bookinfo-reviews"]},
    ],
    ids=["no-san", "asks-istiod", "asks-two-ids", "dns-and-cn", "rsa-other-trust-domain"],
)
def test_identity_comes_from_the_caller(root: SigningBundle, csr_kw: dict[str, Any]) -> None:
    ca = make_ca(root)
    chain = ca.sign(csr_pem(**csr_kw), CALLER)
    leaf = load_certs(chain[0])[0]
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(n.value) for n in san] == [CALLER_ID]
    assert leaf.subject == x509.Name([])
    assert verify_client(chain, ca.trust_bundle(), NOW) == [CALLER_ID]


def test_only_the_public_key_is_taken(root: SigningBundle) -> None:
    key = generate_key("ecdsa")
    leaf = load_certs(make_ca(root).sign(csr_pem(key=key), CALLER)[0])[0]
    assert leaf.public_key() == key.public_key()


@pytest.mark.parametrize(
    ("requested", "lifetime"),
    [
        (0, 24 * HOUR),
        (-5, 24 * HOUR),
        (3600, HOUR),
        (30 * DAY, 30 * DAY),
        (90 * DAY, 90 * DAY),
        (90 * DAY + 1, None),
        (365 * DAY, None),
    ],
    ids=["default", "negative-is-default", "1h", "30d", "max", "max+1s", "1y"],
)
def test_ttl(root: SigningBundle, requested: float, lifetime: float | None) -> None:
    ca = make_ca(root)
    if lifetime is None:
        with pytest.raises(CAError) as e:
            ca.sign(csr_pem(), CALLER, requested)
        assert e.value.kind == "TTL_ERROR"
        assert "is greater than the max allowed TTL 2160h0m0s" in str(e.value)
        return
    leaf = load_certs(ca.sign(csr_pem(), CALLER, requested)[0])[0]
    assert leaf.not_valid_after_utc == to_datetime(NOW + lifetime)
    assert leaf.not_valid_before_utc == to_datetime(NOW - 120)  # 2 min clock-skew grace


def test_configured_ttls(root: SigningBundle) -> None:
    ca = make_ca(root, default_ttl=2 * HOUR, max_ttl=DAY)
    assert load_certs(ca.sign(csr_pem(), CALLER)[0])[0].not_valid_after_utc == to_datetime(NOW + 2 * HOUR)
    with pytest.raises(CAError, match="24h0m0s"):
        ca.sign(csr_pem(), CALLER, DAY + 1)


def _cert_instead_of_csr(root: SigningBundle) -> bytes:
    return certs_to_pem([root.cert]).encode()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda r: tamper_signature(csr_pem()), "signature does not verify"),
        (lambda r: tamper_signature(csr_pem("rsa")), "signature does not verify"),
        (lambda r: b"not a csr", "failed to parse the CSR"),
        (lambda r: b"", "failed to parse the CSR"),
        (_cert_instead_of_csr, "failed to parse the CSR"),
        (lambda r: csr_pem(key=rsa.generate_private_key(65537, 1024)), "RSA key of 1024 bits"),
        (lambda r: csr_pem(key=ec.generate_private_key(ec.SECP521R1())),
         "unsupported curve secp521r1"),
    ],
    ids=["bad-signature-ecdsa", "bad-signature-rsa", "garbage", "empty", "certificate", "rsa-1024",
         "p521"],
)
def test_bad_csr_rejected(root: SigningBundle, make: Any, message: str) -> None:
    ca = make_ca(root)
    with pytest.raises(CAError, match=message) as e:
        ca.sign(make(root), CALLER)
    assert e.value.kind == "CSR_ERROR"
    assert ca.stats.sign_errors == {"CSR_ERROR": 1}


@pytest.mark.parametrize("levels", [1, 2, 3], ids=["one-intermediate", "two", "three"])
def test_intermediate_chain_verifies_to_the_root(levels: int) -> None:
    signer, root = intermediate_bundle(levels=levels)
    ca = make_ca(signer)
    chain = ca.sign(new_key_and_csr("ecdsa")[1], CALLER)
    certs = [load_certs(c)[0] for c in chain]
    # leaf, every intermediate (signer first), the root once
    assert len(chain) == levels + 2
    assert certs[1] == signer.cert and certs[-1] == root
    assert ca.trust_bundle() == (root,)
    assert verify_client(chain, [root], NOW) == [CALLER_ID]
    with pytest.raises(VerificationError):
        verify_client(chain, [root_bundle().cert], NOW)  # another root: no path
    with pytest.raises(VerificationError):
        verify_client(chain, [root], NOW + 2 * DAY)  # expired leaf


def test_concurrent_signing_from_threads(root: SigningBundle) -> None:
    ca = make_ca(root)
    csrs = [csr_pem() for _ in range(8)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        chains = list(pool.map(lambda c: ca.sign(c, CALLER), csrs * 5))
    assert len({load_certs(c[0])[0].serial_number for c in chains}) == 40
    assert all(verify_client(c, ca.trust_bundle(), NOW) == [CALLER_ID] for c in chains)


# -- the signer from a directory ------------------------------------------------------------

def _write(d: Path, files: dict[str, bytes | str]) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (d / name).write_bytes(data.encode() if isinstance(data, str) else data)
    return d


def _layout(case: str) -> dict[str, bytes | str]:
    signer, root = intermediate_bundle()
    other = root_bundle()
    ca_cert, ca_key = certs_to_pem([signer.cert]), key_to_pem(signer.key)
    chain, roots = certs_to_pem(signer.chain), certs_to_pem([root])
    self_signed = root_bundle()
    not_ca_key = generate_key("ecdsa")
    leafish = create_ca_cert(not_ca_key, org="x", not_before=to_datetime(NOW - DAY),
                             not_after=to_datetime(NOW + DAY))
    return {
        "cacerts": {"ca-cert.pem": ca_cert, "ca-key.pem": ca_key, "cert-chain.pem": chain,
                    "root-cert.pem": roots},
        "cacerts-no-chain": {"ca-cert.pem": ca_cert, "ca-key.pem": ca_key, "root-cert.pem": roots},
        "self-signed-two-files": {"ca-cert.pem": certs_to_pem([self_signed.cert]),
                                  "ca-key.pem": key_to_pem(self_signed.key)},
        "missing-key": {"ca-cert.pem": ca_cert, "root-cert.pem": roots},
        "key-mismatch": {"ca-cert.pem": ca_cert, "ca-key.pem": key_to_pem(other.key),
                         "root-cert.pem": roots},
        "wrong-root": {"ca-cert.pem": ca_cert, "ca-key.pem": ca_key,
                       "root-cert.pem": certs_to_pem([other.cert])},
        "no-root": {"ca-cert.pem": ca_cert, "ca-key.pem": ca_key, "cert-chain.pem": chain},
        "broken-chain": {"ca-cert.pem": ca_cert, "ca-key.pem": ca_key, "root-cert.pem": roots,
                         "cert-chain.pem": certs_to_pem([signer.cert, other.cert])},
        "self-signed-not-ca": {"ca-cert.pem": certs_to_pem([_not_ca(not_ca_key)]),
                               "ca-key.pem": key_to_pem(not_ca_key)},
        "expired": {"ca-cert.pem": certs_to_pem([leafish]), "ca-key.pem": key_to_pem(not_ca_key)},
    }[case]


def _not_ca(key: Any) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, "x")])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(to_datetime(NOW - DAY)).not_valid_after(to_datetime(NOW + DAY))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("cacerts", None),
        ("cacerts-no-chain", None),
        ("self-signed-two-files", None),
        ("missing-key", "needs ca-cert.pem and ca-key.pem"),
        ("key-mismatch", "ca-key.pem does not match ca-cert.pem"),
        ("wrong-root", "does not chain to a certificate in root-cert.pem"),
        ("no-root", r"no root certificate \(root-cert.pem\)"),
        ("broken-chain", "is not signed by"),
        ("self-signed-not-ca", "is not a CA certificate"),
        ("expired", "is not valid now"),
    ],
    ids=["cacerts", "cacerts-no-chain", "self-signed-two-files", "missing-key", "key-mismatch",
         "wrong-root", "no-root", "broken-chain", "self-signed-not-ca", "expired"],
)
def test_cacerts_layout(tmp_path: Path, case: str, error: str | None) -> None:
    d = _write(tmp_path / "cacerts", _layout(case))
    c = clock(NOW + (2 * DAY if case == "expired" else 0))
    if error is None:
        signer, _ = CaDirectory(d).load(c)
        ca = CertificateAuthority(signer, clock=c)
        assert verify_client(ca.sign(csr_pem(), CALLER), ca.trust_bundle(), NOW) == [CALLER_ID]
        assert not signer.generated
        return
    with pytest.raises((ValueError, FileNotFoundError), match=error):
        signer, _ = CaDirectory(d).load(c)
        CertificateAuthority(signer, clock=c)


def test_self_signed_root_is_generated_once_and_kept(tmp_path: Path) -> None:
    d = CaDirectory(tmp_path / "ca")
    first, _ = d.load_or_create(org="cluster.local", clock=clock())
    again, _ = d.load_or_create(org="cluster.local", clock=clock(NOW + DAY))
    assert first.cert == again.cert and again.generated
    assert stat.S_IMODE(os.stat(tmp_path / "ca" / "ca-key.pem").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "ca").st_mode) == 0o700
    assert (tmp_path / "ca" / "root-cert.pem").read_text() == certs_to_pem([first.cert])
    assert uri_sans(first.cert) == []


# -- golden: what the certificates say -------------------------------------------------------

DATA = Path(__file__).parent.parent / "testdata" / "security"
CASES = sorted(p.name.removesuffix(".input.yaml") for p in DATA.glob("*.input.yaml"))


def generate_case(name: str) -> dict[str, Any]:
    spec = yaml.safe_load((DATA / f"{name}.input.yaml").read_text())
    ca_spec = spec.get("ca") or {}
    if ca_spec.get("intermediates"):
        signer, _ = intermediate_bundle(levels=ca_spec["intermediates"],
                                        int_ttl=ca_spec.get("intermediateTtl", 365 * DAY))
    else:
        signer = root_bundle(key_type=ca_spec.get("keyType", "rsa"))
    ca = make_ca(signer, trust_domain=spec.get("trustDomain", "cluster.local"))
    if "serving" in spec:
        _, chain_pem, _ = ca.issue_key_cert(dns_names=spec["serving"]["dnsNames"],
                                            ip_addresses=spec["serving"]["ipAddresses"])
        chain = [certs_to_pem([c]) for c in load_certs(chain_pem)] + [ca.trust_bundle_pem()]
    else:
        c = spec["csr"]
        csr = csr_pem(c.get("keyType", "ecdsa"), uris=c.get("uris", ()),
                      dns_names=c.get("dnsNames", ()), common_name=c.get("commonName", ""))
        caller = spec["caller"]
        chain = ca.sign(csr, Identity(caller["namespace"], caller["serviceAccount"]), spec["ttl"])
    return {"chain": [profile(load_certs(p)[0], NOW) for p in chain]}


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str) -> None:
    assert_golden(DATA / f"{name}.golden.yaml", generate_case(name))
