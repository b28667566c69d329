"""W3C trace context for the execution chain: signal → intent → risk decision → order → fill.

Why it exists (roadmap 95): when an order is denied or fills badly, people need every log line and
event that led to it. One trace id is minted where the chain starts (the signal); each step opens
a child span (new span id, same trace id, parent = previous span). The current span lives in a
``contextvars.ContextVar`` so asyncio tasks inherit it; :func:`stamp` copies it onto pydantic
events that carry ``trace_id`` (the domain envelope does) and, where a model declares it, a
``traceparent`` field validated by :data:`Traceparent`; :class:`JsonTraceFormatter` puts it on
every structured log line.

Format (https://www.w3.org/TR/trace-context/): ``00-<32 hex trace id>-<16 hex span id>-<2 hex
flags>``; all-zero ids and version ``ff`` are invalid; a future version may append fields.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import secrets
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel

__all__ = [
    "JsonTraceFormatter",
    "TraceContext",
    "Traceparent",
    "current",
    "resume",
    "span",
    "stamp",
    "trace_fields",
]

_TP = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16


@dataclass(frozen=True, slots=True)
class TraceContext:
    """One span of a trace: ``trace_id`` is shared by the chain, ``span_id`` is this step's."""

    trace_id: str
    span_id: str
    parent_span_id: str | None = None
    sampled: bool = True
    name: str = ""

    @classmethod
    def new(cls, name: str = "root", sampled: bool = True) -> TraceContext:
        return cls(_rand_hex(16), _rand_hex(8), None, sampled, name)

    def child(self, name: str = "") -> TraceContext:
        return TraceContext(self.trace_id, _rand_hex(8), self.span_id, self.sampled, name)

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"

    @classmethod
    def parse(cls, header: str, name: str = "") -> TraceContext:
        """Parse a ``traceparent`` header; ``ValueError`` names what is wrong."""
        m = _TP.fullmatch(header.strip())
        if m is None:
            raise ValueError(f"traceparent {header!r}: expected 00-<32 hex>-<16 hex>-<2 hex>")
        version, trace_id, span_id, flags, rest = m.groups()
        if version == "ff":
            raise ValueError(f"traceparent {header!r}: version ff is invalid")
        if version == "00" and rest:
            raise ValueError(f"traceparent {header!r}: version 00 has exactly four fields")
        if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
            raise ValueError(f"traceparent {header!r}: all-zero trace or span id")
        return cls(trace_id, span_id, None, bool(int(flags, 16) & 1), name)


def _rand_hex(nbytes: int) -> str:
    while True:
        h = secrets.token_hex(nbytes)
        if h.strip("0"):
            return h


def _check_traceparent(v: str) -> str:
    TraceContext.parse(v)
    return v


Traceparent = Annotated[str, AfterValidator(_check_traceparent)]
"""A pydantic field type for models that carry a W3C ``traceparent``."""

_current: ContextVar[TraceContext | None] = ContextVar("quantops_trace", default=None)


def current() -> TraceContext | None:
    return _current.get()


@contextlib.contextmanager
def span(name: str, parent: TraceContext | str | None = None) -> Iterator[TraceContext]:
    """Open a child span of ``parent`` (a context or a traceparent header), else of the current
    span, else start a new trace; it is current inside the ``with`` block."""
    if isinstance(parent, str):
        parent = TraceContext.parse(parent)
    base = parent or _current.get()
    ctx = base.child(name) if base is not None else TraceContext.new(name)
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def resume(model: BaseModel, name: str = "") -> TraceContext:
    """The span to continue from an event received from elsewhere (its traceparent or trace id)."""
    tp = getattr(model, "traceparent", None)
    if isinstance(tp, str) and tp:
        return TraceContext.parse(tp, name)
    tid = getattr(model, "trace_id", None)
    if tid:
        return TraceContext(str(tid), _rand_hex(8), None, True, name)
    return TraceContext.new(name)


M = TypeVar("M", bound=BaseModel)


def stamp(model: M, ctx: TraceContext | None = None) -> M:
    """A copy of ``model`` with ``trace_id`` (and ``traceparent`` where declared) of the span."""
    ctx = ctx or _current.get()
    if ctx is None:
        return model
    fields = type(model).model_fields
    update: dict[str, Any] = {}
    if "trace_id" in fields:
        update["trace_id"] = _as_field(type(model), "trace_id", ctx.trace_id)
    if "traceparent" in fields:
        update["traceparent"] = ctx.traceparent
    return model.model_copy(update=update) if update else model


def _as_field(cls: type[BaseModel], name: str, value: str) -> Any:
    """Validate ``value`` against the declared field type (so a TraceId stays a TraceId)."""
    ann = cls.model_fields[name].annotation
    for t in getattr(ann, "__args__", (ann,)):
        if isinstance(t, type) and issubclass(t, str) and t is not str:
            return t(value)
    return value


def trace_fields(ctx: TraceContext | None = None) -> dict[str, str]:
    ctx = ctx or _current.get()
    if ctx is None:
        return {}
    out = {"trace_id": ctx.trace_id, "span_id": ctx.span_id, "traceparent": ctx.traceparent}
    if ctx.parent_span_id:
        out["parent_span_id"] = ctx.parent_span_id
    if ctx.name:
        out["span"] = ctx.name
    return out


class JsonTraceFormatter(logging.Formatter):
    """One JSON object per line with the current span's ids and any ``extra={"fields": {...}}``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created if record.created else time.time(), 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **trace_fields(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            out.update(extra)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)
