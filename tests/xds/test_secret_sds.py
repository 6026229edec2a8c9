"""SDS credentials (``lateen.xds.secret``) and Secret validation (``lateen.api.credentials``):
who may read what, resource names, the CA lookup order, and errors with their field paths."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from lateen.api import ValidationContext, load_yaml
from lateen.api.credentials import secret_ca, secret_tls, validate_secret_credentials
from lateen.model import (
    MeshConfig,
    Proxy,
    ProxyType,
    PushRequest,
    VerifiedIdentity,
    build_push_context,
)
from lateen.xds.secret import (
    SecretGenerator,
    build_secrets,
    parse_resource_name,
    refusal,
    sds_resource_name,
)

CERTS = Path(__file__).parent.parent / "testdata" / "xds" / "certs"
CERT = (CERTS / "client.pem").read_bytes()
KEY = (CERTS / "client-key.pem").read_bytes()
CA = (CERTS / "ca.pem").read_bytes()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _secret(name: str, ns: str, data: dict[str, bytes], typ: str = "Opaque") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns},
            "type": typ, "data": {k: _b64(v) for k, v in data.items()}}  # fmt: skip


def _proxy(typ: ProxyType, ns: str, verified: str | None) -> Proxy:
    ident = VerifiedIdentity(verified, "sa") if verified is not None else None
    return Proxy(typ, ("198.18.0.9",), f"p.{ns}", f"{ns}.svc.cluster.local", ns,
                 verified_identity=ident)  # fmt: skip


GW = ProxyType.ROUTER
SC = ProxyType.SIDECAR


@pytest.mark.parametrize(
    ("typ", "ns", "verified", "resource", "refused"),
    [
        (GW, "istio-system", "istio-system", "kubernetes://cred", None),
        (GW, "istio-system", "istio-system", "cred", None),
        (GW, "istio-system", "istio-system", "kubernetes://istio-system/cred", None),
        (GW, "istio-system", None, "kubernetes://cred", "not authenticated"),
        (GW, "istio-system", "istio-system", "kubernetes://default/cred", "is not the proxy's namespace"),
        (SC, "istio-system", "istio-system", "kubernetes://cred", "only gateways"),
        (SC, "istio-system", "istio-system", "kubernetes://cred-cacert", None),
        (SC, "istio-system", None, "kubernetes://cred-cacert", "not authenticated"),
    ],
    ids=["gateway", "bare-name", "explicit-own-namespace", "unauthenticated", "other-namespace",
         "sidecar-key-material", "sidecar-ca-is-public", "unauthenticated-ca"],
)
def test_refusal(typ: ProxyType, ns: str, verified: str | None, resource: str, refused: str | None) -> None:
    ref = parse_resource_name(resource, verified or ns)
    assert ref is not None
    why = refusal(_proxy(typ, ns, verified), ref)
    assert (why is None) if refused is None else (why is not None and refused in why), why


@pytest.mark.parametrize(
    ("credential", "resource"),
    [("cred", "kubernetes://cred"), ("kubernetes://cred", "kubernetes://cred"),
     ("builtin://", "default"), ("kubernetes-gateway://ns/c", "kubernetes-gateway://ns/c")],
    ids=["bare", "kubernetes", "builtin", "gateway-api"],
)
def test_sds_resource_name(credential: str, resource: str) -> None:
    assert sds_resource_name(credential) == resource


@pytest.mark.parametrize("name", ["file://x", "kubernetes://", "kubernetes://ns/", "kubernetes://a/b/c"],
                         ids=["other-scheme", "empty", "empty-name", "too-many-parts"])  # fmt: skip
def test_unparsable_resource_names(name: str) -> None:
    assert parse_resource_name(name, "ns") is None


def _push(*secrets: dict[str, Any]) -> Any:
    import yaml

    objs = load_yaml(yaml.safe_dump_all(secrets)).objects
    assert len(objs) == len(secrets)
    return build_push_context(objs, MeshConfig(), version="1")


def test_gateway_gets_its_namespaces_credentials_and_cas() -> None:
    push = _push(
        _secret("tls", "istio-system", {"tls.crt": CERT, "tls.key": KEY, "ca.crt": CA}, "kubernetes.io/tls"),
        _secret("generic", "istio-system", {"cert": CERT, "key": KEY}),
        _secret("generic-cacert", "istio-system", {"cacert": CA}),
        _secret("other", "default", {"tls.crt": CERT, "tls.key": KEY}, "kubernetes.io/tls"),
    )
    gw = _proxy(GW, "istio-system", "istio-system")
    got = {r.name: r.message for r in build_secrets(gw, push)}
    assert "kubernetes://tls" in got and "kubernetes://generic" in got
    assert got["kubernetes://tls"].tls_certificate.private_key.inline_bytes == KEY
    assert got["kubernetes://tls-cacert"].validation_context.trusted_ca.inline_bytes == CA
    assert got["kubernetes://generic-cacert"].validation_context.trusted_ca.inline_bytes == CA
    assert not any("other" in n for n in got)
    # a sidecar of the namespace: the CAs only; an unauthenticated gateway: nothing
    sidecar = {r.name for r in build_secrets(_proxy(SC, "istio-system", "istio-system"), push)}
    assert sidecar and all(n.endswith("-cacert") for n in sidecar)
    assert build_secrets(_proxy(GW, "istio-system", None), push) == []


def test_the_separate_cacert_secret_wins_over_the_credentials_own_ca() -> None:
    other_ca = (CERTS / "client.pem").read_bytes()  # any certificate will do as a CA bundle
    push = _push(
        _secret("c", "ns", {"cert": CERT, "key": KEY, "cacert": CA}),
        _secret("c-cacert", "ns", {"ca.crt": other_ca}),
    )
    got = {r.name: r.message for r in build_secrets(_proxy(GW, "ns", "ns"), push)}
    assert got["kubernetes://c-cacert"].validation_context.trusted_ca.inline_bytes == other_ca


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (PushRequest(full=True), True),
        (PushRequest(full=False, config_updated=frozenset()), False),
    ],
    ids=["full-push", "endpoints-only"],
)
def test_secret_generator_needs_push(request_: PushRequest, expected: bool) -> None:
    assert SecretGenerator().needs_push(_proxy(GW, "ns", "ns"), request_) is expected


def test_secret_change_pushes_sds_only() -> None:
    from lateen.api import ConfigKey
    from lateen.config._store import ConfigEvent, EventType
    from lateen.platform._controlplane import push_request_for

    key = ConfigKey("", "Secret", "istio-system", "cred")
    req = push_request_for([ConfigEvent(EventType.DELETE, key, None, None)], 1.0)
    assert req is not None and not req.full
    assert SecretGenerator().needs_push(_proxy(GW, "istio-system", "istio-system"), req)
    from lateen.xds import default_generators

    others = [u for u, g in default_generators().items()
              if g.needs_push(_proxy(GW, "istio-system", "istio-system"), req) and u != SecretGenerator.type_url]  # fmt: skip
    assert others == ["type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"]


# -- validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "typ", "errors"),
    [
        ({"tls.crt": CERT, "tls.key": KEY}, "kubernetes.io/tls", []),
        ({"cert": CERT, "key": KEY, "cacert": CA}, "Opaque", []),
        ({"tls.crt": CERT}, "kubernetes.io/tls", ["data[tls.key]: required for a Secret of type kubernetes.io/tls"]),
        ({"tls.crt": b"hello", "tls.key": KEY}, "kubernetes.io/tls",
         ["data[tls.crt]: no PEM certificate (-----BEGIN CERTIFICATE-----) found"]),
        ({"cert": CA, "key": KEY}, "Opaque", ["data[key]: the private key does not match the certificate"]),
        ({"cert": CERT, "key": b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}, "Opaque",
         ["data[key]: private key does not parse (ValueError)"]),
        ({"cert": CERT}, "Opaque", ["data[key]: missing: 'cert' needs its private key"]),
        ({"ca.crt": b"junk"}, "Opaque", ["data[ca.crt]: no PEM certificate (-----BEGIN CERTIFICATE-----) found"]),
        ({"password": b"anything"}, "Opaque", []),
    ],
    ids=["tls", "generic", "tls-missing-key", "bad-cert", "key-mismatch", "bad-key", "cert-alone",
         "bad-ca", "unrelated-opaque"],
)
def test_validate_secret_credentials(data: dict[str, bytes], typ: str, errors: list[str]) -> None:
    ctx = ValidationContext()
    body = {"type": typ, "data": {k: _b64(v) for k, v in data.items()}}
    validate_secret_credentials(body, ctx)
    assert [str(d) for d in ctx.errors] == errors
    for d in ctx.errors:
        assert "PRIVATE KEY" not in d.message  # no key material in messages


def test_invalid_base64_and_the_file_in_load_errors() -> None:
    text = "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: ns}\ndata: {tls.crt: '%%%'}\n"
    result = load_yaml(text, "secrets.yaml")
    assert [str(e) for e in result.errors] == ["secrets.yaml: Secret ns/s: data[tls.crt]: not valid base64"]


def test_istio_key_precedence() -> None:
    body = {"data": {"cert": _b64(CERT), "key": _b64(KEY), "tls.crt": _b64(CA), "tls.key": _b64(b"x"),
                     "ca.crt": _b64(CERT), "cacert": _b64(CA)}}  # fmt: skip
    assert secret_tls(body).cert == CERT  # generic keys first, as Istio
    assert secret_ca(body) == CA
