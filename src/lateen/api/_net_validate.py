"""Validation of the networking kinds (placeholder; rules follow)."""

from __future__ import annotations

from lateen.api._base import ValidationContext
from lateen.api._net_dr import DestinationRule
from lateen.api._net_ef import EnvoyFilter
from lateen.api._net_gw import Gateway
from lateen.api._net_pc import ProxyConfig
from lateen.api._net_se import ServiceEntry, WorkloadEntry, WorkloadGroup
from lateen.api._net_sidecar import Sidecar
from lateen.api._net_vs import VirtualService


def validate_virtual_service(spec: VirtualService, ctx: ValidationContext) -> None:
    pass


def validate_destination_rule(spec: DestinationRule, ctx: ValidationContext) -> None:
    pass


def validate_gateway(spec: Gateway, ctx: ValidationContext) -> None:
    pass


def validate_service_entry(spec: ServiceEntry, ctx: ValidationContext) -> None:
    pass


def validate_sidecar(spec: Sidecar, ctx: ValidationContext) -> None:
    pass


def validate_workload_entry(spec: WorkloadEntry, ctx: ValidationContext) -> None:
    pass


def validate_workload_group(spec: WorkloadGroup, ctx: ValidationContext) -> None:
    pass


def validate_envoy_filter(spec: EnvoyFilter, ctx: ValidationContext) -> None:
    pass


def validate_proxy_config(spec: ProxyConfig, ctx: ValidationContext) -> None:
    pass
