"""``lateen analyze``: Istio's ``istioctl analyze`` for Lateen. Pure analyzers over a set of
config objects (Istio config, Services, Namespaces, Pods and Deployments) that report the
common mistakes with Istio's message codes (``IST0101`` ...), levels and wording."""

from lateen.analyze._analyze import (
    ANALYZERS,
    AnalysisResult,
    Analyzer,
    analyze,
    analyze_documents,
    render,
    select,
)
from lateen.analyze._codes import ALL_TYPES, by_code
from lateen.analyze._context import Context, Workload
from lateen.analyze._lines import attach_lines
from lateen.analyze._messages import DOC_URL, Level, Message, MessageType, Resource

__all__ = [
    "ALL_TYPES",
    "ANALYZERS",
    "DOC_URL",
    "AnalysisResult",
    "Analyzer",
    "Context",
    "Level",
    "Message",
    "MessageType",
    "Resource",
    "Workload",
    "analyze",
    "analyze_documents",
    "attach_lines",
    "by_code",
    "render",
    "select",
]
