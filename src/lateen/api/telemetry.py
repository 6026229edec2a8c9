"""telemetry.istio.io: Telemetry (tracing, metrics, access logging per workload/namespace/mesh).

Model follows ``istio/api`` ``telemetry/v1alpha1/telemetry.proto``; the validator applies the
checks of Istio's ``ValidateTelemetry`` (and the CRD schema) at field paths.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field

from lateen.api._base import IstioModel, ValidationContext
from lateen.api._type import (
    PolicyTargetReference,
    WorkloadMode,
    WorkloadSelector,
    check_duration,
    validate_policy_scope,
)

__all__ = [
    "AccessLogging",
    "AccessLoggingFilter",
    "CustomTag",
    "Environment",
    "LogSelector",
    "MetricSelector",
    "Metrics",
    "MetricsOverrides",
    "ProviderRef",
    "RequestHeader",
    "TagOverride",
    "Telemetry",
    "Tracing",
    "TracingLiteral",
    "TracingSelector",
    "check_cel_syntax",
    "validate_telemetry",
]

IstioMetric = Literal[
    "ALL_METRICS",
    "REQUEST_COUNT",
    "REQUEST_DURATION",
    "REQUEST_SIZE",
    "RESPONSE_SIZE",
    "TCP_OPENED_CONNECTIONS",
    "TCP_CLOSED_CONNECTIONS",
    "TCP_SENT_BYTES",
    "TCP_RECEIVED_BYTES",
    "GRPC_REQUEST_MESSAGES",
    "GRPC_RESPONSE_MESSAGES",
]
TagOperation = Literal["UPSERT", "REMOVE"]


class ProviderRef(IstioModel):
    name: str = ""


class TracingSelector(IstioModel):
    mode: WorkloadMode = "CLIENT_AND_SERVER"


class TracingLiteral(IstioModel):
    """``Tracing.Literal`` (renamed: ``Literal`` is taken by typing): a fixed tag value."""

    value: str = ""


class Environment(IstioModel):
    """``Tracing.Environment``: a tag value read from a proxy environment variable."""

    name: str = ""
    default_value: str = ""


class RequestHeader(IstioModel):
    """``Tracing.RequestHeader``: a tag value read from a request header."""

    name: str = ""
    default_value: str = ""


class CustomTag(IstioModel):
    """``Tracing.CustomTag``: exactly one of literal, environment, header."""

    literal: TracingLiteral | None = None
    environment: Environment | None = None
    header: RequestHeader | None = None


class Tracing(IstioModel):
    match: TracingSelector | None = None
    providers: list[ProviderRef] = Field(default_factory=list)
    random_sampling_percentage: float | None = None
    disable_span_reporting: bool | None = None
    custom_tags: dict[str, CustomTag] = Field(default_factory=dict)
    use_request_id_for_trace_sampling: bool | None = None
    enable_istio_tags: bool | None = None


class MetricSelector(IstioModel):
    """One of a standard Istio ``metric`` or a ``customMetric`` name, plus the traffic mode."""

    metric: IstioMetric | None = None
    custom_metric: str | None = None
    mode: WorkloadMode = "CLIENT_AND_SERVER"


class TagOverride(IstioModel):
    """``MetricsOverrides.TagOverride``."""

    operation: TagOperation = "UPSERT"
    value: str = ""


class MetricsOverrides(IstioModel):
    match: MetricSelector | None = None
    disabled: bool | None = None
    tag_overrides: dict[str, TagOverride] = Field(default_factory=dict)


class Metrics(IstioModel):
    providers: list[ProviderRef] = Field(default_factory=list)
    overrides: list[MetricsOverrides] = Field(default_factory=list)
    reporting_interval: str | None = None


class LogSelector(IstioModel):
    """``AccessLogging.LogSelector``."""

    mode: WorkloadMode = "CLIENT_AND_SERVER"


class AccessLoggingFilter(IstioModel):
    """``AccessLogging.Filter``: a CEL expression selecting the requests to log."""

    expression: str = ""


class AccessLogging(IstioModel):
    match: LogSelector | None = None
    providers: list[ProviderRef] = Field(default_factory=list)
    disabled: bool | None = None
    filter: AccessLoggingFilter | None = None


class Telemetry(IstioModel):
    selector: WorkloadSelector | None = None
    target_ref: PolicyTargetReference | None = None
    target_refs: list[PolicyTargetReference] = Field(default_factory=list)
    tracing: list[Tracing] = Field(default_factory=list)
    metrics: list[Metrics] = Field(default_factory=list)
    access_logging: list[AccessLogging] = Field(default_factory=list)


# ----------------------------------------------------------------------------- CEL syntax check

_CEL_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>[rR]?[bB]?(?:\"\"\"(?:\\.|[^\\])*?\"\"\"|'''(?:\\.|[^\\])*?'''
                |"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'))
  | (?P<number>0[xX][0-9a-fA-F]+[uU]?|(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?[uU]?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\|\||&&|==|!=|<=|>=|[-+*/%!<>?:.,()\[\]{}])
    """,
    re.VERBOSE | re.DOTALL,
)


class _CelError(ValueError):
    pass


class _CelParser:
    """A recursive-descent recogniser for the CEL grammar (syntax only, no type checking),
    enough to reject what ``cel.Env.Parse`` rejects in access-log filters."""

    def __init__(self, text: str) -> None:
        self.toks: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            m = _CEL_TOKEN.match(text, pos)
            if m is None:
                raise _CelError(f"unexpected character {text[pos]!r} at offset {pos}")
            kind = m.lastgroup or ""
            if kind != "ws":
                self.toks.append((kind, m.group()))
            pos = m.end()
        self.i = 0

    def peek(self) -> str:
        return self.toks[self.i][1] if self.i < len(self.toks) else "<EOF>"

    def kind(self) -> str:
        return self.toks[self.i][0] if self.i < len(self.toks) else ""

    def take(self, want: str | None = None) -> str:
        tok = self.peek()
        if tok == "<EOF>" or (want is not None and tok != want):
            raise _CelError(f"mismatched input {tok!r} expecting {want or 'an expression'}")
        self.i += 1
        return tok

    def parse(self) -> None:
        self.expr()
        if self.i != len(self.toks):
            raise _CelError(f"extraneous input {self.peek()!r}")

    def expr(self) -> None:
        self.binary(0)
        if self.peek() == "?":
            self.take("?")
            self.expr()
            self.take(":")
            self.expr()

    _LEVELS: tuple[frozenset[str], ...] = (
        frozenset({"||"}),
        frozenset({"&&"}),
        frozenset({"==", "!=", "<", "<=", ">", ">=", "in"}),
        frozenset({"+", "-"}),
        frozenset({"*", "/", "%"}),
    )

    def binary(self, level: int) -> None:
        if level == len(self._LEVELS):
            self.unary()
            return
        self.binary(level + 1)
        while self.peek() in self._LEVELS[level]:
            self.i += 1
            self.binary(level + 1)

    def unary(self) -> None:
        while self.peek() in ("!", "-"):
            self.i += 1
        self.member()

    def args(self, close: str) -> None:
        if self.peek() != close:
            self.expr()
            while self.peek() == ",":
                self.take(",")
                if self.peek() == close:
                    break
                self.expr()
        self.take(close)

    def map_entries(self) -> None:
        if self.peek() != "}":
            while True:
                self.expr()
                self.take(":")
                self.expr()
                if self.peek() != ",":
                    break
                self.take(",")
                if self.peek() == "}":
                    break
        self.take("}")

    def member(self) -> None:
        self.primary()
        while True:
            tok = self.peek()
            if tok == ".":
                self.take(".")
                if self.kind() != "ident":
                    raise _CelError(f"mismatched input {self.peek()!r} expecting an identifier")
                self.i += 1
                if self.peek() == "(":
                    self.take("(")
                    self.args(")")
            elif tok == "[":
                self.take("[")
                self.expr()
                self.take("]")
            elif tok == "{":
                self.take("{")
                self.map_entries()
            else:
                return

    def primary(self) -> None:
        tok, kind = self.peek(), self.kind()
        if tok == ".":
            self.take(".")
            tok, kind = self.peek(), self.kind()
            if kind != "ident":
                raise _CelError(f"mismatched input {tok!r} expecting an identifier")
        if kind == "ident" and tok != "in":
            self.i += 1
            if self.peek() == "(":
                self.take("(")
                self.args(")")
        elif kind in ("string", "number"):
            self.i += 1
        elif tok == "(":
            self.take("(")
            self.expr()
            self.take(")")
        elif tok == "[":
            self.take("[")
            self.args("]")
        elif tok == "{":
            self.take("{")
            self.map_entries()
        else:
            raise _CelError(f"mismatched input {tok!r} expecting an expression")


def check_cel_syntax(expression: str) -> str | None:
    """None when ``expression`` is syntactically valid CEL, else the parse error."""
    try:
        _CelParser(expression).parse()
    except _CelError as e:
        return str(e)
    except RecursionError:
        return "expression is nested too deeply"
    return None


# ----------------------------------------------------------------------------- validation


def _validate_providers(providers: list[ProviderRef], path: str, ctx: ValidationContext) -> None:
    for k, p in enumerate(providers):
        if not p.name:
            ctx.error(f"{path}[{k}].name", "providers.name may not be empty")


def _validate_tracing(tracing: list[Tracing], ctx: ValidationContext) -> None:
    if len(tracing) > 1:
        ctx.warn("spec.tracing", "multiple tracing is not currently supported")
    for i, t in enumerate(tracing):
        path = f"spec.tracing[{i}]"
        if len(t.providers) > 1:
            ctx.warn(f"{path}.providers", "multiple providers is not currently supported")
        _validate_providers(t.providers, f"{path}.providers", ctx)
        pct = t.random_sampling_percentage
        if pct is not None and not 0.0 <= pct <= 100.0:
            ctx.error(
                f"{path}.randomSamplingPercentage",
                "randomSamplingPercentage must be in range [0.0, 100.0]",
            )
        for name, tag in t.custom_tags.items():
            tpath = f"{path}.customTags.{name}" if name else f"{path}.customTags"
            if not name:
                ctx.error(tpath, "tag name may not be empty")
            kinds = [k for k in ("literal", "environment", "header") if getattr(tag, k) is not None]
            if len(kinds) > 1:
                ctx.error(
                    tpath,
                    f"only one of literal, environment or header may be set (found {', '.join(kinds)})",
                )
            if tag.literal is not None and not tag.literal.value:
                ctx.error(f"{tpath}.literal.value", "literal tag value may not be empty")
            if tag.header is not None and not tag.header.name:
                ctx.error(f"{tpath}.header.name", "header tag name may not be empty")
            if tag.environment is not None and not tag.environment.name:
                ctx.error(f"{tpath}.environment.name", "environment tag name may not be empty")


def _validate_metrics(metrics: list[Metrics], ctx: ValidationContext) -> None:
    for i, m in enumerate(metrics):
        path = f"spec.metrics[{i}]"
        _validate_providers(m.providers, f"{path}.providers", ctx)
        if m.reporting_interval is not None:
            check_duration(m.reporting_interval, f"{path}.reportingInterval", ctx)
        for j, o in enumerate(m.overrides):
            opath = f"{path}.overrides[{j}]"
            for tag, to in o.tag_overrides.items():
                tpath = f"{opath}.tagOverrides.{tag}" if tag else f"{opath}.tagOverrides"
                if not tag:
                    ctx.warn(tpath, "tagOverrides.name may not be empty")
                if to.operation == "UPSERT" and not to.value:
                    ctx.error(
                        f"{tpath}.value", "tagOverrides.value must be set when operation is UPSERT"
                    )
                elif to.operation == "REMOVE" and to.value:
                    ctx.error(
                        f"{tpath}.value",
                        "tagOverrides.value may only be set when operation is UPSERT",
                    )
            sel = o.match
            if sel is not None:
                if sel.metric is not None and sel.custom_metric is not None:
                    ctx.error(f"{opath}.match", "only one of metric or customMetric may be set")
                if sel.custom_metric is not None and not sel.custom_metric:
                    ctx.error(f"{opath}.match.customMetric", "customMetric may not be empty")


def _validate_access_logging(logging: list[AccessLogging], ctx: ValidationContext) -> None:
    for i, a in enumerate(logging):
        path = f"spec.accessLogging[{i}]"
        if a.filter is not None:
            err = check_cel_syntax(a.filter.expression)
            if err:
                ctx.error(f"{path}.filter.expression", f"must be a valid CEL expression: {err}")
        _validate_providers(a.providers, f"{path}.providers", ctx)


def validate_telemetry(spec: Telemetry, ctx: ValidationContext) -> None:
    validate_policy_scope(
        ctx, selector=spec.selector, target_ref=spec.target_ref, target_refs=spec.target_refs
    )
    _validate_metrics(spec.metrics, ctx)
    _validate_tracing(spec.tracing, ctx)
    _validate_access_logging(spec.access_logging, ctx)
