"""Decoding the ``/otel`` frames SDKs send: a 4-byte prefix, then an OTLP/JSON export request.

Theory of operation
-------------------
iii's SDKs open ``<engine>/otel`` and send binary frames ``b"OTLP" + json`` (an
``ExportTraceServiceRequest``: ``resourceSpans[].scopeSpans[].spans[]``), ``b"LOGS" + json``
(``resourceLogs[].scopeLogs[].logRecords[]``) and ``b"MTRC" + json``
(``resourceMetrics[].scopeMetrics[].metrics[]``), with hex trace and span ids as the OTLP/JSON
encoding prescribes. :func:`decode_frame` turns one frame into records and is pure: no I/O, no
clock (``seen_ns`` is stamped by the store).

Every frame comes from the network, so nothing in it is trusted:

* a frame that is not one of the three kinds, not JSON, or not a JSON object raises
  :class:`OtlpError` (the caller drops it and counts it);
* inside a good frame, an element of the wrong shape (a span without a valid trace id, a
  resource that is a string…) is skipped and counted in :attr:`Batch.skipped`;
* strings are cut at :attr:`RecordLimits.max_value_chars`, attribute lists, events, links and
  points are capped, and nested array/key-value values stop at :attr:`RecordLimits.max_depth`,
  so one record's size is bounded whatever the frame holds; ``size`` estimates what it holds.

The older field names (``instrumentationLibrarySpans``…) and enum names given as strings
(``"SPAN_KIND_SERVER"``) are accepted as well.
"""

from __future__ import annotations

import json
import math
import re
from itertools import islice
from typing import Any, Literal, NamedTuple

from .observability_records import (
    LEVEL_SEVERITY,
    RECORD_OVERHEAD,
    VALUE_OVERHEAD,
    LogRecord,
    MetricPoint,
    RecordLimits,
    SpanRecord,
    severity_of_text,
)

__all__ = ["Batch", "FrameKind", "OtlpError", "PREFIXES", "decode_frame", "ValueReader"]

FrameKind = Literal["spans", "logs", "metrics"]
PREFIXES: dict[bytes, FrameKind] = {b"OTLP": "spans", b"LOGS": "logs", b"MTRC": "metrics"}

_HEX = re.compile(r"[0-9a-fA-F]+")
_SPAN_KIND_NAMES = {"SPAN_KIND_UNSPECIFIED": 0, "SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2,
                    "SPAN_KIND_CLIENT": 3, "SPAN_KIND_PRODUCER": 4, "SPAN_KIND_CONSUMER": 5}
_STATUS_NAMES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
_SEVERITY_NAMES = {f"SEVERITY_NUMBER_{level.upper()}{step if step > 1 else ''}": number + step - 1
                   for level, number in LEVEL_SEVERITY.items() for step in range(1, 5)}
_METRIC_TYPES = (("gauge", "gauge"), ("sum", "sum"), ("histogram", "histogram"),
                 ("exponentialHistogram", "exponential_histogram"), ("summary", "summary"))
_DISTRIBUTION_KEYS = (("count", "count"), ("sum", "sum"), ("min", "min"), ("max", "max"),
                      ("bucketCounts", "bucket_counts"), ("explicitBounds", "explicit_bounds"),
                      ("scale", "scale"), ("zeroCount", "zero_count"),
                      ("quantileValues", "quantile_values"))


class OtlpError(ValueError):
    """The frame is not a telemetry frame this engine can read (it is dropped whole)."""


class Batch(NamedTuple):
    kind: FrameKind
    spans: list[SpanRecord]
    logs: list[LogRecord]
    metrics: list[MetricPoint]
    skipped: int
    """Elements of the frame that had the wrong shape and were left out."""


_DEFAULT_LIMITS = RecordLimits()


def decode_frame(frame: bytes | str, limits: RecordLimits = _DEFAULT_LIMITS, *,
                 realm: str | None = None) -> Batch:
    """Decode one ``/otel`` frame into records.

    Args:
        frame: the message as received (a text message is read as its UTF-8 bytes).
        limits: how much of each record to keep.
        realm: stamped on every record (the sender's credential realm).

    Raises:
        OtlpError: unknown prefix, invalid UTF-8 or JSON, or not a JSON object.
    """
    data = frame.encode("utf-8", "replace") if isinstance(frame, str) else frame
    kind = PREFIXES.get(bytes(data[:4]))
    if kind is None:
        raise OtlpError(f"unknown telemetry frame prefix {bytes(data[:4])!r}")
    try:
        doc = json.loads(data[4:])
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise OtlpError(f"{kind} frame is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise OtlpError(f"{kind} frame is JSON {type(doc).__name__}, not an object")
    reader = ValueReader(limits)
    batch = Batch(kind, [], [], [], 0)
    if kind == "spans":
        skipped = _spans(doc, reader, realm, batch.spans)
    elif kind == "logs":
        skipped = _logs(doc, reader, realm, batch.logs)
    else:
        skipped = _metrics(doc, reader, realm, batch.metrics)
    return batch._replace(skipped=skipped)


class ValueReader:
    """Converts OTLP/JSON ``AnyValue``s and attribute lists to Python values, within limits.

    ``size`` accumulates the estimated bytes of everything converted since the last
    :meth:`take_size`.
    """

    def __init__(self, limits: RecordLimits) -> None:
        self.limits = limits
        self.size = 0

    def take_size(self) -> int:
        size, self.size = self.size, 0
        return size + RECORD_OVERHEAD

    def text(self, value: Any, limit: int | None = None) -> str:
        """A string field (anything else becomes ``""``), cut at the limit."""
        if not isinstance(value, str):
            return ""
        text: str = value
        cap = self.limits.max_value_chars if limit is None else limit
        if len(text) > cap:
            text = text[:cap] + "…"
        self.size += len(text)
        return text

    def attributes(self, items: Any) -> dict[str, Any]:
        """``[{key, value: AnyValue}]`` → dict; malformed entries are skipped."""
        out: dict[str, Any] = {}
        if not isinstance(items, list):
            return out
        for item in items[: self.limits.max_attributes]:
            if isinstance(item, dict) and isinstance(item.get("key"), str):
                key = self.text(item["key"], self.limits.max_key_chars)
                out[key] = self.any_value(item.get("value"), 0)
        return out

    def any_value(self, value: Any, depth: int) -> Any:
        """One ``AnyValue`` object (``{"stringValue": …}`` etc.) → a JSON-safe Python value."""
        self.size += VALUE_OVERHEAD
        if not isinstance(value, dict) or not value:
            return None
        if "stringValue" in value:
            return self.text(value["stringValue"])
        if "boolValue" in value:
            return value["boolValue"] if isinstance(value["boolValue"], bool) else None
        if "intValue" in value:
            return _int(value["intValue"])
        if "doubleValue" in value:
            return _float(value["doubleValue"])
        if "bytesValue" in value:
            return self.text(value["bytesValue"])
        if depth >= self.limits.max_depth:
            return "[nested too deep]"
        if "arrayValue" in value:
            items = value["arrayValue"].get("values") if isinstance(value["arrayValue"], dict) else None
            if not isinstance(items, list):
                return []
            return [self.any_value(v, depth + 1) for v in items[: self.limits.max_items]]
        if "kvlistValue" in value:
            items = value["kvlistValue"].get("values") if isinstance(value["kvlistValue"], dict) else None
            out: dict[str, Any] = {}
            for item in items[: self.limits.max_items] if isinstance(items, list) else ():
                if isinstance(item, dict) and isinstance(item.get("key"), str):
                    out[self.text(item["key"], self.limits.max_key_chars)] = self.any_value(item.get("value"), depth + 1)
            return out
        return None


    def plain(self, value: Any, depth: int = 0) -> Any:
        """A value decoded from a call's payload → a bounded JSON-safe copy (strings cut, lists
        and objects capped, nesting stopped at ``max_depth``)."""
        self.size += VALUE_OVERHEAD
        if value is None or isinstance(value, bool | int):
            return value
        if isinstance(value, float):
            return _float(value)
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bytes):
            return self.text(value[: self.limits.max_value_chars].hex())
        if depth >= self.limits.max_depth:
            return "[nested too deep]"
        if isinstance(value, list | tuple):
            return [self.plain(v, depth + 1) for v in value[: self.limits.max_items]]
        if isinstance(value, dict):
            return {self.text(str(k), self.limits.max_key_chars): self.plain(v, depth + 1)
                    for k, v in islice(value.items(), self.limits.max_items)}
        return self.text(str(value))


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and 0 < len(value) <= 24:
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _float(value: Any) -> float | str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
        return number if math.isfinite(number) else str(number)
    if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
        return value  # JSON cannot carry them as numbers
    return None


def _nanos(value: Any) -> int:
    number = _int(value)
    return number if number is not None and 0 <= number < 2**64 else 0


def _enum(value: Any, names: dict[str, int], top: int) -> int:
    if isinstance(value, str):
        return names.get(value, 0)
    number = _int(value)
    return number if number is not None and 0 <= number <= top else 0


def _hex_id(value: Any, length: int) -> str | None:
    """A valid, non-zero hex id of ``length`` characters (lower-cased), else None."""
    if isinstance(value, str) and len(value) == length and _HEX.fullmatch(value) and value.strip("0"):
        return value.lower()
    return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _groups(doc: dict[str, Any], outer: str, inner: tuple[str, ...], items: str,
            reader: ValueReader) -> tuple[list[tuple[dict[str, Any], str, str, list[Any]]], int]:
    """Flatten ``outer[].{resource, inner[].{scope, items[]}}`` into (resource, service, scope,
    items) tuples; returns them and how many malformed groups were skipped."""
    out, skipped = [], 0
    for group in _list(doc.get(outer)):
        if not isinstance(group, dict):
            skipped += 1
            continue
        resource = reader.attributes(_dict(group.get("resource")).get("attributes"))
        reader.take_size()  # the resource is shared by its records, not charged to each
        service = resource.get("service.name")
        service_name = service if isinstance(service, str) and service else "unknown_service"
        scopes = next((group[k] for k in inner if k in group), None)
        for scoped in _list(scopes):
            if not isinstance(scoped, dict):
                skipped += 1
                continue
            scope_obj = _dict(scoped.get("scope") or scoped.get("instrumentationLibrary"))
            scope = reader.text(scope_obj.get("name"), 256)
            reader.take_size()
            out.append((resource, service_name, scope, _list(scoped.get(items))))
    return out, skipped


def _spans(doc: dict[str, Any], reader: ValueReader, realm: str | None, out: list[SpanRecord]) -> int:
    groups, skipped = _groups(doc, "resourceSpans", ("scopeSpans", "instrumentationLibrarySpans"),
                              "spans", reader)
    limits = reader.limits
    for resource, service, scope, spans in groups:
        for span in spans:
            trace_id = _hex_id(span.get("traceId"), 32) if isinstance(span, dict) else None
            span_id = _hex_id(span.get("spanId"), 16) if isinstance(span, dict) else None
            if trace_id is None or span_id is None:
                skipped += 1
                continue
            status = _dict(span.get("status"))
            raw_events, raw_links = span.get("events"), span.get("links")
            events = [{"name": reader.text(e.get("name"), 1024), "time_unix_nano": _nanos(e.get("timeUnixNano")),
                       "attributes": reader.attributes(e.get("attributes"))}
                      for e in _list(raw_events)[: limits.max_events] if isinstance(e, dict)] if raw_events else []
            links = [{"trace_id": _hex_id(k.get("traceId"), 32), "span_id": _hex_id(k.get("spanId"), 16),
                      "attributes": reader.attributes(k.get("attributes"))}
                     for k in _list(raw_links)[: limits.max_links] if isinstance(k, dict)] if raw_links else []
            # Positional (the field order of SpanRecord): keywords cost a third of the decode.
            record = SpanRecord(
                trace_id, span_id, _hex_id(span.get("parentSpanId"), 16), reader.text(span.get("name"), 1024),
                _enum(span.get("kind"), _SPAN_KIND_NAMES, 5),
                _nanos(span.get("startTimeUnixNano")), _nanos(span.get("endTimeUnixNano")),
                _enum(status.get("code"), _STATUS_NAMES, 2), reader.text(status.get("message")),
                reader.attributes(span.get("attributes")), events, links, service, scope, resource, realm,
            )
            record.size = reader.take_size()
            out.append(record)
    return skipped


def _logs(doc: dict[str, Any], reader: ValueReader, realm: str | None, out: list[LogRecord]) -> int:
    groups, skipped = _groups(doc, "resourceLogs", ("scopeLogs", "instrumentationLibraryLogs"),
                              "logRecords", reader)
    for resource, service, scope, records in groups:
        for item in records:
            if not isinstance(item, dict):
                skipped += 1
                continue
            text = reader.text(item.get("severityText"), 32)
            number = _enum(item.get("severityNumber"), _SEVERITY_NAMES, 24) or severity_of_text(text)
            attributes = reader.attributes(item.get("attributes"))
            named = attributes.get("service.name")  # iii's Logger puts its service name here
            record = LogRecord(
                timestamp_ns=_nanos(item.get("timeUnixNano")),
                observed_ns=_nanos(item.get("observedTimeUnixNano")),
                severity_number=number, severity_text=text,
                body=reader.any_value(item.get("body"), 0), attributes=attributes,
                trace_id=_hex_id(item.get("traceId"), 32), span_id=_hex_id(item.get("spanId"), 16),
                service_name=named if isinstance(named, str) and named else service,
                scope=scope, resource=resource, realm=realm,
            )
            record.size = reader.take_size()
            out.append(record)
    return skipped


def _metrics(doc: dict[str, Any], reader: ValueReader, realm: str | None, out: list[MetricPoint]) -> int:
    groups, skipped = _groups(doc, "resourceMetrics", ("scopeMetrics", "instrumentationLibraryMetrics"),
                              "metrics", reader)
    for resource, service, scope, metrics in groups:
        for metric in metrics:
            found = next(((key, name) for key, name in _METRIC_TYPES
                          if isinstance(metric, dict) and isinstance(metric.get(key), dict)), None)
            if found is None or not isinstance(metric.get("name"), str):
                skipped += 1
                continue
            key, type_name = found
            body = metric[key]
            name = reader.text(metric["name"], 256)
            description, unit = reader.text(metric.get("description"), 1024), reader.text(metric.get("unit"), 64)
            monotonic = body.get("isMonotonic") if isinstance(body.get("isMonotonic"), bool) else None
            header = reader.take_size() - RECORD_OVERHEAD
            for point in _list(body.get("dataPoints"))[: reader.limits.max_points]:
                if not isinstance(point, dict):
                    skipped += 1
                    continue
                value: Any = None
                if type_name in ("gauge", "sum"):
                    value = _int(point["asInt"]) if "asInt" in point else _float(point.get("asDouble"))
                    distribution = None
                else:
                    distribution = {name_out: _number_or_list(point.get(name_in), reader)
                                    for name_in, name_out in _DISTRIBUTION_KEYS if name_in in point}
                record = MetricPoint(
                    name=name, description=description, unit=unit, type=type_name,
                    time_ns=_nanos(point.get("timeUnixNano")), start_ns=_nanos(point.get("startTimeUnixNano")),
                    attributes=reader.attributes(point.get("attributes")),
                    value=value if isinstance(value, int | float) else None, distribution=distribution,
                    is_monotonic=monotonic, service_name=service, scope=scope, resource=resource, realm=realm,
                )
                record.size = reader.take_size() + header
                out.append(record)
    return skipped


def _number_or_list(value: Any, reader: ValueReader) -> Any:
    """A distribution field: a number (or numeric string), or a capped list of them."""
    if isinstance(value, list):
        reader.size += VALUE_OVERHEAD * min(len(value), reader.limits.max_items)
        return [_number(v) for v in value[: reader.limits.max_items]]
    return _number(value)


def _number(value: Any) -> Any:
    if isinstance(value, dict):  # summary quantiles: {quantile, value}
        return {k: _float(v) for k, v in islice(value.items(), 4) if isinstance(k, str)}
    number = _int(value)
    return number if number is not None else _float(value)
