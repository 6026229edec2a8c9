"""Pure generators of Envoy resources, one package per xDS type."""

from lateen.xds._generator import Generator, Resource

__all__ = ["Generator", "Resource"]
