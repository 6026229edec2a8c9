"""EDS: ClusterLoadAssignments for a proxy's EDS clusters."""

from lateen.xds.endpoint._builder import build_endpoints, load_assignment
from lateen.xds.endpoint._generator import EndpointGenerator

__all__ = ["EndpointGenerator", "build_endpoints", "load_assignment"]
