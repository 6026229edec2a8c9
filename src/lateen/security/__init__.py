"""Our Citadel: the CA that signs workload certificates for authenticated callers.

* :class:`CertificateAuthority` signs CSRs with a SPIFFE identity taken from the caller
  (``spiffe://<trust domain>/ns/<ns>/sa/<sa>``), TTL 24 h by default, 90 days at most; it
  holds the trust bundle and the three-step root rotation state.
* :class:`SigningBundle` / :class:`CaDirectory`: the signer, from Istio's ``cacerts`` layout
  (intermediate CAs supported) or a generated self-signed root; :class:`RootRotator` renews a
  self-signed root on an injectable clock.
* :class:`CallerAuthenticator` with :class:`TokenAuthenticator` over the per-pod tokens of a
  :class:`TokenIssuer`.
* :class:`CaServer`: ``istio.v1.auth.IstioCertificateService/CreateCertificate`` over TLS
  (15012); :func:`request_certificate` / :class:`CaClient` for the agent, which makes its own
  key and CSR with :func:`new_key_and_csr`.

Names are imported on first use (PEP 562): the agent, which needs only the client side
(keys, CSRs, :class:`CaClient`), does not load the CA server (its gRPC servicer and
prometheus_client), the signer or the rotation modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lateen.security._authn import (
        AuthenticationError,
        CallerAuthenticator,
        Metadata,
        TokenAuthenticator,
        TokenBinding,
        TokenIssuer,
        bearer_token,
    )
    from lateen.security._ca import (
        DEFAULT_CERT_TTL,
        MAX_CERT_TTL,
        SELF_SIGNED_ROOT_TTL,
        CAError,
        CaStats,
        CertificateAuthority,
        Rotation,
        RotationPhase,
        SigningBundle,
    )
    from lateen.security._client import CaClient, CertificateRequestError, request_certificate
    from lateen.security._clock import SystemClock, WallClock
    from lateen.security._identity import Identity, parse_spiffe_id
    from lateen.security._pki import (
        KeyType,
        certs_to_pem,
        create_ca_cert,
        create_csr,
        generate_key,
        key_to_pem,
        load_certs,
        load_key,
        new_key_and_csr,
        uri_sans,
    )
    from lateen.security._proto import ISTIOD_SERVER_NAME, ca_messages
    from lateen.security._rotation import CaDirectory, RootRotator, RotationPolicy, RotationStep
    from lateen.security._server import CaServer, CaServerOptions

__all__ = [
    "DEFAULT_CERT_TTL",
    "ISTIOD_SERVER_NAME",
    "MAX_CERT_TTL",
    "SELF_SIGNED_ROOT_TTL",
    "AuthenticationError",
    "CAError",
    "CaClient",
    "CaDirectory",
    "CaServer",
    "CaServerOptions",
    "CaStats",
    "CallerAuthenticator",
    "CertificateAuthority",
    "CertificateRequestError",
    "Identity",
    "KeyType",
    "Metadata",
    "RootRotator",
    "Rotation",
    "RotationPhase",
    "RotationPolicy",
    "RotationStep",
    "SigningBundle",
    "SystemClock",
    "TokenAuthenticator",
    "TokenBinding",
    "TokenIssuer",
    "WallClock",
    "bearer_token",
    "ca_messages",
    "certs_to_pem",
    "create_ca_cert",
    "create_csr",
    "generate_key",
    "key_to_pem",
    "load_certs",
    "load_key",
    "new_key_and_csr",
    "parse_spiffe_id",
    "request_certificate",
    "uri_sans",
]

_MODULES = {
    "AuthenticationError": "lateen.security._authn",
    "CallerAuthenticator": "lateen.security._authn",
    "Metadata": "lateen.security._authn",
    "TokenAuthenticator": "lateen.security._authn",
    "TokenBinding": "lateen.security._authn",
    "TokenIssuer": "lateen.security._authn",
    "bearer_token": "lateen.security._authn",
    "DEFAULT_CERT_TTL": "lateen.security._ca",
    "MAX_CERT_TTL": "lateen.security._ca",
    "SELF_SIGNED_ROOT_TTL": "lateen.security._ca",
    "CAError": "lateen.security._ca",
    "CaStats": "lateen.security._ca",
    "CertificateAuthority": "lateen.security._ca",
    "Rotation": "lateen.security._ca",
    "RotationPhase": "lateen.security._ca",
    "SigningBundle": "lateen.security._ca",
    "CaClient": "lateen.security._client",
    "CertificateRequestError": "lateen.security._client",
    "request_certificate": "lateen.security._client",
    "SystemClock": "lateen.security._clock",
    "WallClock": "lateen.security._clock",
    "Identity": "lateen.security._identity",
    "parse_spiffe_id": "lateen.security._identity",
    "KeyType": "lateen.security._pki",
    "certs_to_pem": "lateen.security._pki",
    "create_ca_cert": "lateen.security._pki",
    "create_csr": "lateen.security._pki",
    "generate_key": "lateen.security._pki",
    "key_to_pem": "lateen.security._pki",
    "load_certs": "lateen.security._pki",
    "load_key": "lateen.security._pki",
    "new_key_and_csr": "lateen.security._pki",
    "uri_sans": "lateen.security._pki",
    "ISTIOD_SERVER_NAME": "lateen.security._proto",
    "ca_messages": "lateen.security._proto",
    "CaDirectory": "lateen.security._rotation",
    "RootRotator": "lateen.security._rotation",
    "RotationPolicy": "lateen.security._rotation",
    "RotationStep": "lateen.security._rotation",
    "CaServer": "lateen.security._server",
    "CaServerOptions": "lateen.security._server",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
