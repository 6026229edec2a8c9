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
"""

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
