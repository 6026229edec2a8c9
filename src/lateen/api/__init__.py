"""Istio config kinds as typed models, the kind table, and validation with field paths."""

from lateen.api._base import Diagnostic, IstioModel, Severity, ValidationContext, parse_duration
from lateen.api._dump import object_to_dict
from lateen.api._load import LoadError, LoadResult, load_yaml, parse_object
from lateen.api._object import ConfigKey, ConfigObject, GroupKind, ObjectMeta
from lateen.api.kinds import KindInfo, by_api_version, by_group_kind, lookup

__all__ = [
    "ConfigKey",
    "ConfigObject",
    "Diagnostic",
    "GroupKind",
    "IstioModel",
    "KindInfo",
    "LoadError",
    "LoadResult",
    "ObjectMeta",
    "Severity",
    "ValidationContext",
    "by_api_version",
    "by_group_kind",
    "load_yaml",
    "lookup",
    "object_to_dict",
    "parse_duration",
    "parse_object",
]
