"""``iii-observability``: logs, traces and metrics kept in memory, as iii's mandatory module.

Theory of operation
-------------------
Telemetry reaches the module two ways:

* **``/otel`` frames** from SDKs (``b"OTLP"``/``b"LOGS"``/``b"MTRC"`` + OTLP/JSON): the bus
  listener hands them to :meth:`ObservabilityModule.receive_nowait`, which queues them in
  :class:`~engine.modules.observability_ingest.TelemetryIngest` (bounded, hostile input
  dropped and counted); its task decodes them and calls :meth:`ObservabilityModule.store_batch`.
* **``engine::log::{trace,debug,info,warn,error}``** ``{message, data?, trace_id?, span_id?,
  service_name?}``: a log record is built at once. Without ``trace_id``/``span_id`` the call's
  own ``traceparent`` correlates it; without ``service_name`` the calling worker's name is used.

Stored records land in three bounded rings (:mod:`engine.modules.observability_store`): spans
(``memory_max_spans``/``memory_max_bytes``, sampled per trace with ``sampling_ratio``), logs
(``logs_max_count``/``logs_max_bytes``, ``logs_retention_seconds``, ``logs_sampling_ratio``) and
SDK metric points (``metrics_max_count``/``metrics_max_bytes``, ``metrics_retention_seconds``).
Every stored log record is offered to the ``log`` trigger type, every span to ``trace``
(:mod:`engine.modules.observability_triggers`).

Reading: ``engine::traces::{list,tree,clear}``, ``engine::logs::{list,clear}``,
``engine::metrics::list`` (SDK points plus the engine's own counters: connected workers,
functions, triggers, pending calls, and invocations per function as the SDKs' ``execute``
spans report them, so nothing is counted on the router's hot path),
``engine::sampling::rules`` and ``engine::baggage::{get,get_all,set}`` (the call's W3C baggage;
``set`` is local, as in iii). The module also answers ``engine::health::check``: the
built-in's answer plus the modules that are up and the telemetry components; the built-in is
restored when the module stops.

Realms are structural: each record carries the realm of the credential that sent it, a
realm-bound reader lists and clears only its realm's records, and a binding made in a realm is
only delivered that realm's records. Listing needs the ``worker`` role; logging, baggage and
health are open to clients.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import anyio

from ..config import ObservabilityModuleConfig
from ..errors import InvalidArguments
from ..registry import DEFAULT_NAMESPACE
from ..types import Call
from .observability_ingest import TelemetryIngest
from .observability_otlp import Batch, ValueReader
from .observability_records import (
    LEVEL_SEVERITY,
    LogRecord,
    MetricPoint,
    RecordLimits,
    SpanRecord,
    visible,
)
from .observability_store import (
    FunctionStats,
    LogQuery,
    MetricQuery,
    Ring,
    SpanQuery,
    SpanStore,
    count_function,
)
from .observability_tree import build_tree
from .observability_triggers import Deliveries, LogTriggers, TraceTriggers
from .pubsub import unregister_locals

if TYPE_CHECKING:
    from ..node import Node

__all__ = ["ObservabilityModule", "HEALTH_FUNCTION"]

log = logging.getLogger(__name__)
worker_log = logging.getLogger("agentos.logs")
"""Where stored log records go when ``logs_console_output`` is on."""

HEALTH_FUNCTION = "engine::health::check"
_PY_LEVELS = {"trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO,
              "warn": logging.WARNING, "error": logging.ERROR, "fatal": logging.CRITICAL}
_LOG_FORMAT = {"type": "object", "required": ["message"], "properties": {
    "message": {"type": "string"}, "data": {}, "trace_id": {"type": "string"},
    "span_id": {"type": "string"}, "service_name": {"type": "string"}}}
_ID_CHARS = 128


def _obj(data: Any) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidArguments(f"expected an object payload, got {type(data).__name__}")
    return data


def _now_ms(now_ns: int) -> int:
    return now_ns // 1_000_000


def trace_of(traceparent: str | None) -> tuple[str | None, str | None]:
    """``(trace_id, span_id)`` of a W3C ``traceparent`` (``00-<32 hex>-<16 hex>-<2 hex>``)."""
    parts = traceparent.split("-") if traceparent else ()
    if len(parts) == 4 and len(parts[1]) == 32 and len(parts[2]) == 16:
        return parts[1].lower(), parts[2].lower()
    return None, None


def baggage_entries(header: str | None) -> dict[str, str]:
    """The entries of a W3C ``baggage`` header, values percent-decoded, properties dropped."""
    out: dict[str, str] = {}
    for item in (header or "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            out[key.strip()] = unquote(value.split(";", 1)[0].strip())
    return out


class ObservabilityModule:
    """The ``engine::log/logs/traces/metrics/baggage::*`` functions, the ``log`` and ``trace``
    trigger types and the ``/otel`` intake; ``async with`` starts them.

    Args:
        node: the node (its router, and its modules for the health answer).
        config: the typed module config.
        clock: nanoseconds since the epoch (injectable for tests).
    """

    def __init__(self, node: Node, config: ObservabilityModuleConfig | None = None, *,
                 clock: Callable[[], int] = time.time_ns) -> None:
        self.node, self.router = node, node.router
        self.config = c = config or ObservabilityModuleConfig()
        self.clock = clock
        self.limits = RecordLimits(max_value_chars=c.max_value_chars)
        self.spans = SpanStore(c.memory_max_spans, c.memory_max_bytes)
        self.logs: Ring[LogRecord] = Ring(c.logs_max_count, c.logs_max_bytes)
        self.metrics: Ring[MetricPoint] = Ring(c.metrics_max_count, c.metrics_max_bytes)
        self.ingest = TelemetryIngest(self.store_batch, self.limits, max_frame_bytes=c.max_frame_bytes,
                                      max_pending_bytes=c.max_pending_bytes)
        self.deliveries = Deliveries(self.router)
        self.log_triggers = LogTriggers(self.deliveries)
        self.trace_triggers = TraceTriggers(self.deliveries)
        self.sampled_out = 0
        self._log_credit = 0.0
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> ObservabilityModule:
        stack = self._stack
        await stack.__aenter__()
        try:
            tg = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(tg.cancel_scope.cancel)
            await tg.start(self.ingest.run)
            await tg.start(self.deliveries.run)
            ids = self._register()
            stack.callback(unregister_locals, self.router, ids, "trace")
            stack.callback(unregister_locals, self.router, (), "log")
            await self.router.register_local_type("log", self.log_triggers, "Every stored log record (config {level?})")
            await self.router.register_local_type("trace", self.trace_triggers,
                                                  "Every stored span (config {service_name?, name?, status?})")
            self._take_over_health(stack)
            if self.config.alerts:
                log.warning("iii-observability: %d alert rule(s) configured; alerts are not evaluated "
                            "by this engine", len(self.config.alerts))
        except BaseException:
            await stack.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc: Any) -> bool | None:
        return await self._stack.__aexit__(*exc)

    def _register(self) -> tuple[str, ...]:
        """Register the module's functions; returns their ids (for unregistering)."""
        table: list[tuple[str, Any, str, str]] = [  # (id, handler, min_role, description)
            (f"engine::log::{level}", self._logger(level), "client",
             f"Store a {level} log record {{message, data?, trace_id?, span_id?, service_name?}}")
            for level in LEVEL_SEVERITY if level != "fatal"
        ]
        table += [
            ("engine::logs::list", self.logs_list, "worker", "List stored log records (level, severity_min, "
             "severity_text, trace_id, span_id, service, since, end_time, order, offset, limit)"),
            ("engine::logs::clear", self.logs_clear, "worker", "Remove the stored log records the caller sees"),
            ("engine::traces::list", self.traces_list, "worker", "List stored spans (trace_id, service, name, "
             "status, min/max_duration_ms, start/end_time, attributes, sort_by, sort_order, offset, limit)"),
            ("engine::traces::tree", self.traces_tree, "worker", "The parent/child span tree of one trace "
             "{trace_id} as {roots}"),
            ("engine::traces::clear", self.traces_clear, "worker", "Remove the stored spans the caller sees"),
            ("engine::metrics::list", self.metrics_list, "worker", "Engine counters and the metric points SDKs "
             "sent (metric_name, service, start_time, end_time, limit)"),
            ("engine::sampling::rules", self.sampling_rules, "worker", "The sampling in effect"),
            ("engine::baggage::get", self.baggage_get, "client", "One entry {key} of the call's W3C baggage"),
            ("engine::baggage::get_all", self.baggage_get_all, "client", "Every entry of the call's W3C baggage"),
            ("engine::baggage::set", self.baggage_set, "client", "Accepted locally; baggage does not flow back "
             "to the caller"),
        ]
        for function_id, handler, min_role, description in table:
            request_format = _LOG_FORMAT if function_id.startswith("engine::log::") else None
            self.router.register_local(function_id, handler, description=description, min_role=min_role,
                                       request_format=request_format)
        return tuple(row[0] for row in table)

    def _take_over_health(self, stack: AsyncExitStack) -> None:
        registry = self.router.registry
        previous = registry.functions.get((DEFAULT_NAMESPACE, HEALTH_FUNCTION))
        base = previous.handler if previous is not None else None

        async def health(data: Any, call: Call) -> dict[str, Any]:
            answer = dict(await base(data, call)) if base is not None else {"status": "ok"}
            return self._health(answer, call)

        self.router.register_local(HEALTH_FUNCTION, health, description="Liveness, counters, modules up, telemetry components")
        mine = registry.functions[(DEFAULT_NAMESPACE, HEALTH_FUNCTION)]

        def restore() -> None:
            if registry.functions.get((DEFAULT_NAMESPACE, HEALTH_FUNCTION)) is mine:
                if previous is not None:
                    registry.add_function(previous)
                else:
                    del registry.functions[(DEFAULT_NAMESPACE, HEALTH_FUNCTION)]

        stack.callback(restore)

    # -- intake ----------------------------------------------------------------------------

    def receive_nowait(self, frames: list[str | bytes], realm: str | None = None) -> None:
        """The ``/otel`` socket's messages (the listener's ``TelemetrySink``); never raises."""
        self.ingest.receive_nowait(frames, realm)

    def store_batch(self, batch: Batch) -> None:
        """Store what one decoded ``/otel`` frame held (spans, logs or metric points)."""
        now = self.clock()
        for span in batch.spans:
            self.add_span_nowait(span, now)
        for record in batch.logs:
            self.add_log_nowait(record, now)
        if batch.metrics and self.config.metrics_enabled:
            self.metrics.expire_nowait(now - self.config.metrics_retention_seconds * 1_000_000_000)
            for point in batch.metrics:
                point.seen_ns = now
                self.metrics.add_nowait(point)

    def add_span_nowait(self, span: SpanRecord, now: int) -> None:
        """Store a span if its trace is sampled in, and offer it to ``trace`` bindings."""
        if int(span.trace_id[16:], 16) >= self.config.sampling_ratio * 2**64:
            self.sampled_out += 1
            return
        span.seen_ns = now
        self.spans.add_nowait(span)
        self.trace_triggers.fire_nowait(span)

    def add_log_nowait(self, record: LogRecord, now: int) -> None:
        """Store a log record (after ``logs_sampling_ratio``), echo it to the console if asked,
        and offer it to ``log`` bindings."""
        config = self.config
        if not config.logs_enabled:
            return
        ratio = config.logs_sampling_ratio
        if ratio < 1.0:
            if record.trace_id is not None and len(record.trace_id) == 32:
                keep = int(record.trace_id[16:], 16) < ratio * 2**64
            else:  # no trace to decide by: keep that share of records, deterministically
                self._log_credit += ratio
                keep = self._log_credit >= 1.0
                self._log_credit -= keep
            if not keep:
                self.sampled_out += 1
                return
        record.seen_ns = now
        self.logs.expire_nowait(now - config.logs_retention_seconds * 1_000_000_000)
        self.logs.add_nowait(record)
        if config.logs_console_output:
            worker_log.log(_PY_LEVELS[record.level], "[%s] %s", record.service_name, record.body)
        self.log_triggers.fire_nowait(record)

    # -- engine::log::* ---------------------------------------------------------------------

    def _logger(self, level: str) -> Callable[[Any, Call], Any]:
        severity = LEVEL_SEVERITY[level]

        async def write(data: Any, call: Call) -> None:
            self.log_nowait(level, severity, _obj(data), call)

        return write

    def log_nowait(self, level: str, severity: int, args: dict[str, Any], call: Call) -> LogRecord:
        """Build and store the record of one ``engine::log::<level>`` call.

        Raises:
            InvalidArguments: ``message`` is not a string, or an id/service is not a string.
        """
        message = args.get("message")
        if not isinstance(message, str):
            raise InvalidArguments("'message' must be a string")
        given: dict[str, str | None] = {}
        for key in ("trace_id", "span_id", "service_name"):
            value = args.get(key)
            if value is not None and (not isinstance(value, str) or not value):
                raise InvalidArguments(f"'{key}' must be a non-empty string")
            given[key] = value[:_ID_CHARS] if value else None
        trace_id, span_id = trace_of(call.traceparent)
        if given["trace_id"]:
            trace_id = given["trace_id"].lower()
        if given["span_id"]:
            span_id = given["span_id"].lower()
        reader = ValueReader(self.limits)
        data = args.get("data")
        attributes = reader.plain(data) if isinstance(data, dict) else ({"data": reader.plain(data)} if data is not None else {})
        now = self.clock()
        record = LogRecord(
            timestamp_ns=now, observed_ns=now, severity_number=severity, severity_text=level.upper(),
            body=reader.text(message), attributes=attributes,
            trace_id=trace_id, span_id=span_id,
            service_name=given["service_name"] or self._caller_name(call) or self.config.service_name,
            scope="engine::log", realm=call.realm,
        )
        record.size = reader.take_size()
        self.add_log_nowait(record, now)
        return record

    def _caller_name(self, call: Call) -> str | None:
        session = self.router.sessions.get(call.caller_worker_id) if call.caller_worker_id else None
        return session.name if session is not None and session.name else None

    # -- reading -----------------------------------------------------------------------------

    @staticmethod
    def _reader(call: Call) -> Callable[[str | None], bool]:
        system = call.role == "system"
        return lambda realm: visible(realm, call.realm, system)

    async def logs_list(self, data: Any, call: Call) -> dict[str, Any]:
        query, can_see, now = LogQuery.parse(_obj(data)), self._reader(call), self.clock()
        self.logs.expire_nowait(now - self.config.logs_retention_seconds * 1_000_000_000)
        total, page = query.run(r for r in self.logs if can_see(r.realm))
        return {"logs": [r.to_json() for r in page], "total": total, "timestamp": _now_ms(now)}

    async def logs_clear(self, data: Any, call: Call) -> dict[str, Any]:
        can_see = self._reader(call)
        return {"success": True, "removed": self.logs.remove_nowait(lambda r: can_see(r.realm))}

    async def traces_list(self, data: Any, call: Call) -> dict[str, Any]:
        query, can_see = SpanQuery.parse(_obj(data)), self._reader(call)
        source = self.spans.trace(query.trace_id) if query.trace_id else self.spans.ring
        total, page = query.run(s for s in source if can_see(s.realm))
        return {"spans": [s.to_json() for s in page], "total": total, "offset": query.offset, "limit": query.limit}

    async def traces_tree(self, data: Any, call: Call) -> dict[str, Any]:
        trace_id = _obj(data).get("trace_id")
        if not isinstance(trace_id, str) or not trace_id:
            raise InvalidArguments("'trace_id' must be a non-empty string")
        can_see = self._reader(call)
        roots, truncated = build_tree([s for s in self.spans.trace(trace_id.lower()) if can_see(s.realm)])
        return {"roots": roots, "depth_truncated": True} if truncated else {"roots": roots}

    async def traces_clear(self, data: Any, call: Call) -> dict[str, Any]:
        can_see = self._reader(call)
        return {"success": True, "removed": self.spans.remove_nowait(lambda s: can_see(s.realm))}

    async def metrics_list(self, data: Any, call: Call) -> dict[str, Any]:
        query, can_see, now = MetricQuery.parse(_obj(data)), self._reader(call), self.clock()
        self.metrics.expire_nowait(now - self.config.metrics_retention_seconds * 1_000_000_000)
        points = query.run(m for m in self.metrics.newest_first() if can_see(m.realm))
        return {"engine_metrics": self._engine_metrics(call), "sdk_metrics": [m.to_json() for m in points],
                "timestamp": _now_ms(now)}

    def _engine_metrics(self, call: Call) -> dict[str, Any]:
        can_see = self._reader(call)
        stats: dict[str, FunctionStats] = self.spans.functions
        if call.role != "system" and call.realm is not None:
            stats = {}  # a realm-bound reader: counted from its realm's stored spans only
            for span in self.spans.ring:
                if span.realm == call.realm:
                    count_function(stats, span)
        total = sum(s.count for s in stats.values())
        errors = sum(s.errors for s in stats.values())
        router = self.router.statistics()
        calls_by_worker = {s.name or s.worker_id: s.invocations for s in self.router.sessions.values()
                           if can_see(s.credential.realm)}
        return {
            "invocations": {"total": total, "success": total - errors, "error": errors, "source": "spans",
                            "by_function": {fid: s.to_json() for fid, s in sorted(stats.items())}},
            "workers": {"active": router.workers, "calls_made": calls_by_worker}, "functions": router.functions,
            "triggers": router.triggers, "pending_calls": router.pending_calls,
            "telemetry": self.statistics(),
        }

    def statistics(self) -> dict[str, Any]:
        """Fill levels and drop counters of every buffer of the module."""
        return {
            "intake": self.ingest.statistics()._asdict(), "spans": self.spans.ring.statistics()._asdict(),
            "logs": self.logs.statistics()._asdict(), "metrics": self.metrics.statistics()._asdict(),
            "deliveries": self.deliveries.statistics()._asdict(), "sampled_out": self.sampled_out,
        }

    async def sampling_rules(self, data: Any, call: Call) -> dict[str, Any]:
        return {"traces": {"default_ratio": self.config.sampling_ratio, "rules": [], "parent_based": False},
                "logs": {"sampling_ratio": self.config.logs_sampling_ratio}, "timestamp": _now_ms(self.clock())}

    async def baggage_get(self, data: Any, call: Call) -> dict[str, Any]:
        key = _obj(data).get("key")
        if not isinstance(key, str) or not key:
            raise InvalidArguments("'key' must be a non-empty string")
        return {"value": baggage_entries(call.baggage).get(key)}

    async def baggage_get_all(self, data: Any, call: Call) -> dict[str, Any]:
        return {"baggage": baggage_entries(call.baggage)}

    async def baggage_set(self, data: Any, call: Call) -> dict[str, Any]:
        args = _obj(data)
        if not isinstance(args.get("key"), str) or not args["key"] or not isinstance(args.get("value"), str):
            raise InvalidArguments("'key' (non-empty) and 'value' must be strings")
        return {"success": True, "note": "baggage set in the engine's context only; it does not flow back "
                                         "to the caller (set it on your own outgoing calls)"}

    def _health(self, answer: dict[str, Any], call: Call) -> dict[str, Any]:
        def component(enabled: bool, details: dict[str, Any]) -> dict[str, Any]:
            return {"status": "healthy", "details": details} if enabled else {"status": "disabled", "details": None}

        sessions = self.router.sessions.values()
        answer["modules"] = {name: "up" for name in sorted({*self.node.modules, "observability"})}
        answer["worker_names"] = sorted(
            s.name or s.worker_id for s in sessions
            if call.role == "system" or call.realm is None or s.credential.realm in (None, call.realm))
        answer["components"] = {
            "otel": component(True, {"service_name": self.config.service_name, "exporter": "memory",
                                     "intake": self.ingest.statistics()._asdict()}),
            "spans": component(True, self.spans.ring.statistics()._asdict()),
            "logs": component(self.config.logs_enabled, self.logs.statistics()._asdict()),
            "metrics": component(self.config.metrics_enabled, self.metrics.statistics()._asdict()),
        }
        answer["timestamp"] = _now_ms(self.clock())
        return answer
