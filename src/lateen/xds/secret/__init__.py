"""SDS: gateway credentials (``credentialName``) served by the control plane over ADS."""

from lateen.xds.secret._builder import (
    BUILTIN_PREFIX,
    KUBERNETES_PREFIX,
    SECRET_TYPE,
    SecretRef,
    build_secrets,
    credential_sds_config,
    parse_resource_name,
    refusal,
    sds_resource_name,
)
from lateen.xds.secret._generator import SecretGenerator

__all__ = [
    "BUILTIN_PREFIX",
    "KUBERNETES_PREFIX",
    "SECRET_TYPE",
    "SecretGenerator",
    "SecretRef",
    "build_secrets",
    "credential_sds_config",
    "parse_resource_name",
    "refusal",
    "sds_resource_name",
]
