"""Run the analyzers over a set of objects, select the messages to show, and print them as
istioctl does (``log``, ``json`` or ``yaml``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import yaml

from lateen.analyze import _gateway, _virtualservice, _workloads
from lateen.analyze._context import Context
from lateen.analyze._lines import attach_lines
from lateen.analyze._messages import Level, Message, sorted_unique
from lateen.analyze._schema import schema_messages
from lateen.api import ConfigObject, LoadError, load_yaml

__all__ = [
    "ANALYZERS",
    "AnalysisResult",
    "Analyzer",
    "analyze",
    "analyze_documents",
    "render",
    "select",
]


@dataclass(frozen=True, slots=True)
class Analyzer:
    name: str  # Istio's analyzer name, as ``istioctl analyze -L`` lists it
    description: str
    run: Callable[[Context], None]


ANALYZERS: tuple[Analyzer, ...] = (
    Analyzer("destinationrule.CaCertificateAnalyzer",
             "TLS origination (SIMPLE/MUTUAL) without caCertificates to verify the server",
             _workloads.ca_certificates),
    Analyzer("destinationrule.SubsetSelectPodAnalyzer",
             "every subset of a DestinationRule selects pods, and its host is a known service",
             _workloads.subset_pods),
    Analyzer("gateway.ConflictingGatewayAnalyzer",
             "no two Gateways of one workload claim the same port and host",
             _gateway.conflicting_gateways),
    Analyzer("gateway.IngressGatewayPortAnalyzer",
             "a Gateway selects pods, and their Service exposes each of its ports",
             _gateway.ingress_gateway_ports),
    Analyzer("injection.Analyzer",
             "namespaces are labelled for sidecar injection",
             _workloads.injection),
    Analyzer("service.PortNameAnalyzer",
             "Service port names (or appProtocol) tell Istio the protocol",
             _workloads.port_names),
    Analyzer("sidecar.DefaultSelectorAnalyzer",
             "at most one Sidecar without workload selector per namespace",
             _workloads.sidecar_default_selector),
    Analyzer("sidecar.SelectorAnalyzer",
             "a Sidecar's workload selector matches pods, and no pod is selected twice",
             _workloads.sidecar_selector),
    Analyzer("virtualservice.ConflictingMeshGatewayHostsAnalyzer",
             "no two mesh VirtualServices for the same host",
             _virtualservice.conflicting_mesh_gateway_hosts),
    Analyzer("virtualservice.DestinationHostAnalyzer",
             "VirtualService destinations (and mirrors) are known hosts and ports",
             _virtualservice.destination_hosts),
    Analyzer("virtualservice.DestinationRuleAnalyzer",
             "VirtualService subsets are defined by a DestinationRule",
             _virtualservice.destination_rules),
    Analyzer("virtualservice.GatewayAnalyzer",
             "VirtualService gateways exist and serve the VirtualService's hosts",
             _virtualservice.gateways),
    Analyzer("virtualservice.UnreachableRulesAnalyzer",
             "every VirtualService rule and match can be reached",
             _virtualservice.unreachable_rules),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class AnalysisResult:
    messages: list[Message]  # sorted, without duplicates
    parse_errors: list[LoadError]  # input that is not an object (broken YAML, unknown kind)


def _messages(
    objects: Iterable[ConfigObject], load_errors: Iterable[LoadError], analyzers: Sequence[Analyzer]
) -> tuple[list[Message], list[LoadError]]:
    ctx = Context(objects)
    for a in analyzers:
        a.run(ctx)
    schema, unparsed = schema_messages(load_errors)
    return [*schema, *ctx.messages], unparsed


def analyze(
    objects: Iterable[ConfigObject],
    *,
    load_errors: Iterable[LoadError] = (),
    analyzers: Sequence[Analyzer] = ANALYZERS,
) -> AnalysisResult:
    """Every message about ``objects`` (the valid ones) and ``load_errors`` (what loading
    the input reported: rejected objects become IST0106, warnings IST0133). Pure."""
    messages, unparsed = _messages(objects, load_errors, analyzers)
    return AnalysisResult(sorted_unique(messages), unparsed)


def analyze_documents(
    documents: Sequence[Mapping[str, str]],
    base: Iterable[ConfigObject] = (),
    *,
    namespace: str = "default",
    analyzers: Sequence[Analyzer] = ANALYZERS,
) -> AnalysisResult:
    """Analyze ``documents`` (``{source, text}``: YAML files, objects without a namespace in
    ``namespace``) applied on top of ``base`` (the running mesh's objects): an object of the
    documents replaces the base object of the same kind, namespace and name. Messages about
    objects of the documents carry their file and line."""
    objects = {o.key: o for o in base}
    load_errors: list[LoadError] = []
    for d in documents:
        result = load_yaml(d.get("text", ""), d.get("source", ""), default_namespace=namespace)
        objects.update((o.key, o) for o in result.objects)
        load_errors.extend([*result.errors, *result.warnings])
    messages, unparsed = _messages(objects.values(), load_errors, analyzers)
    texts = {d.get("source", ""): d.get("text", "") for d in documents}
    return AnalysisResult(sorted_unique(attach_lines(messages, texts, namespace)), unparsed)


def select(
    messages: Iterable[Message],
    *,
    namespace: str | None = None,
    suppress: Sequence[tuple[str, str]] = (),
    threshold: Level = Level.INFO,
) -> list[Message]:
    """The messages about ``namespace`` (all when None; messages about cluster-wide objects
    always), not suppressed, at or above ``threshold``."""
    out = []
    for m in messages:
        if m.type.level < threshold or m.suppressed(suppress):
            continue
        scope = m.resource.scope if m.resource is not None else ""
        if namespace is not None and scope and scope != namespace:
            continue
        out.append(m)
    return out


def render(messages: Sequence[Message], output: str = "log", *, color: bool = False) -> str:
    """The messages as istioctl prints them: one line each (``log``), or a JSON (tab-indented)
    or YAML list of ``{code, documentationUrl, level, message, origin, reference}``."""
    if output == "json":
        return json.dumps([m.to_dict() for m in messages], indent="\t", sort_keys=True, ensure_ascii=False)
    if output == "yaml":
        data = [m.to_dict() for m in messages]
        text: str = yaml.safe_dump(data, sort_keys=True, allow_unicode=True, width=10_000)
        return text.removesuffix("\n")
    if output not in ("log", "text"):
        raise ValueError(f"unknown output format {output!r}")
    return "\n".join(m.render(color) for m in messages)
