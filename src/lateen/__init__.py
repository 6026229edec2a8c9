"""Lateen: a service mesh with Istio's architecture and API, with real Envoy as its data plane."""

__all__ = ["__version__"]

__version__ = "0.1.0"
