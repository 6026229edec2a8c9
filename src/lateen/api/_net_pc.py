"""ProxyConfig (istio/api networking/v1beta1/proxy_config.proto)."""

from __future__ import annotations

from pydantic import Field

from lateen.api._base import IstioModel
from lateen.api._net_common import Int32, TypeWorkloadSelector

__all__ = ["ProxyConfig", "ProxyImage"]


class ProxyImage(IstioModel):
    image_type: str = ""


class ProxyConfig(IstioModel):
    selector: TypeWorkloadSelector | None = None
    concurrency: Int32 | None = None
    environment_variables: dict[str, str] = Field(default_factory=dict)
    image: ProxyImage | None = None
