"""A self-signed CA on disk, and the automatic rotation of its root.

Istio's self-signed CA checks its root every hour and renews it once less than 20% of its
lifetime is left. Lateen renews it with a *new key* in Istio's three steps for changing roots,
so that no workload ever holds a certificate its peers cannot verify:

1. **trust**: a new root is generated and added to the trust bundle (every response carries
   both roots); the old root keeps signing.
2. **switch** (once every workload renewed at least once: ``propagation``, one default
   certificate TTL): the new root signs; the old root stays in the bundle.
3. **retire** (once the last certificate the old root signed has expired): the old root
   leaves the bundle.

:class:`CaDirectory` keeps the CA and the rotation state in a directory (``ca-cert.pem``,
``ca-key.pem``, ``cert-chain.pem``, ``root-cert.pem``; during a rotation ``rotation.json`` and
``next/`` or ``previous-root-cert.pem``), so a restart resumes where it stopped. An operator's
CA (``cacerts`` without the ``istio-generated`` marker) is never rewritten nor rotated.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography.x509.oid import NameOID

from lateen.security._ca import (
    CA_CERT_FILE,
    DEFAULT_CERT_TTL,
    SELF_SIGNED_ROOT_TTL,
    CertificateAuthority,
    Rotation,
    RotationPhase,
    SigningBundle,
)
from lateen.security._clock import WallClock, to_datetime
from lateen.security._files import write_private
from lateen.security._pki import KeyType, certs_to_pem, load_certs

__all__ = ["CaDirectory", "RootRotator", "RotationPolicy", "RotationStep"]

log = logging.getLogger(__name__)

NEXT_DIR = "next"
PREVIOUS_ROOTS_FILE = "previous-root-cert.pem"
ROTATION_FILE = "rotation.json"

RotationStep = Literal["trust", "switch", "retire"]


@dataclass(frozen=True, slots=True)
class RotationPolicy:
    grace_ratio: float = 0.2  # CITADEL_SELF_SIGNED_ROOT_CERT_GRACE_PERIOD_PERCENTILE=20
    check_interval: float = 3600.0  # CITADEL_SELF_SIGNED_ROOT_CERT_CHECK_INTERVAL=1h
    propagation: float = DEFAULT_CERT_TTL  # step 1 -> 2: every workload renewed (at half TTL)
    root_ttl: float = SELF_SIGNED_ROOT_TTL
    key_type: KeyType = "rsa"


class CaDirectory:
    """A CA directory in Istio's ``cacerts`` layout, created as a self-signed root if empty."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load_or_create(
        self,
        *,
        org: str,
        clock: WallClock,
        key_type: KeyType = "rsa",
        root_ttl: float = SELF_SIGNED_ROOT_TTL,
    ) -> tuple[SigningBundle, Rotation]:
        if not (self.path / CA_CERT_FILE).exists():
            bundle = SigningBundle.self_signed_root(
                org=org, now=clock.now(), key_type=key_type, ttl=root_ttl
            )
            bundle.write(self.path)
            log.info("generated a self-signed root CA (O=%s, %s) in %s", org, key_type, self.path)
            return bundle, Rotation(since=clock.now())
        return self.load(clock)

    def load(self, clock: WallClock) -> tuple[SigningBundle, Rotation]:
        signer = SigningBundle.load(self.path)
        state_file = self.path / ROTATION_FILE
        if not state_file.exists():
            return signer, Rotation(since=clock.now())
        state = json.loads(state_file.read_text())
        phase = RotationPhase(state["phase"])
        since = float(state["since"])
        if phase is RotationPhase.NEW_ROOT_TRUSTED:
            return signer, Rotation(phase, since, pending=SigningBundle.load(self.path / NEXT_DIR))
        if phase is RotationPhase.SIGNING_WITH_NEW:
            if (self.path / NEXT_DIR).exists():  # stopped while switching: finish the switch
                signer = SigningBundle.load(self.path / NEXT_DIR)
                signer.write(self.path)
                shutil.rmtree(self.path / NEXT_DIR)
            retiring = tuple(load_certs((self.path / PREVIOUS_ROOTS_FILE).read_bytes()))
            return signer, Rotation(
                phase, since, retiring_roots=retiring, old_certs_expire=float(state["oldCertsExpire"])
            )
        return signer, Rotation(since=since)

    def save(self, ca: CertificateAuthority) -> None:
        """Persist the CA's signer and rotation state (only a CA Lateen generated)."""
        if not ca.signer.generated:
            return
        r = ca.rotation
        state = self.path / ROTATION_FILE
        if r.phase is RotationPhase.STABLE:
            ca.signer.write(self.path)
            state.unlink(missing_ok=True)
            (self.path / PREVIOUS_ROOTS_FILE).unlink(missing_ok=True)
            shutil.rmtree(self.path / NEXT_DIR, ignore_errors=True)
            return
        doc: dict[str, object] = {"phase": r.phase.value, "since": r.since}
        if r.phase is RotationPhase.NEW_ROOT_TRUSTED and r.pending is not None:
            r.pending.write(self.path / NEXT_DIR)
            write_private(state, (json.dumps(doc) + "\n").encode(), 0o644)
            return
        doc["oldCertsExpire"] = r.old_certs_expire
        write_private(self.path / PREVIOUS_ROOTS_FILE, certs_to_pem(r.retiring_roots).encode(), 0o644)
        write_private(state, (json.dumps(doc) + "\n").encode(), 0o644)
        ca.signer.write(self.path)
        shutil.rmtree(self.path / NEXT_DIR, ignore_errors=True)


class RootRotator:
    """Drives the three rotation steps of a self-signed root on the CA's clock."""

    def __init__(
        self,
        ca: CertificateAuthority,
        policy: RotationPolicy | None = None,
        directory: CaDirectory | None = None,
    ) -> None:
        self.ca = ca
        self.policy = policy or RotationPolicy()
        self.directory = directory

    def due(self) -> RotationStep | None:
        """The step to take now, if any."""
        now = self.ca.clock.now()
        r = self.ca.rotation
        if r.phase is RotationPhase.NEW_ROOT_TRUSTED:
            return "switch" if now >= r.since + self.policy.propagation else None
        if r.phase is RotationPhase.SIGNING_WITH_NEW:
            return "retire" if now >= r.old_certs_expire else None
        signer = self.ca.signer
        if not signer.generated:
            return None
        start = signer.cert.not_valid_before_utc.timestamp()
        end = signer.cert.not_valid_after_utc.timestamp()
        return "trust" if end - now <= self.policy.grace_ratio * (end - start) else None

    def step(self) -> RotationStep | None:
        """Take the step that is due (if any), persist it, and say which it was."""
        step = self.due()
        if step == "trust":
            self.ca.trust_new_signer(
                SigningBundle.self_signed_root(
                    org=_org(self.ca),
                    now=self.ca.clock.now(),
                    key_type=self.policy.key_type,
                    ttl=self.policy.root_ttl,
                )
            )
            log.info("root rotation 1/3: new root trusted, the old root still signs")
        elif step == "switch":
            until = self.ca.switch_signer()
            log.info("root rotation 2/3: the new root signs; the old root is trusted until %s",
                     to_datetime(until))
        elif step == "retire":
            self.ca.retire_old_roots()
            log.info("root rotation 3/3: the old root left the trust bundle")
        if step is not None and self.directory is not None:
            self.directory.save(self.ca)
        return step

    async def run(self) -> None:
        """Check every ``check_interval`` until cancelled; a failed step is logged and retried."""
        while True:
            try:
                self.step()
            except Exception:
                log.exception("root rotation step failed (retried at the next check)")
            await self.ca.clock.sleep(self.policy.check_interval)


def _org(ca: CertificateAuthority) -> str:
    orgs = ca.signer.cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return str(orgs[0].value) if orgs else ca.trust_domain
