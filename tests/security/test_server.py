"""IstioCertificateService over TLS with real gRPC on a loopback port: authentication, the
caller's identity, Istio's status codes, the serving certificate and its renewal after the CA
switches signer, concurrency, and the citadel metrics."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from ca_support import csr_pem, root_bundle, tamper_signature, verify_client
from cryptography import x509
from prometheus_client import CollectorRegistry, generate_latest

from lateen.security import (
    ISTIOD_SERVER_NAME,
    CaClient,
    CaServer,
    CaServerOptions,
    CertificateAuthority,
    CertificateRequestError,
    SystemClock,
    TokenAuthenticator,
    TokenIssuer,
    ca_messages,
    certs_to_pem,
    load_certs,
    new_key_and_csr,
    request_certificate,
)

REVIEWS_ID = "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"


@dataclass
class Env:
    ca: CertificateAuthority
    server: CaServer
    address: str
    token: str
    registry: CollectorRegistry


@contextlib.asynccontextmanager
async def serve(tmp_path: Path, sign_workers: int = 0) -> AsyncIterator[Env]:
    issuer = TokenIssuer(tmp_path / "ca-tokens.json")
    token = issuer.issue("default", "bookinfo-reviews", "reviews-v1-abc-12345")
    ca = CertificateAuthority(root_bundle(time.time()), clock=SystemClock())
    registry = CollectorRegistry()
    options = CaServerOptions(address="127.0.0.1:0", sign_workers=sign_workers)
    server = CaServer(ca, TokenAuthenticator(issuer.path), options, registry=registry)
    task = asyncio.create_task(server.run())
    try:
        await asyncio.wait_for(server.ready.wait(), 10)
        yield Env(ca, server, f"127.0.0.1:{server.port}", token, registry)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with serve(tmp_path) as e:
        yield e


OK = None


@pytest.mark.parametrize(
    ("token", "csr", "ttl", "expect"),
    [
        ("good", "plain", 0, OK),
        ("good", "asks-istiod", 0, OK),
        ("good", "plain", 3600, OK),
        (None, "plain", 0, (grpc.StatusCode.UNAUTHENTICATED, "request authenticate failure")),
        ("wrong", "plain", 0, (grpc.StatusCode.UNAUTHENTICATED, "request authenticate failure")),
        ("good", "plain", 91 * 86400,
         (grpc.StatusCode.INVALID_ARGUMENT, "greater than the max allowed TTL 2160h0m0s")),
        ("good", "bad-signature", 0, (grpc.StatusCode.INVALID_ARGUMENT, "signature does not verify")),
        ("good", "garbage", 0, (grpc.StatusCode.INVALID_ARGUMENT, "failed to parse the CSR")),
    ],
    ids=["ok", "csr-asks-istiod", "ttl-1h", "no-token", "wrong-token", "over-max-ttl",
         "bad-csr-signature", "garbage-csr"],
)
async def test_create_certificate(
    env: Env, token: str | None, csr: str, ttl: int, expect: tuple[grpc.StatusCode, str] | None
) -> None:
    pem = {
        "plain": lambda: new_key_and_csr("ecdsa")[1],
        "asks-istiod": lambda: csr_pem(uris=["spiffe://cluster.local/ns/istio-system/sa/istiod"]),
        "bad-signature": lambda: tamper_signature(csr_pem()),
        "garbage": lambda: b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
    }[csr]()
    tok = {"good": env.token, "wrong": env.token[:-2] + "xx", None: None}[token]
    roots = env.ca.trust_bundle_pem()
    if expect is not None:
        with pytest.raises(CertificateRequestError) as e:
            await request_certificate(env.address, roots, tok, pem, ttl)
        assert (e.value.code, expect[1] in e.value.details) == (expect[0], True), e.value
        return
    now = time.time()
    chain = await request_certificate(env.address, roots, tok, pem, ttl)
    assert len(chain) == 2 and all(c.endswith("-----END CERTIFICATE-----\n") for c in chain)
    assert verify_client(chain, env.ca.trust_bundle(), now + 60) == [REVIEWS_ID]
    leaf = load_certs(chain[0])[0]
    lifetime = leaf.not_valid_after_utc.timestamp() - now
    assert lifetime == pytest.approx(ttl or 86400, abs=5)


async def test_serving_certificate(env: Env) -> None:
    pem = await asyncio.to_thread(_server_cert_pem, env.server.port)
    cert = load_certs(pem)[0]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [ISTIOD_SERVER_NAME]
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert cert.issuer == env.ca.signer.cert.subject


def _server_cert_pem(port: int | None) -> str:
    return ssl.get_server_certificate(("127.0.0.1", port or 0))


@pytest.mark.parametrize(
    ("roots", "server_name"),
    [("other-root", ISTIOD_SERVER_NAME), ("ca", "istiod.other-ns.svc")],
    ids=["untrusted-server", "wrong-server-name"],
)
async def test_client_verifies_the_server(env: Env, roots: str, server_name: str) -> None:
    pem = certs_to_pem([root_bundle().cert]) if roots == "other-root" else env.ca.trust_bundle_pem()
    async with CaClient(env.address, pem, server_name=server_name) as client:
        with pytest.raises(CertificateRequestError) as e:
            await client.create_certificate(new_key_and_csr("ecdsa")[1], env.token, timeout=5)
    assert e.value.code is grpc.StatusCode.UNAVAILABLE


async def test_plaintext_is_refused(env: Env) -> None:
    request, response = ca_messages()
    async with grpc.aio.insecure_channel(env.address) as ch:
        call = ch.unary_unary("/istio.v1.auth.IstioCertificateService/CreateCertificate",
                              request_serializer=request.SerializeToString,
                              response_deserializer=response.FromString)
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await call(request(csr="x"), timeout=5)
    assert e.value.code() is grpc.StatusCode.UNAVAILABLE


async def test_serving_certificate_follows_the_signer_through_rotation(env: Env) -> None:
    old_root = env.ca.trust_bundle_pem()
    new = root_bundle(time.time())
    new_root = certs_to_pem([new.cert])
    env.ca.trust_new_signer(new)  # step 1: the old root still signs, the server's cert too
    csr = new_key_and_csr("ecdsa")[1]
    chain = await request_certificate(env.address, old_root, env.token, csr)
    assert len(chain) == 3  # leaf, old root, new root: agents learn the new root
    with pytest.raises(CertificateRequestError):
        await request_certificate(env.address, new_root, env.token, csr, timeout=5)
    env.ca.switch_signer()  # step 2: the next handshake gets a certificate from the new root
    chain = await request_certificate(env.address, new_root, env.token, csr)
    assert load_certs(chain[0])[0].issuer == new.cert.subject
    assert verify_client(chain, [new.cert], time.time() + 60) == [REVIEWS_ID]
    # an agent still holding only the old root is refused by TLS until it has the new one,
    # which is why the switch waits for every workload to renew once (step 1 -> 2)
    with pytest.raises(CertificateRequestError):
        await request_certificate(env.address, old_root, env.token, csr, timeout=5)


async def test_concurrent_requests_and_metrics(env: Env) -> None:
    csrs = [new_key_and_csr("ecdsa")[1] for _ in range(10)]
    async with CaClient(env.address, env.ca.trust_bundle_pem()) as client:
        chains = await asyncio.gather(
            *(client.create_certificate(csrs[i % 10], env.token) for i in range(60))
        )
        with pytest.raises(CertificateRequestError):
            await client.create_certificate(csrs[0], "bad-token")
        with pytest.raises(CertificateRequestError):
            await client.create_certificate(csrs[0], env.token, ttl=100 * 86400)
    assert len({load_certs(c[0])[0].serial_number for c in chains}) == 60
    text = generate_latest(env.registry).decode()
    for line in (
        "citadel_server_csr_count 62.0",
        "citadel_server_success_cert_issuance_count 60.0",
        "citadel_server_authentication_failure_count 1.0",
        'citadel_server_csr_sign_error_count{error_type="TTL_ERROR"} 1.0',
    ):
        assert line in text, text
    assert "citadel_server_root_cert_expiry_timestamp" in text


@pytest.mark.parametrize("csr", ["ok", "bad"], ids=["signed", "bad-csr"])
async def test_signing_in_worker_threads(tmp_path: Path, csr: str) -> None:
    async with serve(tmp_path, sign_workers=2) as e:
        pem = new_key_and_csr("ecdsa")[1] if csr == "ok" else tamper_signature(csr_pem())
        coros = [request_certificate(e.address, e.ca.trust_bundle_pem(), e.token, pem)
                 for _ in range(8)]
        if csr == "ok":
            chains = await asyncio.gather(*coros)
            assert all(verify_client(c, e.ca.trust_bundle(), time.time() + 60) == [REVIEWS_ID]
                       for c in chains)
        else:
            results = await asyncio.gather(*coros, return_exceptions=True)
            assert all(isinstance(r, CertificateRequestError)
                       and r.code is grpc.StatusCode.INVALID_ARGUMENT for r in results)
