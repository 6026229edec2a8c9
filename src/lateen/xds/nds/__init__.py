"""NDS: the name table the agent's DNS proxy answers from (Istio's ``NameTable`` over ADS).

Importing this package loads protobuf only (no control-plane model), so the agent can use
the wire schema too."""

from lateen.xds.nds._builder import build_name_table
from lateen.xds.nds._generator import NDS_SKIPPED_KINDS, NameTableGenerator
from lateen.xds.nds._proto import (
    NAME_TABLE_TYPE,
    REGISTRY_EXTERNAL,
    REGISTRY_KUBERNETES,
    NameInfo,
    name_table_class,
    name_table_from_message,
    name_table_message,
)

__all__ = [
    "NAME_TABLE_TYPE",
    "NDS_SKIPPED_KINDS",
    "REGISTRY_EXTERNAL",
    "REGISTRY_KUBERNETES",
    "NameInfo",
    "NameTableGenerator",
    "build_name_table",
    "name_table_class",
    "name_table_from_message",
    "name_table_message",
]
