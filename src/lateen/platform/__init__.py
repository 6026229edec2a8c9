"""Wiring: which stores, registries and runtimes run, per platform."""

from lateen.platform._controlplane import ControlPlane, ControlPlaneOptions, push_request_for

__all__ = ["ControlPlane", "ControlPlaneOptions", "push_request_for"]
