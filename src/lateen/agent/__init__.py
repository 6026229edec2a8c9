"""The node/pod agent (our pilot-agent): bootstrap, Envoy supervision, SDS, readiness."""

from lateen.agent._envoy_binary import EnvoyNotFound, envoy_binary

__all__ = ["EnvoyNotFound", "envoy_binary"]
