"""Who is asking for a certificate: caller authentication for the CA.

:class:`CallerAuthenticator` is the seam (Istio's ``security.Authenticator``): from the call's
metadata and peer address to an :class:`Identity`, or :class:`AuthenticationError`. On the
local platform the runtime issues every pod a random bearer token bound to its namespace,
service account and pod (:class:`TokenIssuer`, a 0600 file of token hashes under the state
directory); the agent sends it as ``authorization: Bearer <token>``, as Istio's agent sends
its Kubernetes service-account JWT, and :class:`TokenAuthenticator` checks it. (On Kubernetes
a TokenReview authenticator will take its place.)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lateen.security._files import write_private
from lateen.security._identity import Identity

__all__ = [
    "AuthenticationError",
    "CallerAuthenticator",
    "Metadata",
    "TokenAuthenticator",
    "TokenBinding",
    "TokenIssuer",
    "bearer_token",
]

Metadata = Sequence[tuple[str, str | bytes]]

log = logging.getLogger(__name__)


class AuthenticationError(Exception):
    """The caller could not be authenticated (UNAUTHENTICATED on the wire)."""


class CallerAuthenticator(Protocol):
    def authenticate(self, metadata: Metadata, peer: str) -> Identity: ...


def bearer_token(metadata: Metadata) -> str | None:
    """The token of the ``authorization: Bearer <token>`` metadata entry, if any."""
    for key, value in metadata:
        if key.lower() != "authorization":
            continue
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        scheme, _, token = text.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenBinding:
    namespace: str
    service_account: str
    pod: str

    @property
    def identity(self) -> Identity:
        return Identity(self.namespace, self.service_account)


def _read(path: Path) -> dict[str, TokenBinding]:
    try:
        raw: Any = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    out: dict[str, TokenBinding] = {}
    for digest, b in (raw.get("tokens") or {}).items():
        out[str(digest)] = TokenBinding(
            str(b["namespace"]), str(b["serviceAccount"]), str(b["pod"])
        )
    return out


class TokenIssuer:
    """Issues per-pod bearer tokens. Only their SHA-256 digests are stored, in ``path``
    (JSON, mode 0600, replaced atomically), so the file does not hand out credentials."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def issue(self, namespace: str, service_account: str, pod: str) -> str:
        """A new token for the pod (its previous token, if any, stops working)."""
        Identity(namespace, service_account)  # ValueError for names that are not Kubernetes'
        binding = TokenBinding(namespace, service_account, pod)
        token = secrets.token_urlsafe(32)
        with self._lock:
            tokens = {
                d: b for d, b in _read(self.path).items() if (b.namespace, b.pod) != (namespace, pod)
            }
            tokens[_digest(token)] = binding
            self._write(tokens)
        return token

    def revoke(self, namespace: str, pod: str) -> bool:
        """Forget the pod's token; True if it had one."""
        with self._lock:
            tokens = _read(self.path)
            kept = {d: b for d, b in tokens.items() if (b.namespace, b.pod) != (namespace, pod)}
            if len(kept) == len(tokens):
                return False
            self._write(kept)
            return True

    def bindings(self) -> list[TokenBinding]:
        return sorted(_read(self.path).values(), key=lambda b: (b.namespace, b.pod))

    def _write(self, tokens: dict[str, TokenBinding]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        doc = {
            "tokens": {
                d: {"namespace": b.namespace, "serviceAccount": b.service_account, "pod": b.pod}
                for d, b in sorted(tokens.items())
            }
        }
        write_private(self.path, (json.dumps(doc, indent=1) + "\n").encode(), 0o600)


class TokenAuthenticator:
    """:class:`CallerAuthenticator` for the tokens of a :class:`TokenIssuer` file; the file is
    read again whenever it changes (the runtime issues tokens while the control plane runs).
    Without a file (``None``, or none there yet) every caller is refused."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._tokens: dict[str, TokenBinding] = {}

    def _current(self) -> dict[str, TokenBinding]:
        if self.path is None:
            return {}
        try:
            st = os.stat(self.path)
            stamp: tuple[int, int, int] | None = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        with self._lock:
            if stamp != self._stamp:
                try:
                    self._tokens = _read(self.path) if stamp is not None else {}
                except (ValueError, KeyError, TypeError, AttributeError) as e:
                    log.error("%s: unreadable token file, refusing every caller: %s", self.path, e)
                    self._tokens = {}
                self._stamp = stamp
            return self._tokens

    def lookup(self, token: str) -> TokenBinding | None:
        return self._current().get(_digest(token))

    def authenticate(self, metadata: Metadata, peer: str) -> Identity:
        token = bearer_token(metadata)
        if token is None:
            raise AuthenticationError("no bearer token (authorization: Bearer <token>)")
        binding = self.lookup(token)
        if binding is None:
            raise AuthenticationError("unknown or revoked token")
        return binding.identity
