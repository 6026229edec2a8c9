"""NDS: the name table the agent's DNS proxy answers from (Istio's ``NameTable`` over ADS).

The wire schema is :mod:`lateen.protos.nds`, which the agent reads the table with; importing this
package still loads protobuf only (the model is imported lazily)."""

from lateen.protos.nds import (
    NAME_TABLE_TYPE,
    REGISTRY_EXTERNAL,
    REGISTRY_KUBERNETES,
    NameInfo,
    name_table_class,
    name_table_from_message,
    name_table_message,
)
from lateen.xds.nds._builder import build_name_table
from lateen.xds.nds._generator import NDS_SKIPPED_KINDS, NameTableGenerator

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
