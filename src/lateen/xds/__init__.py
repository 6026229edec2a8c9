"""Pure generators of Envoy resources, one package per xDS type."""

from lateen.xds._generator import Generator, Resource

__all__ = ["Generator", "Resource", "default_generators"]


def default_generators() -> dict[str, Generator]:
    """CDS, EDS, LDS and RDS generators with their default configurers, SDS (gateway
    credentials) and NDS (the agent's name table), by type URL."""
    from lateen.xds.cluster import ClusterGenerator
    from lateen.xds.endpoint import EndpointGenerator
    from lateen.xds.listener import ListenerGenerator
    from lateen.xds.nds import NameTableGenerator
    from lateen.xds.route import RouteGenerator
    from lateen.xds.secret import SecretGenerator

    gens: list[Generator] = [
        ClusterGenerator(),
        EndpointGenerator(),
        ListenerGenerator(),
        RouteGenerator(),
        SecretGenerator(),
        NameTableGenerator(),
    ]
    return {g.type_url: g for g in gens}
