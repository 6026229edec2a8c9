"""The ADS server authenticates a stream from its metadata (the pod's token, which the agent
puts in Envoy's ``initial_metadata``) and serves credentials (SDS) only to verified gateways of
the Secret's namespace; refusals are logged, and a Secret change pushes the new version."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from lateen.api import load_yaml
from lateen.model import MeshConfig, PushRequest, VerifiedIdentity, build_push_context
from lateen.server import XdsServer
from lateen.testing.xds_client import XdsClient
from lateen.xds import default_generators
from lateen.xds.secret import SECRET_TYPE

CERTS = Path(__file__).parent.parent / "testdata" / "xds" / "certs"
TOKENS = {"gw-token": VerifiedIdentity("istio-system", "gw")}
NODE = "router~198.18.0.7~gw-1.istio-system~istio-system.svc.cluster.local"
NAME = "kubernetes://cred"


def _push(version: str, chain: bool = False) -> Any:
    cert = (CERTS / "client.pem").read_bytes() + ((CERTS / "ca.pem").read_bytes() if chain else b"")
    secret = {
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": "cred", "namespace": "istio-system"},
        "data": {"tls.crt": base64.b64encode(cert).decode(),
                 "tls.key": base64.b64encode((CERTS / "client-key.pem").read_bytes()).decode()},
    }  # fmt: skip
    return build_push_context(load_yaml(yaml.safe_dump(secret)).objects, MeshConfig(), version)


def _authenticate(metadata: Sequence[tuple[str, Any]], peer: str) -> VerifiedIdentity | None:
    for k, v in metadata:
        if k == "authorization" and str(v).startswith("Bearer "):
            return TOKENS.get(str(v)[len("Bearer "):])
    return None


@pytest.fixture(name="server")
async def server_fixture() -> AsyncIterator[XdsServer]:
    server = XdsServer(default_generators(), CollectorRegistry(), authenticate=_authenticate)
    server.push(_push("1"), PushRequest(full=True))
    task = asyncio.create_task(server.run("127.0.0.1:0"))
    try:
        await asyncio.wait_for(server.ready.wait(), 5)
        yield server
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.parametrize(
    ("metadata", "node", "served", "logged"),
    [
        ((("authorization", "Bearer gw-token"),), NODE, True, ""),
        ((), NODE, False, "not authenticated"),
        ((("authorization", "Bearer stolen"),), NODE, False, "not authenticated"),
        # the token is istio-system's, the node claims default: not verified at all
        ((("authorization", "Bearer gw-token"),),
         "router~198.18.0.7~gw-1.default~default.svc.cluster.local", False, "not authenticated"),
    ],
    ids=["token", "no-token", "unknown-token", "namespace-claim-mismatch"],
)
async def test_credentials_only_for_verified_gateways(
    server: XdsServer, metadata: tuple[tuple[str, str], ...], node: str, served: bool, logged: str,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.WARNING)
    async with XdsClient(f"127.0.0.1:{server.port}", node, call_metadata=metadata) as client:
        await client.subscribe(SECRET_TYPE, [NAME])
        if served:
            resp = await client.recv_type(SECRET_TYPE)
            assert resp.names == [NAME]
        else:
            await client.expect_nothing(0.5)
    if logged:
        assert f"sds {NAME!r} refused" in caplog.text and logged in caplog.text


async def test_a_secret_change_pushes_the_new_certificate(server: XdsServer) -> None:
    meta = (("authorization", "Bearer gw-token"),)
    async with XdsClient(f"127.0.0.1:{server.port}", NODE, call_metadata=meta) as client:
        await client.subscribe(SECRET_TYPE, [NAME])
        await client.recv_type(SECRET_TYPE)
        from lateen.api import ConfigKey

        key = ConfigKey("", "Secret", "istio-system", "cred")
        server.push(_push("2", chain=True),  # the same key, now with its chain
                    PushRequest(full=False, config_updated=frozenset({key})))  # fmt: skip
        resp = await client.recv_type(SECRET_TYPE)
        secret = client.resources(SECRET_TYPE)[NAME]
        chain = (CERTS / "client.pem").read_bytes() + (CERTS / "ca.pem").read_bytes()
        assert secret.tls_certificate.certificate_chain.inline_bytes == chain  # type: ignore[attr-defined]
        assert resp.version == "2"
