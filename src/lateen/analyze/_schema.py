"""Validation results as analysis messages: an object the API rejects is IST0106
(SchemaValidationError), a validation warning IST0133 (SchemaWarning). Problems that are not
about one object (broken YAML, an unknown kind) are parse errors, reported apart."""

from __future__ import annotations

from collections.abc import Iterable

from lateen.analyze import _codes as C
from lateen.analyze._context import file_source
from lateen.analyze._messages import Message, Resource
from lateen.api import LoadError, Severity, lookup

__all__ = ["schema_messages"]

# The rule-reachability warnings of validation are reported by the VirtualService analyzer
# as IST0130/IST0131 (with Istio's wording), not as schema warnings.
_RULE_WARNING = "virtualService rule "


def _resource(e: LoadError) -> Resource | None:
    if not e.kind or not e.name or e.path in ("kind", "apiVersion"):
        return None
    info = lookup(e.kind)
    if info is None or info.kind != e.kind:
        return None
    ns, sep, name = e.name.partition("/")
    if not sep:
        ns, name = "", e.name
    if not info.namespaced:
        ns = ""
    return Resource(e.kind, ns, name, file_source(e.source))


def schema_messages(errors: Iterable[LoadError]) -> tuple[list[Message], list[LoadError]]:
    """``(messages, parse errors)`` for the errors and warnings of loading the input."""
    messages: list[Message] = []
    unparsed: list[LoadError] = []
    for e in errors:
        r = _resource(e)
        if r is None:
            if e.severity is Severity.ERROR:
                unparsed.append(e)
            continue
        if e.severity is not Severity.ERROR and e.message.startswith(_RULE_WARNING):
            continue
        text = f"{e.path}: {e.message}" if e.path else e.message
        mtype = C.SCHEMA_VALIDATION_ERROR if e.severity is Severity.ERROR else C.SCHEMA_WARNING
        messages.append(Message(mtype, r, (text,), e.path))
    return messages, unparsed
