"""Root rotation in three steps on a fake clock: no workload ever holds a certificate a peer
cannot verify, steps happen only when due and in order, and a restart resumes the rotation."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from ca_support import (
    DAY,
    HOUR,
    NOW,
    clock,
    csr_pem,
    intermediate_bundle,
    root_bundle,
    verify_client,
)
from cryptography import x509

from lateen.security import (
    CaDirectory,
    CertificateAuthority,
    Identity,
    RootRotator,
    RotationPhase,
    RotationPolicy,
    load_certs,
)
from lateen.testing.clock import FakeClock

ROOT_TTL = 100 * DAY  # rotation starts with 20% left: day 80
POLICY = RotationPolicy(check_interval=HOUR, root_ttl=ROOT_TTL, key_type="ecdsa")


def _roots_in(chain: list[str]) -> list[x509.Certificate]:
    certs = [load_certs(c)[0] for c in chain[1:]]
    return [c for c in certs if c.issuer == c.subject]


@dataclass
class Workload:
    """An agent: renews at half its certificate's life and keeps the roots of its last response."""

    identity: Identity
    chain: list[str] = field(default_factory=list)
    roots: list[x509.Certificate] = field(default_factory=list)
    renew_at: float = 0.0

    def renew(self, ca: CertificateAuthority, now: float) -> None:
        self.chain = ca.sign(csr_pem(), self.identity)
        self.roots = _roots_in(self.chain)
        leaf = load_certs(self.chain[0])[0]
        issued = now
        self.renew_at = issued + (leaf.not_valid_after_utc.timestamp() - issued) / 2


def test_no_workload_ever_fails_to_verify_a_peer_during_rotation(tmp_path: Path) -> None:
    c = clock()
    directory = CaDirectory(tmp_path / "ca")
    signer, rotation = directory.load_or_create(org="cluster.local", clock=c, key_type="ecdsa",
                                                root_ttl=ROOT_TTL)
    ca = CertificateAuthority(signer, clock=c, rotation=rotation)
    rotator = RootRotator(ca, POLICY, directory)
    old_root = signer.cert
    fleet = [Workload(Identity("default", f"sa{i}")) for i in range(4)]
    steps: list[tuple[float, str]] = []
    # start on day 78; the workloads' first certificates are staggered by 3 hours
    c.advance(78 * DAY)
    for i, w in enumerate(fleet):
        w.renew_at = c.now() + 3 * HOUR * i
    phases_seen = set()
    while c.now() < NOW + 86 * DAY:
        step = rotator.step()
        if step:
            steps.append(((c.now() - NOW) / DAY, step))
        phases_seen.add(ca.rotation.phase)
        for w in fleet:
            if c.now() >= w.renew_at:
                w.renew(ca, c.now())
        for a in fleet:
            if not a.chain:
                continue
            for b in fleet:
                if b.roots:  # b verifies a's certificate with the roots b holds
                    assert verify_client(a.chain, b.roots, c.now()), (a, b)
        c.advance(HOUR)
    assert [s for _, s in steps] == ["trust", "switch", "retire"]
    trust_day, switch_day, retire_day = (d for d, _ in steps)
    assert trust_day == pytest.approx(80, abs=1 / 24)  # 20% of the root's life left
    assert switch_day - trust_day == pytest.approx(1)  # one default TTL later
    assert retire_day - switch_day == pytest.approx(1, abs=1 / 24)  # old certs expired
    assert phases_seen == set(RotationPhase)
    assert ca.rotation.phase is RotationPhase.STABLE
    assert ca.trust_bundle() == (ca.signer.cert,) and ca.signer.cert != old_root
    assert all(w.roots == [ca.signer.cert] for w in fleet)
    # and what is on disk is the new root alone
    reloaded, rotation = CaDirectory(tmp_path / "ca").load(c)
    assert reloaded.cert == ca.signer.cert and rotation.phase is RotationPhase.STABLE
    assert sorted(p.name for p in (tmp_path / "ca").iterdir()) == [
        "ca-cert.pem", "ca-key.pem", "cert-chain.pem", "istio-generated", "root-cert.pem"]


@pytest.mark.parametrize(
    ("after_days", "due"),
    [(0, None), (79.9, None), (80, "trust"), (99, "trust")],
    ids=["new", "just-before-grace", "grace", "nearly-expired"],
)
def test_due_in_stable_phase(after_days: float, due: str | None) -> None:
    c = clock()
    ca = CertificateAuthority(root_bundle(ttl=ROOT_TTL), clock=c)
    c.advance(after_days * DAY)
    assert RootRotator(ca, POLICY).due() == due


def test_an_operators_ca_is_never_rotated() -> None:
    signer, _ = intermediate_bundle(int_ttl=10 * DAY)
    c = clock()
    ca = CertificateAuthority(signer, clock=c)
    c.advance(9.5 * DAY)
    assert RootRotator(ca, POLICY).due() is None


def _ca_in(phase: RotationPhase) -> tuple[CertificateAuthority, FakeClock]:
    c = clock()
    ca = CertificateAuthority(root_bundle(), clock=c)
    if phase is not RotationPhase.STABLE:
        ca.trust_new_signer(root_bundle())
    if phase is RotationPhase.SIGNING_WITH_NEW:
        ca.switch_signer()
    return ca, c


@pytest.mark.parametrize(
    ("phase", "action", "error"),
    [
        (RotationPhase.STABLE, "switch", "no new signer is trusted yet"),
        (RotationPhase.STABLE, "retire", "the new signer is not signing yet"),
        (RotationPhase.NEW_ROOT_TRUSTED, "trust", "a rotation is already under way"),
        (RotationPhase.NEW_ROOT_TRUSTED, "retire", "the new signer is not signing yet"),
        (RotationPhase.SIGNING_WITH_NEW, "retire", "certificates of the old signer are live until"),
        (RotationPhase.SIGNING_WITH_NEW, "trust", "a rotation is already under way"),
    ],
    ids=["stable-switch", "stable-retire", "trusted-trust", "trusted-retire", "early-retire",
         "switched-trust"],
)
def test_steps_only_in_order(phase: RotationPhase, action: str, error: str) -> None:
    ca, _ = _ca_in(phase)
    run = {"trust": lambda: ca.trust_new_signer(root_bundle()), "switch": ca.switch_signer,
           "retire": ca.retire_old_roots}[action]
    with pytest.raises(RuntimeError, match=error):
        run()


def test_old_root_kept_while_its_longest_certificate_lives() -> None:
    ca, c = _ca_in(RotationPhase.NEW_ROOT_TRUSTED)
    old = ca.signer.cert
    ca.sign(csr_pem(), Identity("default", "long"), 30 * DAY)  # by the old root, 30 days
    until = ca.switch_signer()
    assert until == pytest.approx(NOW + 30 * DAY)
    assert ca.trust_bundle() == (ca.signer.cert, old)
    c.advance(30 * DAY - 1)
    with pytest.raises(RuntimeError):
        ca.retire_old_roots()
    ca.retire_old_roots(force=True)
    assert ca.trust_bundle() == (ca.signer.cert,)


@pytest.mark.parametrize("phase", list(RotationPhase), ids=[p.value for p in RotationPhase])
def test_restart_resumes_the_rotation(tmp_path: Path, phase: RotationPhase) -> None:
    c = clock()
    d = CaDirectory(tmp_path / "ca")
    signer, rotation = d.load_or_create(org="cluster.local", clock=c, key_type="ecdsa")
    ca = CertificateAuthority(signer, clock=c, rotation=rotation)
    if phase is not RotationPhase.STABLE:
        ca.trust_new_signer(root_bundle())
        d.save(ca)
    if phase is RotationPhase.SIGNING_WITH_NEW:
        ca.switch_signer()
        d.save(ca)
    signer2, rotation2 = CaDirectory(tmp_path / "ca").load(c)
    again = CertificateAuthority(signer2, clock=c, rotation=rotation2)
    assert again.rotation.phase is phase
    assert again.signer.cert == ca.signer.cert
    assert again.trust_bundle() == ca.trust_bundle()
    assert again.rotation.old_certs_expire == ca.rotation.old_certs_expire


async def test_rotator_runs_on_the_clock(tmp_path: Path) -> None:
    c = clock()
    ca = CertificateAuthority(root_bundle(ttl=ROOT_TTL), clock=c)
    rotator = RootRotator(ca, POLICY)
    task = asyncio.create_task(rotator.run())
    try:
        await c.advance_and_settle(79 * DAY)
        assert ca.rotation.phase is RotationPhase.STABLE
        for _ in range(26):  # hourly checks: trust at day 80, switch a day later
            await c.advance_and_settle(HOUR)
        assert ca.rotation.phase is RotationPhase.NEW_ROOT_TRUSTED
        for _ in range(24):
            await c.advance_and_settle(HOUR)
        assert ca.rotation.phase is RotationPhase.SIGNING_WITH_NEW
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
