"""Config stores: in memory and a watched directory of YAML files; change events."""

from lateen.config._directory import DirectoryStore, is_config_file
from lateen.config._store import (
    ChangeHandler,
    ConfigEvent,
    ConfigStore,
    EventType,
    MemoryStore,
    diff_snapshots,
)

__all__ = [
    "ChangeHandler",
    "ConfigEvent",
    "ConfigStore",
    "DirectoryStore",
    "EventType",
    "MemoryStore",
    "diff_snapshots",
    "is_config_file",
]
