"""Gateway credentials over SDS (Istio's ``SecretGen``), pure.

``credentialName: NAME`` on a Gateway server or a DestinationRule becomes the SDS resource
``kubernetes://NAME`` (certificate and key) and ``kubernetes://NAME-cacert`` (the CA that
validates peers), fetched over ADS from the control plane. ``kubernetes://NAME`` (and the bare
``NAME``) resolve in the proxy's *verified* namespace; ``kubernetes://NS/NAME`` names one.

Who gets what (Istio's ``filterAuthorizedResources``): only an authenticated proxy (one whose
stream carried a token the control plane accepted, :attr:`Proxy.verified_identity`), only
secrets of its verified namespace, and key material only for gateways (routers; Istio asks
Kubernetes whether the service account may list secrets there, which gateway accounts may).
CA certificates are public: any authenticated proxy of the namespace may read ``-cacert``.
"""

from __future__ import annotations

from dataclasses import dataclass

from envoy.config.core.v3 import base_pb2, config_source_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2

from lateen.api import ConfigObject
from lateen.api.credentials import CACERT_SUFFIX, CredentialError, secret_ca, secret_tls
from lateen.model._proxy import Proxy, ProxyType
from lateen.model._push_context import PushContext
from lateen.xds._generator import Resource

__all__ = [
    "BUILTIN_PREFIX",
    "KUBERNETES_PREFIX",
    "SECRET_TYPE",
    "SecretRef",
    "build_secrets",
    "credential_sds_config",
    "parse_resource_name",
    "refusal",
    "sds_resource_name",
]

SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
KUBERNETES_PREFIX = "kubernetes://"
BUILTIN_PREFIX = "builtin://"  # the gateway's own workload certificate (Istio)
_WORKLOAD_CERT, _ROOT_CA = "default", "ROOTCA"


@dataclass(frozen=True, slots=True)
class SecretRef:
    """An SDS resource name resolved: the Secret's namespace and name, and whether it asks
    for the CA only (``-cacert``)."""

    resource: str
    namespace: str
    name: str

    @property
    def ca_only(self) -> bool:
        return self.name.endswith(CACERT_SUFFIX)


def sds_resource_name(credential_name: str) -> str:
    """The SDS resource of a ``credentialName`` (Istio's ``ToResourceName``):
    ``kubernetes://NAME``; ``kubernetes://...`` kept; ``builtin://`` is the workload cert."""
    if credential_name.startswith(BUILTIN_PREFIX):
        return _WORKLOAD_CERT
    if credential_name.startswith((KUBERNETES_PREFIX, "kubernetes-gateway://")):
        return credential_name
    return KUBERNETES_PREFIX + credential_name


def credential_sds_config(credential_name: str) -> secret_pb2.SdsSecretConfig:
    """Where Envoy fetches a credential: the control plane over ADS (Istio's
    ``SDSAdsConfig``). No ``initial_fetch_timeout`` override: a credential that does not
    exist (yet) must not hold up the whole listener for ever (Envoy's default, 15 s).
    ``builtin://`` (and its ``-cacert``) are the agent's ``default``/``ROOTCA``."""
    if credential_name.startswith(BUILTIN_PREFIX):
        from lateen.xds.cluster._policy import _sds

        return _sds(_ROOT_CA if credential_name.endswith(CACERT_SUFFIX) else _WORKLOAD_CERT)
    return secret_pb2.SdsSecretConfig(
        name=sds_resource_name(credential_name),
        sds_config=config_source_pb2.ConfigSource(
            ads=config_source_pb2.AggregatedConfigSource(),
            resource_api_version=config_source_pb2.V3,
        ),
    )


def parse_resource_name(resource: str, proxy_namespace: str) -> SecretRef | None:
    """``kubernetes://NAME`` / ``NAME`` -> the proxy's namespace; ``kubernetes://NS/NAME``;
    None for anything else (other schemes, empty parts)."""
    if resource.startswith(KUBERNETES_PREFIX):
        rest = resource[len(KUBERNETES_PREFIX) :]
    elif "://" in resource:
        return None
    else:
        rest = resource
    namespace, sep, name = rest.partition("/")
    if not sep:
        namespace, name = proxy_namespace, rest
    if not namespace or not name or "/" in name:
        return None
    return SecretRef(resource, namespace, name)


def refusal(proxy: Proxy, ref: SecretRef) -> str | None:
    """Why ``proxy`` may not have ``ref`` (None: it may)."""
    ident = proxy.verified_identity
    if ident is None:
        return "the proxy is not authenticated (no accepted token on its xDS stream)"
    if ref.namespace != ident.namespace:
        return (
            f"secret namespace {ref.namespace!r} is not the proxy's namespace "
            f"{ident.namespace!r}"
        )
    if ref.ca_only:
        return None  # CA certificates are public (Istio serves -cacert to the namespace)
    if proxy.type is not ProxyType.ROUTER:
        return "only gateways may read credentials"
    return None


def _tls_secret(name: str, obj: ConfigObject) -> secret_pb2.Secret | None:
    try:
        cred = secret_tls(obj.spec)
    except CredentialError:
        return None
    return secret_pb2.Secret(
        name=name,
        tls_certificate=common_pb2.TlsCertificate(
            certificate_chain=base_pb2.DataSource(inline_bytes=cred.cert),
            private_key=base_pb2.DataSource(inline_bytes=cred.key),
        ),
    )


def _ca_secret(name: str, objects: list[ConfigObject]) -> secret_pb2.Secret | None:
    for obj in objects:
        try:
            ca = secret_ca(obj.spec)
        except CredentialError:
            continue
        return secret_pb2.Secret(
            name=name,
            validation_context=common_pb2.CertificateValidationContext(
                trusted_ca=base_pb2.DataSource(inline_bytes=ca)
            ),
        )
    return None


def _names(namespace: str, name: str) -> list[str]:
    return [f"{KUBERNETES_PREFIX}{name}", f"{KUBERNETES_PREFIX}{namespace}/{name}", name]


def build_secrets(proxy: Proxy, push: PushContext) -> list[Resource]:
    """Every credential ``proxy`` may read, under each name it may ask for, sorted. The CA
    of ``NAME`` (resource ``NAME-cacert``) comes from Secret ``NAME-cacert``, else from
    ``NAME``'s ``cacert``/``ca.crt`` (Istio's ``GetCaCert``)."""
    ident = proxy.verified_identity
    if ident is None:
        return []
    ns = ident.namespace
    mine = {name: obj for (n, name), obj in push.secrets.items() if n == ns}
    out: dict[str, Resource] = {}
    for name, obj in sorted(mine.items()):
        ref = SecretRef(name, ns, name)
        if not ref.ca_only and refusal(proxy, ref) is None:
            for resource in _names(ns, name):
                if (tls := _tls_secret(resource, obj)) is not None:
                    out[resource] = Resource(resource, tls)
        base = name.removesuffix(CACERT_SUFFIX)
        ca_name = base + CACERT_SUFFIX
        sources = [o for o in (mine.get(ca_name), mine.get(base)) if o is not None]
        for resource in _names(ns, ca_name):
            if resource not in out and (ca := _ca_secret(resource, sources)) is not None:
                out[resource] = Resource(resource, ca)
    return [out[k] for k in sorted(out)]
