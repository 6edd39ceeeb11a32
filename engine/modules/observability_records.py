"""What the observability module stores: spans, log records and metric points, and their limits.

Records are plain slotted dataclasses compared by identity (the stores index them), built once
by the OTLP decoder (:mod:`engine.modules.observability_otlp`) or by ``engine::log::*``, and
turned into the JSON the ``engine::traces/logs/metrics::*`` functions answer with
:meth:`to_json`. Each carries:

* ``realm``: the realm of the credential that sent it (the ``/otel`` socket's or the caller's),
  so a realm-bound reader only ever sees its own realm's telemetry (:func:`visible`);
* ``size``: an estimate of the bytes it holds (strings plus a fixed overhead per value), which
  the stores add up to bound their memory by bytes as well as by count;
* ``seen_ns``: when the engine stored it, for retention (record timestamps come from the
  sender and are not trusted for eviction).

Severity follows the OpenTelemetry log data model: numbers 1-24 in six bands of four.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = [
    "LEVELS", "LEVEL_SEVERITY", "RecordLimits", "SpanRecord", "LogRecord", "MetricPoint",
    "level_of", "severity_of_text", "visible", "RECORD_OVERHEAD", "VALUE_OVERHEAD",
]

RECORD_OVERHEAD = 400
"""Bytes charged per record on top of its strings (object headers, ints, dict slots)."""
VALUE_OVERHEAD = 64
"""Bytes charged per attribute value or list item on top of its characters."""

LEVELS: tuple[str, ...] = ("trace", "debug", "info", "warn", "error", "fatal")
"""The level names, lowest first; ``log`` triggers and ``engine::logs::list`` use them."""
LEVEL_SEVERITY: dict[str, int] = {name: 1 + 4 * i for i, name in enumerate(LEVELS)}
"""The severity number ``engine::log::<level>`` writes (TRACE=1, DEBUG=5, INFO=9, WARN=13, …)."""
_TEXT_SEVERITY: dict[str, int] = {
    **{name.upper(): number for name, number in LEVEL_SEVERITY.items()},
    "WARNING": 13, "CRITICAL": 21, "ERR": 17, "INFORMATION": 9,
}

SPAN_KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
STATUS_CODES = ("unset", "ok", "error")


def level_of(severity_number: int) -> str:
    """The level name of an OTel severity number (0 or out of range counts as ``info``)."""
    if 1 <= severity_number <= 24:
        return LEVELS[(severity_number - 1) // 4]
    return "info"


def severity_of_text(text: str) -> int:
    """The severity number a severity text names (``"WARN"`` → 13), 0 when it names none."""
    return _TEXT_SEVERITY.get(text.strip().upper(), 0)


def visible(record_realm: str | None, reader_realm: str | None, reader_is_system: bool) -> bool:
    """True when a reader may see a record: system and realm-less readers see everything, a
    realm-bound reader only its own realm's records."""
    return reader_is_system or reader_realm is None or record_realm == reader_realm


class RecordLimits(NamedTuple):
    """How much of one record is kept; what is over is cut (strings) or dropped (items)."""

    max_value_chars: int = 4096
    max_key_chars: int = 256
    max_attributes: int = 128
    max_items: int = 128
    """Items kept per array or key/value list value."""
    max_depth: int = 8
    """Nesting of array/key-value values kept; deeper values become a placeholder string."""
    max_events: int = 128
    max_links: int = 32
    max_points: int = 256
    """Data points kept per metric of one frame."""


@dataclass(slots=True, eq=False)
class SpanRecord:
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: int
    start_ns: int
    end_ns: int
    status_code: int
    status_message: str
    attributes: dict[str, Any]
    events: list[dict[str, Any]]
    links: list[dict[str, Any]]
    service_name: str
    scope: str
    resource: dict[str, Any] = field(default_factory=dict)
    realm: str | None = None
    size: int = RECORD_OVERHEAD
    seen_ns: int = 0

    @property
    def duration_ms(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e6

    @property
    def status(self) -> str:
        return STATUS_CODES[self.status_code] if 0 <= self.status_code < 3 else "unset"

    def to_json(self) -> dict[str, Any]:
        """The span as ``engine::traces::list`` answers it."""
        return {
            "trace_id": self.trace_id, "span_id": self.span_id, "parent_span_id": self.parent_span_id,
            "name": self.name, "kind": SPAN_KINDS[self.kind] if 0 <= self.kind < 6 else "unspecified",
            "start_time_unix_nano": self.start_ns, "end_time_unix_nano": self.end_ns,
            "duration_ms": self.duration_ms, "status": self.status, "status_message": self.status_message,
            "attributes": self.attributes, "events": self.events, "links": self.links,
            "service_name": self.service_name, "instrumentation_scope": self.scope,
            "resource": self.resource,
        }


@dataclass(slots=True, eq=False)
class LogRecord:
    timestamp_ns: int
    observed_ns: int
    severity_number: int
    severity_text: str
    body: Any
    attributes: dict[str, Any]
    trace_id: str | None
    span_id: str | None
    service_name: str
    scope: str = ""
    resource: dict[str, Any] = field(default_factory=dict)
    realm: str | None = None
    size: int = RECORD_OVERHEAD
    seen_ns: int = 0

    @property
    def level(self) -> str:
        return level_of(self.severity_number)

    def to_json(self) -> dict[str, Any]:
        """The OTel log event: what ``engine::logs::list`` lists and a ``log`` trigger receives."""
        return {
            "timestamp_unix_nano": self.timestamp_ns, "observed_timestamp_unix_nano": self.observed_ns,
            "severity_number": self.severity_number, "severity_text": self.severity_text,
            "body": self.body, "attributes": self.attributes, "trace_id": self.trace_id,
            "span_id": self.span_id, "service_name": self.service_name,
            "instrumentation_scope": self.scope, "resource": self.resource,
        }


@dataclass(slots=True, eq=False)
class MetricPoint:
    name: str
    description: str
    unit: str
    type: str
    """``gauge``, ``sum``, ``histogram``, ``exponential_histogram`` or ``summary``."""
    time_ns: int
    start_ns: int
    attributes: dict[str, Any]
    value: float | int | None
    """The number of a gauge or sum point; None for the distributions."""
    distribution: dict[str, Any] | None
    """``count``, ``sum``, ``min``, ``max``, buckets… of a histogram or summary point."""
    is_monotonic: bool | None
    service_name: str
    scope: str = ""
    resource: dict[str, Any] = field(default_factory=dict)
    realm: str | None = None
    size: int = RECORD_OVERHEAD
    seen_ns: int = 0

    def to_json(self) -> dict[str, Any]:
        """The point as ``engine::metrics::list`` answers it (under ``sdk_metrics``)."""
        out: dict[str, Any] = {
            "name": self.name, "description": self.description, "unit": self.unit,
            "type": self.type, "time_unix_nano": self.time_ns, "start_time_unix_nano": self.start_ns,
            "attributes": self.attributes, "service_name": self.service_name,
            "instrumentation_scope": self.scope,
        }
        if self.value is not None:
            out["value"] = self.value
        if self.distribution is not None:
            out.update(self.distribution)
        if self.is_monotonic is not None:
            out["is_monotonic"] = self.is_monotonic
        return out
