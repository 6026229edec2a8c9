"""AuthorizationPolicy -> Envoy RBAC / ext_authz filters (pure). See ``_builder``."""

from lateen.xds.authz._builder import (
    DRY_RUN_ANNOTATION,
    RBAC_HTTP_FILTER,
    RBAC_TCP_FILTER,
    custom_http_filters,
    policy_name,
    rbac_http_filters,
    tcp_authz_filters,
)
from lateen.xds.authz._extauthz import (
    EXT_AUTHZ_HTTP_FILTER,
    EXT_AUTHZ_TCP_FILTER,
    ExtensionProviderError,
    build_ext_authz,
)
from lateen.xds.authz._matchers import re2_escape
from lateen.xds.authz._rules import HttpOnly, RuleContext, rule_policy

__all__ = [
    "DRY_RUN_ANNOTATION",
    "EXT_AUTHZ_HTTP_FILTER",
    "EXT_AUTHZ_TCP_FILTER",
    "RBAC_HTTP_FILTER",
    "RBAC_TCP_FILTER",
    "ExtensionProviderError",
    "HttpOnly",
    "RuleContext",
    "build_ext_authz",
    "custom_http_filters",
    "policy_name",
    "rbac_http_filters",
    "re2_escape",
    "rule_policy",
    "tcp_authz_filters",
]
