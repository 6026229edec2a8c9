"""SDS generator over ADS: the gateway credentials (``kubernetes://NAME``) a proxy may read."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import TYPE_CHECKING

from lateen.xds._generator import Resource
from lateen.xds.secret._builder import SECRET_TYPE, build_secrets, parse_resource_name, refusal

if TYPE_CHECKING:
    from lateen.model import PushContext, PushRequest
    from lateen.model._proxy import Proxy

__all__ = ["SecretGenerator"]


class SecretGenerator:
    type_url = SECRET_TYPE

    def needs_push(self, proxy: Proxy, request: PushRequest) -> bool:
        """Istio's ``sdsNeedsPush``: a push of everything, or one where a Secret changed.
        (A Gateway naming a new credential needs no push: Envoy asks for the new name.)"""
        if request.full and not request.config_updated:
            return True
        return "Secret" in request.kinds()

    def cache_key(self, proxy: Proxy, push: PushContext) -> Hashable | None:
        return (str(proxy.type), proxy.verified_identity)

    def generate(self, proxy: Proxy, push: PushContext) -> list[Resource]:
        return build_secrets(proxy, push)

    def refused(self, proxy: Proxy, names: Iterable[str]) -> list[tuple[str, str]]:
        """``(name, why)`` for each requested name the proxy may not read (for the server's
        log; the generator simply leaves them out)."""
        ns = proxy.verified_identity.namespace if proxy.verified_identity else proxy.namespace
        out = []
        for name in sorted(names):
            ref = parse_resource_name(name, ns)
            if ref is None:
                out.append((name, "not a kubernetes:// credential name"))
            elif (why := refusal(proxy, ref)) is not None:
                out.append((name, why))
        return out
