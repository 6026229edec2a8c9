"""The agent's SDS: certificate rotation at half TTL, backoff while the CA is down, the last
certificate kept, and the SecretDiscoveryService stream over a real Unix socket (a gRPC
client plays Envoy). The CA is a real :class:`CertificateAuthority` behind a fake source."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import grpc
import pytest
from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from envoy.service.discovery.v3 import discovery_pb2
from envoy.service.secret.v3 import sds_pb2_grpc

from lateen.agent._sds import (
    SECRET_TYPE,
    SdsServer,
    SecretManager,
    WorkloadSecret,
    secret_resources,
    socket_address,
)
from lateen.security import CertificateAuthority, Identity, SigningBundle, load_certs, uri_sans
from lateen.testing.clock import FakeClock

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
HOUR = 3600.0
SPIFFE = "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"


class FakeCa:
    """A :class:`CertificateSource` signing with a real CA on the fake clock; ``down`` makes
    every call fail, as an unreachable CA."""

    def __init__(self, clock: FakeClock) -> None:
        root = SigningBundle.self_signed_root(org="cluster.local", now=NOW - HOUR, key_type="ecdsa")
        self.ca = CertificateAuthority(root, clock=clock)
        self.down = False
        self.calls = 0

    async def sign(self, csr_pem: bytes, ttl: int) -> list[str]:
        self.calls += 1
        if self.down:
            raise ConnectionError("UNAVAILABLE: the CA is down")
        return self.ca.sign(csr_pem, Identity("default", "bookinfo-productpage"), ttl)


def _manager(ca: FakeCa, clock: FakeClock, **kw: object) -> SecretManager:
    return SecretManager(ca, clock=clock, key_type="ecdsa", rand=lambda: 0.5, **kw)  # type: ignore[arg-type]


async def _until(predicate: object, turns: int = 400) -> None:
    for _ in range(turns):
        if predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


@pytest.mark.parametrize(
    ("ttl_h", "rand", "grace"),
    [(24, 0.5, 0.5), (2, 0.5, 0.5), (24, 1.0, 0.51), (24, 0.0, 0.49)],
    ids=["24h", "2h", "jitter-max", "jitter-min"],
)
async def test_rotation_at_half_life_with_jitter(ttl_h: int, rand: float, grace: float) -> None:
    """Renewal when ``grace`` of the life is left; the CA back-dates by 2 min, so a 24 h
    certificate lives 24h02m and (without jitter) is renewed 11h59m after issuance."""
    clock = FakeClock(NOW)
    m = SecretManager(FakeCa(clock), clock=clock, key_type="ecdsa", ttl_s=int(ttl_h * HOUR), rand=lambda: rand)
    secret = await m.refresh()
    life = ttl_h * HOUR + 120
    assert secret.not_after - secret.not_before == life
    assert m.rotation_delay(secret) == pytest.approx(life * (1 - grace) - 120, abs=1)


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (6, 30.0), (20, 30.0)],
    ids=["first", "second", "third", "fifth", "capped", "long-outage"],
)
def test_backoff_doubles_up_to_the_cap(failures: int, delay: float) -> None:
    clock = FakeClock(NOW)
    m = SecretManager(FakeCa(clock), clock=clock, rand=lambda: 0.5)
    assert m.backoff_delay(failures) == pytest.approx(delay)


async def test_renews_at_half_ttl_and_keeps_the_cert_while_the_ca_is_down() -> None:
    clock = FakeClock(NOW)
    ca = FakeCa(clock)
    m = _manager(ca, clock)
    versions: list[int] = []
    m.watch(lambda: versions.append(m.current.version if m.current else 0))
    task = asyncio.create_task(m.run())
    try:
        await _until(lambda: m.current is not None and clock.sleepers == 1)
        first = m.current
        assert first is not None and versions == [1]
        leaf = load_certs(first.chain_pem)[0]
        assert uri_sans(leaf) == [SPIFFE]
        # nothing before half the life
        await clock.advance_and_settle(11 * HOUR)
        assert ca.calls == 1
        # the CA goes down at renewal time: retries with backoff, the old cert stays
        ca.down = True
        await clock.advance_and_settle(1 * HOUR)
        await _until(lambda: m.failures == 1 and clock.sleepers == 1)
        assert m.current is first and "the CA is down" in m.last_error
        for expected_failures in (2, 3, 4):
            await clock.advance_and_settle(clock.next_deadline() - clock.now())  # type: ignore[operator]
            await _until(lambda n=expected_failures: m.failures == n and clock.sleepers == 1)  # type: ignore[misc]
            assert m.current is first
        assert clock.next_deadline() - clock.now() == pytest.approx(8.0)  # type: ignore[operator]
        # back up: a new key and certificate, announced to watchers
        ca.down = False
        await clock.advance_and_settle(8.0)
        await _until(lambda: m.current is not first and m.failures == 0)
        assert m.current is not None and m.current.version == 2 and versions == [1, 2]
        assert m.current.key_pem != first.key_pem
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_first_request_retries_until_the_ca_answers() -> None:
    clock = FakeClock(NOW)
    ca = FakeCa(clock)
    ca.down = True
    m = _manager(ca, clock)
    task = asyncio.create_task(m.run())
    try:
        await _until(lambda: m.failures == 1 and clock.sleepers == 1)
        assert m.current is None
        ca.down = False
        await clock.advance_and_settle(1.0)
        await _until(lambda: m.current is not None)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _secret() -> WorkloadSecret:
    return WorkloadSecret(b"KEY", "CHAIN", "ROOTS", NOW, NOW + HOUR, 7)


@pytest.mark.parametrize(
    ("names", "kinds"),
    [
        (["default"], ["tls_certificate"]),
        (["ROOTCA"], ["validation_context"]),
        (["default", "ROOTCA"], ["tls_certificate", "validation_context"]),
        (["kubernetes://other"], []),
    ],
    ids=["default", "rootca", "both", "unknown-name"],
)
def test_secret_resources(names: list[str], kinds: list[str]) -> None:
    out = secret_resources(_secret(), names)
    assert [r.WhichOneof("type") for r in out] == kinds
    for r in out:
        if r.name == "default":
            assert r.tls_certificate.private_key.inline_bytes == b"KEY"
            assert r.tls_certificate.certificate_chain.inline_bytes == b"CHAIN"
        else:
            assert r.validation_context.trusted_ca.inline_bytes == b"ROOTS"


@pytest.mark.parametrize(
    ("path", "ok"),
    [("s/" + "x" * 100, True), ("s/" + "x" * 120, False)],
    ids=["short", "too-long"],
)
def test_socket_address_length(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str, ok: bool) -> None:
    monkeypatch.chdir(tmp_path)
    if ok:
        assert socket_address(tmp_path / path) == path
    else:
        with pytest.raises(ValueError, match="longer than 107"):
            socket_address(tmp_path / path)


def _request(names: list[str], nonce: str = "", version: str = "") -> discovery_pb2.DiscoveryRequest:
    return discovery_pb2.DiscoveryRequest(
        node=base_pb2.Node(id="sidecar~127.0.0.1~p.default~default.svc.cluster.local"),
        resource_names=names,
        type_url=SECRET_TYPE,
        response_nonce=nonce,
        version_info=version,
    )


def _secrets(resp: discovery_pb2.DiscoveryResponse) -> dict[str, secret_pb2.Secret]:
    out = {}
    for any_ in resp.resources:
        s = secret_pb2.Secret()
        any_.Unpack(s)
        out[s.name] = s
    return out


async def test_sds_stream_serves_and_pushes_rotations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    clock = FakeClock(NOW)
    ca = FakeCa(clock)
    m = _manager(ca, clock)
    sock = tmp_path / "var/run/secrets/workload-spiffe-uds/socket"
    server = SdsServer(m, sock)
    requests: asyncio.Queue[discovery_pb2.DiscoveryRequest | None] = asyncio.Queue()

    async def outgoing():  # type: ignore[no-untyped-def]
        while (r := await requests.get()) is not None:
            yield r

    async with asyncio.TaskGroup() as tg:
        srv = tg.create_task(server.run())
        await _until(sock.exists)
        assert (sock.stat().st_mode & 0o777) == 0o600
        # a request before the first certificate: nothing is sent until there is one
        channel = grpc.aio.insecure_channel(f"unix:{sock}")
        call = sds_pb2_grpc.SecretDiscoveryServiceStub(channel).StreamSecrets(outgoing())
        await requests.put(_request(["default", "ROOTCA"]))
        await asyncio.sleep(0.1)
        assert not server.served
        mgr = tg.create_task(m.run())
        first = await asyncio.wait_for(call.read(), 5)
        got = _secrets(first)
        assert sorted(got) == ["ROOTCA", "default"] and first.type_url == SECRET_TYPE
        chain = load_certs(got["default"].tls_certificate.certificate_chain.inline_bytes)
        assert uri_sans(chain[0]) == [SPIFFE]
        roots = load_certs(got["ROOTCA"].validation_context.trusted_ca.inline_bytes)
        assert roots and roots[0].subject == roots[0].issuer
        assert server.served
        await requests.put(_request(["default", "ROOTCA"], first.nonce, first.version_info))  # ACK
        # rotation at half life: pushed on the same stream with a new version
        await _until(lambda: clock.sleepers >= 1)
        await clock.advance_and_settle(clock.next_deadline() - clock.now())  # type: ignore[operator]
        second = await asyncio.wait_for(call.read(), 5)
        assert second.version_info != first.version_info
        new_leaf = _secrets(second)["default"].tls_certificate.certificate_chain.inline_bytes
        assert new_leaf != got["default"].tls_certificate.certificate_chain.inline_bytes
        await requests.put(None)
        await channel.close()
        mgr.cancel()
        srv.cancel()
    await _until(lambda: not sock.exists())
