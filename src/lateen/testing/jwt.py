"""JWT test material: RSA/EC keys, their JWKS, and signed tokens - valid ones and every kind
of bad one a RequestAuthentication must reject (expired, wrong audience, unknown issuer,
``alg: none``, tampered payload, wrong key).

    key = make_rsa_key("k1")
    jwks = jwks_json(key)                                  # for jwtRules[].jwks or a jwksUri
    token = sign(key, claims(ISSUER, groups=["group1"]))   # Authorization: Bearer <token>

Also :class:`FakeJwksSource`, the in-memory :class:`lateen.model.JwksSource`.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from lateen.model import JwksFetchError

__all__ = [
    "ISSUER",
    "SUBJECT",
    "FakeJwksSource",
    "JwtKey",
    "alg_none",
    "b64url",
    "claims",
    "decode_payload",
    "jwks_json",
    "make_ec_key",
    "make_rsa_key",
    "sign",
    "tamper",
]

# the issuer and subject of Istio's sample token (samples/jwt-server, security/tools/jwt)
ISSUER = "testing@secure.istio.io"
SUBJECT = "testing@secure.istio.io"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int_b64(n: int, length: int | None = None) -> str:
    size = length or max(1, (n.bit_length() + 7) // 8)
    return b64url(n.to_bytes(size, "big"))


@dataclass(frozen=True)
class JwtKey:
    """A signing key with its ``kid`` and JWS ``alg`` (RS256 or ES256)."""

    kid: str
    alg: str
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    def jwk(self) -> dict[str, str]:
        """The public key as a JSON Web Key."""
        if isinstance(self.private, rsa.RSAPrivateKey):
            pub = self.private.public_key().public_numbers()
            return {"kty": "RSA", "kid": self.kid, "alg": self.alg, "use": "sig",
                    "e": _int_b64(pub.e), "n": _int_b64(pub.n)}  # fmt: skip
        nums = self.private.public_key().public_numbers()
        return {"kty": "EC", "kid": self.kid, "alg": self.alg, "use": "sig", "crv": "P-256",
                "x": _int_b64(nums.x, 32), "y": _int_b64(nums.y, 32)}  # fmt: skip


def make_rsa_key(kid: str = "rsa-1", bits: int = 2048) -> JwtKey:
    return JwtKey(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=bits))


def make_ec_key(kid: str = "ec-1") -> JwtKey:
    return JwtKey(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))


def jwks_json(*keys: JwtKey) -> str:
    """``{"keys": [...]}`` with the public keys."""
    return json.dumps({"keys": [k.jwk() for k in keys]}, sort_keys=True)


def claims(
    issuer: str = ISSUER,
    subject: str = SUBJECT,
    *,
    audience: str | Sequence[str] | None = None,
    expires_in: float = 3600.0,
    now: float | None = None,
    groups: Sequence[Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A claim set: ``iss``, ``sub``, ``iat``, ``exp`` (``expires_in`` from now; negative:
    already expired), ``aud`` and ``groups`` when given, plus ``extra`` (nested claims too)."""
    t = int(now if now is not None else time.time())
    out: dict[str, Any] = {"iss": issuer, "sub": subject, "iat": t, "exp": t + int(expires_in)}
    if audience is not None:
        out["aud"] = audience if isinstance(audience, str) else list(audience)
    if groups is not None:
        out["groups"] = list(groups)
    out.update(extra)
    return out


def _segment(obj: Mapping[str, Any]) -> str:
    return b64url(json.dumps(obj, separators=(",", ":"), sort_keys=True).encode())


def sign(key: JwtKey, payload: Mapping[str, Any], *, header: Mapping[str, Any] | None = None) -> str:
    """A compact JWS of ``payload`` signed by ``key`` (header ``alg``, ``kid``, ``typ``)."""
    head = {"alg": key.alg, "kid": key.kid, "typ": "JWT", **(header or {})}
    signing_input = f"{_segment(head)}.{_segment(payload)}".encode()
    if isinstance(key.private, rsa.RSAPrivateKey):
        sig = key.private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    else:
        der = key.private.sign(signing_input, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return f"{signing_input.decode()}.{b64url(sig)}"


def alg_none(payload: Mapping[str, Any]) -> str:
    """An unsigned token (``alg: none``, empty signature): must never be accepted."""
    return f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(payload)}."


def tamper(token: str, **changes: Any) -> str:
    """``token`` with its payload changed (``changes`` merged in) and the old signature."""
    head, body, sig = token.split(".")
    payload = json.loads(_b64url_decode(body))
    payload.update(changes)
    return f"{head}.{_segment(payload)}.{sig}"


def decode_payload(token: str) -> dict[str, Any]:
    """The payload of a compact JWS (not verified)."""
    data: dict[str, Any] = json.loads(_b64url_decode(token.split(".")[1]))
    return data


@dataclass
class FakeJwksSource:
    """:class:`lateen.model.JwksSource` from a dict: ``uri -> text`` (or an exception to
    raise); unknown URIs fail. ``calls`` records every (uri, timeout) asked."""

    responses: dict[str, str | Exception] = field(default_factory=dict)
    calls: list[tuple[str, float]] = field(default_factory=list)

    async def fetch(self, uri: str, timeout: float) -> str:
        self.calls.append((uri, timeout))
        answer = self.responses.get(uri)
        if answer is None:
            raise JwksFetchError(f"{uri}: connection refused")
        if isinstance(answer, Exception):
            raise answer
        return answer
