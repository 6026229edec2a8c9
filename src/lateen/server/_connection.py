"""One ADS stream: its proxy, its per-type subscriptions and what was sent/acknowledged.

The protocol rules follow Envoy's "xDS REST and gRPC protocol" document:

* per type: a version and a nonce per response; a request whose ``response_nonce`` is the
  last nonce sent is an ACK, or a NACK when it carries ``error_detail`` (counted in
  ``pilot_total_xds_rejects``, logged with the resource names, never answered: the proxy keeps
  its last good config and nothing is resent until something changes);
* SotW: a request with a stale nonce is ignored entirely; the first request of a type (no
  nonce, possibly a ``version_info`` from an earlier stream) is a fresh subscription and gets
  the current state; CDS/LDS responses carry the full set (omission = deletion), EDS/RDS
  responses only what changed or was newly requested (there is no SotW deletion for them:
  the parent resource stops referring to them);
* Delta: subscription changes are honoured whatever the nonce; ``removed_resources`` announces
  deletions (and subscribed names that do not exist); ``initial_resource_versions`` on a new
  stream are what the client already has (our versions are content hashes, so equal ones are
  not resent); on a push, removed clusters go in a last CDS response (make-before-break);
* wildcard for CDS/LDS when the first request names nothing, or for any type with ``*``;
* names requested before they exist are remembered and sent when they appear.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from envoy.service.discovery.v3 import discovery_pb2

from lateen.model import Proxy, PushRequest
from lateen.server._cache import CachedResource
from lateen.server._types import CDS, EDS, FULL_STATE_TYPES, PushContextLike, short_type, type_order

if TYPE_CHECKING:
    from lateen.server._server import XdsServer

__all__ = ["Connection", "WatchedResource"]

log = logging.getLogger(__name__)

WILDCARD = "*"
_MAX_NONCES = 16


@dataclass(eq=False)
class WatchedResource:
    """Per connection and type: subscription, what was sent (name -> content hash; ``""``
    means "told the client it does not exist", Delta only) and the ACK/NACK state."""

    type_url: str
    wildcard: bool = False
    names: set[str] = field(default_factory=set)
    sent: dict[str, str] = field(default_factory=dict)
    sent_version: str = ""
    sent_nonce: str = ""
    acked_version: str = ""
    acked_nonce: str = ""
    last_nack: str = ""
    nacked_nonce: str = ""
    nacks: int = 0
    responses: int = 0
    last_sent: float = 0.0
    #: names whose content the latest response changed (CDS: those clusters re-warm)
    changed: frozenset[str] = frozenset()
    #: nonce -> (version, resource names, removed names), most recent last
    nonces: OrderedDict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = field(
        default_factory=OrderedDict
    )

    def remember(
        self, nonce: str, version: str, names: Sequence[str], removed: Sequence[str]
    ) -> None:
        self.nonces[nonce] = (version, tuple(names), tuple(removed))
        while len(self.nonces) > _MAX_NONCES:
            self.nonces.popitem(last=False)


@dataclass(frozen=True, slots=True)
class _Req:
    msg: Any


@dataclass(frozen=True, slots=True)
class _Push:
    request: PushRequest
    done: asyncio.Event


class _Eof:
    pass


_Event = _Req | _Push | _Eof


class Connection:
    """State and request/push processing of one stream; all processing runs in the stream's
    own task (requests and pushes go through :attr:`inbox`), so there is a single writer."""

    def __init__(
        self,
        server: XdsServer,
        conn_id: str,
        proxy: Proxy,
        node_id: str,
        protocol: Literal["sotw", "delta"],
        send: Callable[[Any], Awaitable[None]],
        peer: str = "",
    ) -> None:
        self.server = server
        self.id = conn_id
        self.proxy = proxy
        self.node_id = node_id
        self.protocol = protocol
        self.peer = peer
        self.connected_at = server.clock.now()
        self.watched: dict[str, WatchedResource] = {}
        self.inbox: asyncio.Queue[_Event] = asyncio.Queue()
        self.closed = False
        self.pushes = 0
        self._send = send

    def __repr__(self) -> str:
        return f"Connection({self.id})"

    @property
    def delta(self) -> bool:
        return self.protocol == "delta"

    # -- events ---------------------------------------------------------------------------

    def deliver_request(self, msg: Any) -> None:
        self.inbox.put_nowait(_Req(msg))

    def deliver_eof(self) -> None:
        self.inbox.put_nowait(_Eof())

    async def push(self, request: PushRequest) -> None:
        """Called by the push queue: hand the push to the stream task, wait until done."""
        if self.closed:
            return
        ev = _Push(request, asyncio.Event())
        self.inbox.put_nowait(ev)
        await ev.done.wait()

    def close(self) -> None:
        self.closed = True
        while not self.inbox.empty():
            ev = self.inbox.get_nowait()
            if isinstance(ev, _Push):
                ev.done.set()

    async def run(self, first: Any) -> None:
        await self._on_request(first)
        while True:
            ev = await self.inbox.get()
            if isinstance(ev, _Eof):
                return
            if isinstance(ev, _Req):
                await self._on_request(ev.msg)
            else:
                try:
                    await self._on_push(ev.request)
                finally:
                    ev.done.set()

    async def _on_request(self, msg: Any) -> None:
        try:
            if self.delta:
                await self._on_delta_request(msg)
            else:
                await self._on_sotw_request(msg)
        except (asyncio.CancelledError, ConnectionError):
            raise
        except Exception:
            log.exception(
                "%s: cannot process request for %r", self.id, getattr(msg, "type_url", "?")
            )

    # -- helpers --------------------------------------------------------------------------

    def _known_type(self, type_url: str) -> bool:
        if type_url in self.server.generators:
            return True
        log.warning("%s: request for unknown type %r ignored", self.id, type_url)
        return False

    def _nack(self, w: WatchedResource, nonce: str, message: str, code: int) -> None:
        sent = w.nonces.get(nonce)
        names = list(sent[1]) if sent else []
        w.last_nack = message
        w.nacked_nonce = nonce
        w.nacks += 1
        self.server.metrics.rejects.inc(short_type(w.type_url))
        log.warning(
            "%s: NACK %s nonce=%s version=%s code=%d resources=%s: %s",
            self.id,
            short_type(w.type_url),
            nonce,
            sent[0] if sent else "?",
            code,
            ",".join(names) or "-",
            message,
        )

    def _resources(
        self, w: WatchedResource, push: PushContextLike
    ) -> tuple[CachedResource, ...] | None:
        try:
            return self.server.resources(self.proxy, w.type_url, push)
        except Exception:
            log.exception("%s: generating %s failed", self.id, short_type(w.type_url))
            return None

    def _log_refused(self, type_url: str, names: Iterable[str]) -> None:
        """Log the requested names the proxy is not allowed to have (SDS credentials of
        another namespace, or any credential without an authenticated stream); the
        generator leaves them out, so Envoy never gets them."""
        refused = getattr(self.server.generators.get(type_url), "refused", None)
        if refused is None:
            return
        for name, why in refused(self.proxy, list(names)):
            log.warning(
                "%s: %s %r refused to %s: %s", self.id, short_type(type_url), name, self.peer, why
            )

    def _nonce(self) -> str:
        return uuid.uuid4().hex[:16]

    async def _write(
        self, w: WatchedResource, msg: Any, names: Sequence[str], removed: Sequence[str]
    ) -> None:
        m = self.server.metrics
        w.sent_nonce = msg.nonce
        w.sent_version = msg.system_version_info if self.delta else msg.version_info
        w.remember(msg.nonce, w.sent_version, names, removed)
        w.responses += 1
        start = self.server.clock.now()
        await self._send(msg)
        end = self.server.clock.now()
        w.last_sent = end
        m.send_time.observe(max(0.0, end - start))
        m.pushes.inc(short_type(w.type_url))

    # -- SotW -----------------------------------------------------------------------------

    async def _on_sotw_request(self, req: discovery_pb2.DiscoveryRequest) -> None:
        type_url: str = req.type_url
        if not self._known_type(type_url):
            return
        w = self.watched.get(type_url)
        names = set(req.resource_names)
        nonce: str = req.response_nonce
        is_error = req.HasField("error_detail")
        if w is not None and nonce and nonce != w.sent_nonce:
            log.debug(
                "%s: stale nonce %s for %s ignored (sent %s)",
                self.id,
                nonce,
                short_type(type_url),
                w.sent_nonce,
            )
            return
        if is_error:
            if w is not None and nonce:
                self._nack(w, nonce, req.error_detail.message, req.error_detail.code)
            return
        if w is None or not nonce:
            # A new subscription: the first request of this type on the stream, including a
            # reconnect that carries the version of an earlier stream.
            w = WatchedResource(type_url)
            w.wildcard = WILDCARD in names or (type_url in FULL_STATE_TYPES and not names)
            w.names = names - {WILDCARD}
            self._log_refused(type_url, w.names)
            w.acked_version = req.version_info
            self.watched[type_url] = w
            await self._respond_sotw(w, force=True)
            return
        # ACK of the latest response, possibly with a new set of names.
        w.acked_version = req.version_info
        w.acked_nonce = nonce
        if w.wildcard:
            return
        names.discard(WILDCARD)
        if names == w.names:
            return
        added = names - w.names
        for gone in w.names - names:
            w.sent.pop(gone, None)
        for n in added:
            w.sent.pop(n, None)  # must be resent even if sent before unrequested
        w.names = names
        if added:
            self._log_refused(type_url, added)
            await self._respond_sotw(w, force=type_url in FULL_STATE_TYPES)

    def _build_sotw(
        self, w: WatchedResource, push: PushContextLike, *, force: bool
    ) -> tuple[Any, list[str]] | None:
        entries = self._resources(w, push)
        if entries is None:
            return None
        scope = list(entries) if w.wildcard else [e for e in entries if e.name in w.names]
        if w.type_url in FULL_STATE_TYPES:
            new = {e.name: e.hash for e in scope}
            if not force and new == w.sent:
                return None
            w.changed = frozenset(n for n, h in new.items() if w.sent.get(n) != h)
            w.sent = new
            send = scope
        else:
            scope_names = {e.name for e in scope}
            for n in [n for n in w.sent if n not in scope_names]:
                del w.sent[n]  # gone: nothing to send in SotW; resent if it comes back
            send = [e for e in scope if w.sent.get(e.name) != e.hash]
            if not send:
                return None
            for e in send:
                w.sent[e.name] = e.hash
        resp = discovery_pb2.DiscoveryResponse(
            version_info=push.version,
            resources=[e.any for e in send],
            type_url=w.type_url,
            nonce=self._nonce(),
        )
        return resp, [e.name for e in send]

    async def _respond_sotw(self, w: WatchedResource, *, force: bool) -> bool:
        push = self.server.push_context
        if push is None:
            return False
        # the first response of CDS/LDS is owed even when empty (Envoy waits for it to initialize)
        force = force or (w.responses == 0 and w.type_url in FULL_STATE_TYPES)
        built = self._build_sotw(w, push, force=force)
        if built is None:
            return False
        await self._write(w, built[0], built[1], ())
        return True

    # -- Delta ----------------------------------------------------------------------------

    async def _on_delta_request(self, req: discovery_pb2.DeltaDiscoveryRequest) -> None:
        type_url: str = req.type_url
        if not self._known_type(type_url):
            return
        w = self.watched.get(type_url)
        first = w is None
        subscribe = list(req.resource_names_subscribe)
        unsubscribe = list(req.resource_names_unsubscribe)
        if w is None:
            w = WatchedResource(type_url)
            w.wildcard = WILDCARD in subscribe or (type_url in FULL_STATE_TYPES and not subscribe)
            self.watched[type_url] = w
            for name, version in req.initial_resource_versions.items():
                w.sent[name] = version
        nonce: str = req.response_nonce
        if nonce and nonce in w.nonces:
            if req.HasField("error_detail"):
                self._nack(w, nonce, req.error_detail.message, req.error_detail.code)
            else:
                w.acked_nonce = nonce
                w.acked_version = w.nonces[nonce][0]
        elif nonce and req.HasField("error_detail"):
            log.debug("%s: NACK with unknown nonce %s for %s", self.id, nonce, short_type(type_url))
        # Subscription changes are honoured even with a stale nonce.
        added: list[str] = []
        for n in subscribe:
            if n == WILDCARD:
                w.wildcard = True
            elif n not in w.names:
                w.names.add(n)
                added.append(n)
                if not first:
                    w.sent.pop(n, None)
        for n in unsubscribe:
            if n == WILDCARD:
                w.wildcard = False
                continue
            w.names.discard(n)
            if not w.wildcard:
                w.sent.pop(n, None)
        if first and not w.wildcard:
            for n in [n for n in w.sent if n not in w.names]:
                del w.sent[n]
        self._log_refused(type_url, added)
        if first or added or (WILDCARD in subscribe):
            await self._respond_delta(w, force=first, removals=True)

    def _build_delta(
        self, w: WatchedResource, push: PushContextLike, *, force: bool, removals: bool
    ) -> tuple[Any, list[str], list[str]] | None:
        entries = self._resources(w, push)
        if entries is None:
            return None
        current = {e.name for e in entries}
        scope = list(entries) if w.wildcard else [e for e in entries if e.name in w.names]
        send = [e for e in scope if w.sent.get(e.name) != e.hash]
        removed: list[str] = []
        if removals:
            gone = {n for n, h in w.sent.items() if h and n not in current}
            if w.wildcard:
                removed = sorted(
                    gone | {n for n in w.names if n not in current and n not in w.sent}
                )
            else:
                removed = sorted(n for n in w.names if n not in current and w.sent.get(n) != "")
        if not send and not removed and not force:
            return None
        w.changed = frozenset(e.name for e in send)
        for e in send:
            w.sent[e.name] = e.hash
        for n in removed:
            if w.wildcard and n not in w.names:
                w.sent.pop(n, None)
            else:
                w.sent[n] = ""
        resp = discovery_pb2.DeltaDiscoveryResponse(
            system_version_info=push.version,
            resources=[
                discovery_pb2.Resource(name=e.name, version=e.hash, resource=e.any) for e in send
            ],
            type_url=w.type_url,
            removed_resources=removed,
            nonce=self._nonce(),
        )
        return resp, [e.name for e in send], removed

    async def _respond_delta(self, w: WatchedResource, *, force: bool, removals: bool) -> bool:
        push = self.server.push_context
        if push is None:
            return False
        force = force or (w.responses == 0 and w.type_url in FULL_STATE_TYPES)
        built = self._build_delta(w, push, force=force, removals=removals)
        if built is None:
            return False
        await self._write(w, built[0], built[1], built[2])
        return True

    # -- pushes ---------------------------------------------------------------------------

    def ordered_types(self) -> list[str]:
        return sorted(self.watched, key=type_order)

    async def _on_push(self, request: PushRequest) -> None:
        push = self.server.push_context
        if push is None or self.closed:
            return
        started = self.server.clock.now()
        sent_any = False
        deferred_cds: WatchedResource | None = None
        rewarming: frozenset[str] = frozenset()
        for type_url in self.ordered_types():
            gen = self.server.generators.get(type_url)
            w = self.watched[type_url]
            if type_url == EDS and rewarming:
                # Envoy re-warms every cluster whose definition changed and waits for its
                # endpoints again: resend them (as istiod does) even if they did not change,
                # or the cluster stays warming until the initial fetch timeout
                for name in rewarming:
                    w.sent.pop(name, None)
            elif gen is None or not gen.needs_push(self.proxy, request):
                continue
            t0 = self.server.clock.now()
            if self.delta:
                # make-before-break: removed clusters go last, after listeners and routes moved
                removals = type_url != CDS
                sent = await self._respond_delta(w, force=False, removals=removals)
                if type_url == CDS:
                    deferred_cds = w
            else:
                sent = await self._respond_sotw(w, force=False)
            if sent and type_url == CDS:
                rewarming = w.changed
            if sent:
                sent_any = True
                self.server.metrics.push_time.labels(short_type(type_url)).observe(
                    max(0.0, self.server.clock.now() - t0)
                )
        if deferred_cds is not None and await self._respond_delta(
            deferred_cds, force=False, removals=True
        ):
            sent_any = True
        self.pushes += 1
        if sent_any and request.start:
            self.server.metrics.convergence.observe(
                max(0.0, self.server.clock.now() - request.start)
            )
        log.debug(
            "%s: push done in %.3fs (sent=%s)", self.id, self.server.clock.now() - started, sent_any
        )

    # -- introspection --------------------------------------------------------------------

    def syncz(self) -> dict[str, Any]:
        types: dict[str, Any] = {}
        out: dict[str, Any] = {
            "proxy": self.proxy.id,
            "node_id": self.node_id,
            "connection_id": self.id,
            "protocol": self.protocol,
            "proxy_type": str(self.proxy.type),
            "cluster_id": self.proxy.cluster_id,
            "namespace": self.proxy.namespace,
            "istio_version": str(self.proxy.metadata.get("ISTIO_VERSION", "")),
            "types": types,
        }
        istio_prefix = {"cds": "cluster", "eds": "endpoint", "lds": "listener", "rds": "route"}
        for type_url in self.ordered_types():
            w = self.watched[type_url]
            short = short_type(type_url)
            types[short] = {
                "type_url": type_url,
                "wildcard": w.wildcard,
                "subscribed": sorted(w.names),
                "sent_version": w.sent_version,
                "sent_nonce": w.sent_nonce,
                "acked_version": w.acked_version,
                "acked_nonce": w.acked_nonce,
                "last_nack": w.last_nack,
                "nacked_nonce": w.nacked_nonce,
                "nacks": w.nacks,
                "resources_sent": sorted(n for n, h in w.sent.items() if h),
            }
            if short in istio_prefix:
                p = istio_prefix[short]
                out[f"{p}_sent"] = w.sent_nonce
                out[f"{p}_acked"] = w.acked_nonce
        return out

    def watched_names(self) -> dict[str, Iterable[str]]:
        return {t: sorted(w.names) for t, w in self.watched.items()}
