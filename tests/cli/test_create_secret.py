"""``lateen create secret``: the Secret it builds and its errors (file and flag named, no key
material); ``lateen delete KIND NAME`` parsing."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from lateen.api import load_yaml
from lateen.cli._create import CreateError, SecretSpec, build_secret

CERTS = Path(__file__).parent.parent / "testdata" / "xds" / "certs"
CERT, KEY, CA = str(CERTS / "client.pem"), str(CERTS / "client-key.pem"), str(CERTS / "ca.pem")


@pytest.mark.parametrize(
    ("spec", "typ", "keys"),
    [
        (SecretSpec("tls", "c", "ns", CERT, KEY), "kubernetes.io/tls", ["tls.crt", "tls.key"]),
        (SecretSpec("tls", "c", "ns", CERT, KEY, CA), "kubernetes.io/tls", ["ca.crt", "tls.crt", "tls.key"]),
        (SecretSpec("generic", "c", "ns", CERT, KEY, CA), "Opaque", ["cacert", "cert", "key"]),
        (SecretSpec("generic", "c", "ns", from_file=(f"tls.crt={CERT}", f"tls.key={KEY}", f"ca.crt={CA}")),
         "Opaque", ["ca.crt", "tls.crt", "tls.key"]),
        (SecretSpec("generic", "c", "ns", from_file=(CA,)), "Opaque", ["ca.pem"]),
    ],
    ids=["tls", "tls-with-ca", "generic-istio-keys", "generic-from-file", "from-file-basename"],
)
def test_build_secret(spec: SecretSpec, typ: str, keys: list[str]) -> None:
    secret = build_secret(spec)
    assert secret["type"] == typ
    assert sorted(secret["data"]) == keys
    assert secret["metadata"] == {"name": "c", "namespace": "ns"}
    if "tls.crt" in keys:
        assert base64.b64decode(secret["data"]["tls.crt"]) == Path(CERT).read_bytes()
    import yaml

    assert load_yaml(yaml.safe_dump(secret)).errors == []  # what the mesh accepts


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        (SecretSpec("tls", "c", "ns", CERT), "secret tls needs --cert and --key"),
        (SecretSpec("tls", "c", "ns", CERT, "/nonexistent/key.pem"),
         "--key /nonexistent/key.pem: No such file or directory"),
        (SecretSpec("tls", "c", "ns", KEY, KEY), f"--cert {KEY}: no PEM certificate (-----BEGIN CERTIFICATE-----) found"),
        (SecretSpec("tls", "c", "ns", CERT, CERT), f"--key {CERT}: no PEM private key (-----BEGIN ... PRIVATE KEY-----) found"),
        (SecretSpec("tls", "c", "ns", CA, KEY), f"--key {KEY}: the private key does not match the certificate ({CA})"),
        (SecretSpec("generic", "c", "ns"), "secret generic needs --cert and --key, or --from-file"),
        (SecretSpec("generic", "c", "ns", CERT, KEY, from_file=(f"cert={CERT}",)), "data key 'cert' given twice"),
        (SecretSpec("generic", "c", "ns", from_file=(f"ca.crt={KEY}",)),
         f"--from-file ca.crt {KEY}: no PEM certificate (-----BEGIN CERTIFICATE-----) found"),
    ],
    ids=["tls-without-key", "missing-file", "cert-not-pem", "key-not-a-key", "key-mismatch",
         "generic-empty", "duplicate-key", "from-file-bad-ca"],
)
def test_build_secret_errors(spec: SecretSpec, error: str) -> None:
    with pytest.raises(CreateError) as e:
        build_secret(spec)
    assert str(e.value) == error
    assert "PRIVATE KEY-----\n" not in str(e.value)


def test_delete_by_kind_and_name_parses() -> None:
    from lateen.cli._main import build_parser

    args = build_parser().parse_args(["delete", "secret", "a", "b", "-n", "istio-system"])
    assert (args.kind, args.names, args.namespace, args.filename) == ("secret", ["a", "b"], "istio-system", None)
    args = build_parser().parse_args(["delete", "-f", "x.yaml"])
    assert (args.kind, args.filename) == (None, ["x.yaml"])
