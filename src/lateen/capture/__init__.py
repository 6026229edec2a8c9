"""Traffic capture: Istio's ``istio-iptables`` rules as data.

``build_rules(CaptureConfig) -> Ruleset`` is pure and golden-tested; ``render_restore`` turns a
ruleset into iptables-restore input; ``apply``/``clean`` install and remove the rules through a
``CommandRunner`` (``SubprocessRunner`` for real, ``lateen.testing.commands.FakeRunner`` in
tests); ``validate`` probes that the installed rules capture. ``config_from_annotations`` maps a pod's ``traffic.sidecar.istio.io/*`` annotations to
the config Istio's injector would pass to ``istio-init``.
"""

from lateen.capture._apply import (
    CaptureError,
    CommandResult,
    CommandRunner,
    IptablesTools,
    SubprocessRunner,
    apply,
    clean,
    detect_tools,
    ipv6_enabled,
)
from lateen.capture._config import (
    DNS_LISTENER_PORT,
    CaptureConfig,
    CaptureConfigError,
    config_from_annotations,
    parse_resolv_conf,
    split_list,
)
from lateen.capture._restore import (
    SavedTable,
    parse_save,
    render_apply,
    render_clean,
    render_restore,
    restore_failure,
)
from lateen.capture._rules import Family, Rule, Ruleset, build_rules
from lateen.capture._validate import PROBE_PORT, validate

__all__ = [
    "DNS_LISTENER_PORT",
    "PROBE_PORT",
    "CaptureConfig",
    "CaptureConfigError",
    "CaptureError",
    "CommandResult",
    "CommandRunner",
    "Family",
    "IptablesTools",
    "Rule",
    "Ruleset",
    "SavedTable",
    "SubprocessRunner",
    "apply",
    "build_rules",
    "clean",
    "config_from_annotations",
    "detect_tools",
    "ipv6_enabled",
    "parse_resolv_conf",
    "parse_save",
    "render_apply",
    "render_clean",
    "render_restore",
    "restore_failure",
    "split_list",
    "validate",
]
