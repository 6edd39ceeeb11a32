"""Spans for the invocations a worker handles, sent to the engine's ``/otel`` socket.

Theory of operation
-------------------
When tracing is on, each handled invocation runs inside an OpenTelemetry span named
``execute <function_id>`` (kind SERVER, attributes ``function_id`` and ``invocation_id``),
a child of the call's incoming ``traceparent``. The handler's :class:`~workers.sdk.Context`
carries the span's own ``traceparent``, so the calls it makes are children of it, and the span
is the current OpenTelemetry span while the handler runs (``trace.get_current_span()`` works
in user code). A raised error sets the span's status to ERROR.

Ended spans go to an ``opentelemetry-sdk`` ``BatchSpanProcessor`` (bounded queue of
:data:`MAX_QUEUE` spans: when full, new spans are dropped, the worker never waits), whose own
thread hands batches every :data:`FLUSH_MS` to :class:`OtelSocketExporter`. The exporter writes
each batch as one binary frame ``b"OTLP" + <OTLP/JSON>`` (hex ids, as iii's SDKs send them)
over a second, synchronous WebSocket to ``<engine>/otel``, from that thread only. If the engine
is unreachable it drops batches and retries the connection after a backoff (1 s doubling to
30 s), so telemetry never blocks or slows the event loop of the worker.

**Opt-in.** Tracing is off unless ``AGENTOS_TRACING=1`` (or ``connect(tracing=True)``), and
``OTEL_ENABLED=false`` turns it off whatever else says. The reason is cost: creating and ending
one ``opentelemetry-sdk`` span takes about 30 µs of CPU, more than a handler's whole per-call
cost under load; measured with ``bench/invoke.py`` (64 in flight), tracing every call took the
callee from ~20 to ~110 µs of CPU per call and throughput from ~16k to ~5k calls/s. Off, the
handler path pays one attribute test per invocation.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar
from urllib.parse import urlsplit, urlunsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)
from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from .options import TRACING_ENV, tracing_enabled

__all__ = ["Tracer", "TracedCall", "OtelSocketExporter", "ExporterStatistics", "encode_spans", "otel_url",
           "tracing_enabled", "TRACING_ENV", "FLUSH_MS", "MAX_QUEUE"]

log = logging.getLogger(__name__)

T = TypeVar("T")

FLUSH_MS = 100
"""How long an ended span may wait before its batch is sent (iii's SDKs use the same)."""
MAX_QUEUE = 2048
"""Ended spans waiting for export; past it new spans are dropped."""


def otel_url(url: str) -> str:
    """The engine's telemetry socket for a worker URL (``ws://h:p`` → ``ws://h:p/otel``)."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path if path.endswith("/otel") else f"{path}/otel",
                       parts.query, parts.fragment))


# -- encoding ----------------------------------------------------------------------------------


def _any_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, list | tuple):
        return {"arrayValue": {"values": [_any_value(v) for v in value]}}
    return {"stringValue": str(value)}


def _attributes(attrs: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return [{"key": k, "value": _any_value(v)} for k, v in (attrs or {}).items()]


def encode_spans(spans: Sequence[ReadableSpan]) -> bytes:
    """OTLP/JSON (``ExportTraceServiceRequest``) of ``spans``, with lower-case hex ids.

    Spans are grouped by resource and instrumentation scope, as an OTLP exporter does.
    """
    groups: dict[int, tuple[Any, dict[tuple[str, str], list[dict[str, Any]]]]] = {}
    for span in spans:
        ctx = span.context
        if ctx is None:
            continue
        scope = span.instrumentation_scope
        scope_key = (scope.name, scope.version or "") if scope is not None else ("", "")
        _, scopes = groups.setdefault(id(span.resource), (span.resource, {}))
        item: dict[str, Any] = {
            "traceId": format(ctx.trace_id, "032x"), "spanId": format(ctx.span_id, "016x"),
            "name": span.name, "kind": span.kind.value + 1,  # the API counts from INTERNAL=0
            "startTimeUnixNano": str(span.start_time or 0), "endTimeUnixNano": str(span.end_time or 0),
            "attributes": _attributes(span.attributes),
            "events": [{"name": e.name, "timeUnixNano": str(e.timestamp), "attributes": _attributes(e.attributes)}
                       for e in span.events],
            "status": {"code": span.status.status_code.value, "message": span.status.description or ""},
        }
        if span.parent is not None:
            item["parentSpanId"] = format(span.parent.span_id, "016x")
        scopes.setdefault(scope_key, []).append(item)
    doc = {"resourceSpans": [
        {"resource": {"attributes": _attributes(resource.attributes)},
         "scopeSpans": [{"scope": {"name": name, "version": version}, "spans": items}
                        for (name, version), items in scopes.items()]}
        for resource, scopes in groups.values()]}
    return b"OTLP" + json.dumps(doc, separators=(",", ":"), default=str).encode()


# -- the exporter ---------------------------------------------------------------------------------


class ExporterStatistics(NamedTuple):
    frames: int
    """Frames written to the engine."""
    spans: int
    """Spans in those frames."""
    dropped: int
    """Spans dropped because the engine was unreachable (or backing off)."""
    connects: int
    failed_connects: int
    """Connection attempts that failed (none are made while backing off)."""


class OtelSocketExporter(SpanExporter):
    """A ``SpanExporter`` writing ``b"OTLP" + json`` frames to ``<engine>/otel``.

    It runs in the span processor's thread and blocks only that thread (connect bounded by
    ``timeout``). While the engine is unreachable, batches are dropped and the connection is
    retried after 1 s, doubling up to 30 s.

    Args:
        url: the engine's worker URL (``/otel`` is appended).
        token: sent as ``Authorization: Bearer <token>``.
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.url = otel_url(url)
        self._headers = {"Authorization": f"Bearer {token}"} if token else None
        self._timeout, self._clock = timeout, clock
        self._ws: ClientConnection | None = None
        self._retry_at = 0.0
        self._delay = 1.0
        self._frames = self._spans = self._dropped = self._connects = self._failed = 0

    def statistics(self) -> ExporterStatistics:
        return ExporterStatistics(self._frames, self._spans, self._dropped, self._connects, self._failed)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Send one batch; never raises (a failure drops the batch and schedules a retry)."""
        frame = encode_spans(spans)
        ws = self._ws or self._connect()
        if ws is None:
            self._dropped += len(spans)
            return SpanExportResult.FAILURE
        try:
            ws.send(frame)
        except (OSError, WebSocketException) as exc:
            log.info("telemetry socket %s lost (%s); %d span(s) dropped", self.url, exc, len(spans))
            self._close()
            self._back_off()
            self._dropped += len(spans)
            return SpanExportResult.FAILURE
        self._frames += 1
        self._spans += len(spans)
        return SpanExportResult.SUCCESS

    def _connect(self) -> ClientConnection | None:
        if self._clock() < self._retry_at:
            return None
        try:
            # Entered as a context manager (closed by _close), as websockets >= 17.1 asks.
            self._ws = ws_connect(self.url, additional_headers=self._headers, open_timeout=self._timeout,
                                  close_timeout=self._timeout, compression=None).__enter__()
        except (OSError, TimeoutError, WebSocketException) as exc:
            log.info("telemetry socket %s unreachable (%s); retrying in %.0fs", self.url, exc, self._delay)
            self._failed += 1
            self._back_off()
            return None
        self._connects += 1
        self._delay = 1.0
        return self._ws

    def _back_off(self) -> None:
        self._retry_at = self._clock() + self._delay
        self._delay = min(self._delay * 2, 30.0)

    def _close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            ws.close()

    def shutdown(self) -> None:
        self._close()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


# -- the tracer of a connection ----------------------------------------------------------------------


def _parent(traceparent: str | None) -> otel_context.Context | None:
    """The remote parent named by a W3C ``traceparent``, as an OpenTelemetry context."""
    parts = traceparent.split("-") if traceparent else ()
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    try:
        ctx = SpanContext(int(parts[1], 16), int(parts[2], 16), is_remote=True,
                          trace_flags=TraceFlags(int(parts[3][:2], 16) & 1))
    except ValueError:
        return None
    return trace.set_span_in_context(NonRecordingSpan(ctx)) if ctx.is_valid else None


class TracedCall:
    """The span of one handled invocation, from :meth:`Tracer.start` to :meth:`finish`."""

    __slots__ = ("span", "traceparent")

    def __init__(self, span: Span) -> None:
        self.span = span
        ctx = span.get_span_context()
        self.traceparent = f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"
        """What the handler's own calls carry: they become children of this span."""

    async def within(self, work: Coroutine[Any, Any, T]) -> T:
        """Await ``work`` with this span as the current OpenTelemetry span."""
        token = otel_context.attach(trace.set_span_in_context(self.span))
        try:
            return await work
        finally:
            otel_context.detach(token)

    def finish(self, error: str | None = None) -> None:
        """End the span; ``error`` (the failure's message) sets its status to ERROR."""
        if error is not None:
            self.span.set_status(Status(StatusCode.ERROR, error))
        self.span.end()


class Tracer:
    """The spans of one connection's handlers (see the module docstring).

    Args:
        url: the engine's worker URL; token: its Bearer token.
        service_name: ``service.name`` of the spans (default ``OTEL_SERVICE_NAME``, else "agentos-worker").
        exporter: where batches go (default an :class:`OtelSocketExporter` to ``url``).
    """

    def __init__(self, url: str, token: str | None = None, *, service_name: str | None = None,
                 exporter: SpanExporter | None = None, flush_ms: int = FLUSH_MS) -> None:
        name = service_name or os.environ.get("OTEL_SERVICE_NAME") or "agentos-worker"
        self.exporter = exporter or OtelSocketExporter(url, token)
        self.provider = TracerProvider(shutdown_on_exit=False, resource=Resource.create({"service.name": name,
                                                                 "telemetry.sdk.name": "agentos"}))
        self.provider.add_span_processor(BatchSpanProcessor(
            self.exporter, max_queue_size=MAX_QUEUE, schedule_delay_millis=flush_ms, max_export_batch_size=512))
        self._tracer = self.provider.get_tracer("workers.sdk")

    def start(self, function_id: str, invocation_id: str | None, traceparent: str | None) -> TracedCall:
        """Open the span of one invocation, a child of the call's ``traceparent``."""
        attributes = {"function_id": function_id}
        if invocation_id is not None:
            attributes["invocation_id"] = invocation_id
        return TracedCall(self._tracer.start_span(f"execute {function_id}", context=_parent(traceparent),
                                                  kind=SpanKind.SERVER, attributes=attributes))

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Export every ended span now (blocking: call it from a thread in async code)."""
        return self.provider.force_flush(int(timeout_s * 1000))

    def shutdown(self) -> None:
        """Flush and stop the export thread (blocking: call it from a thread in async code)."""
        self.provider.shutdown()
