"""Messages shared by several networking kinds, and the enum helper."""

from __future__ import annotations

from typing import Annotated, Any, get_args

from pydantic import BeforeValidator, Field

from lateen.api._base import IstioModel

__all__ = [
    "Int32",
    "Percent",
    "PortSelector",
    "TypeWorkloadSelector",
    "UInt32",
    "WorkloadSelector",
    "enum_ints",
]


UInt32 = Annotated[int, Field(ge=0, le=4294967295)]
"""A proto ``uint32`` (also ``google.protobuf.UInt32Value`` when optional)."""

Int32 = Annotated[int, Field(ge=-2147483648, le=2147483647)]
"""A proto ``int32``."""


def enum_ints(literal: Any) -> BeforeValidator:
    """Accept a proto enum by its number too (protobuf JSON does): ``0`` -> first name.

    ``literal`` is a ``Literal[...]`` whose names are in proto declaration order, numbered
    from 0 without gaps.
    """
    names = get_args(literal)

    def convert(value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
            return names[value]
        return value

    return BeforeValidator(convert)


class PortSelector(IstioModel):
    """Port of a destination service (``Destination.port``)."""

    number: UInt32 | None = None


class Percent(IstioModel):
    """A percentage 0.0..100.0."""

    value: float = 0.0


class WorkloadSelector(IstioModel):
    """The networking form of a workload selector (``labels``), used by Sidecar,
    ServiceEntry and EnvoyFilter."""

    labels: dict[str, str] = Field(default_factory=dict)


class TypeWorkloadSelector(IstioModel):
    """``istio.type.v1beta1.WorkloadSelector`` (``matchLabels``), used by DestinationRule
    and ProxyConfig."""

    match_labels: dict[str, str] = Field(default_factory=dict)
