"""engine/modules/observability_otlp.py: OTLP/JSON frames → records, and hostile frames refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.modules.observability_otlp import OtlpError, ValueReader, decode_frame
from engine.modules.observability_records import RecordLimits

TRACE = "0af7651916cd43dd8448eb211c80319c"
ROOT, CHILD = "b7ad6b7169203331", "00f067aa0ba902b7"


def attr(key: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, "value": value}


def frame(prefix: bytes, doc: Any) -> bytes:
    return prefix + json.dumps(doc).encode()


def spans_doc(*spans: dict[str, Any], service: str = "svc") -> dict[str, Any]:
    return {"resourceSpans": [{
        "resource": {"attributes": [attr("service.name", {"stringValue": service})]},
        "scopeSpans": [{"scope": {"name": "iii-python-sdk", "version": "1"}, "spans": list(spans)}],
    }]}


def span(span_id: str = ROOT, parent: str | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"traceId": TRACE, "spanId": span_id, "name": "execute math::add", "kind": 1,
                           "startTimeUnixNano": "1000000000", "endTimeUnixNano": "1002500000",
                           "attributes": [], "events": [], "links": [], "status": {"code": 0, "message": ""}}
    if parent:
        out["parentSpanId"] = parent
    out.update(extra)
    return out


def test_spans_as_the_iii_python_sdk_sends_them() -> None:
    doc = spans_doc(
        span(ROOT, attributes=[attr("function_id", {"stringValue": "math::add"}), attr("n", {"intValue": "7"}),
                               attr("ok", {"boolValue": True}), attr("ratio", {"doubleValue": 0.5})],
             events=[{"name": "iii.invocation.input", "timeUnixNano": "1000000100",
                      "attributes": [attr("iii.payload.json", {"stringValue": '{"a":1}'})]}],
             status={"code": 2, "message": "boom"}),
        span(CHILD, parent=ROOT, kind=3, traceId=TRACE.upper()),
    )
    batch = decode_frame(frame(b"OTLP", doc), realm="acme")
    assert batch.kind == "spans" and batch.skipped == 0 and not batch.logs and not batch.metrics
    root, child = batch.spans
    assert (root.trace_id, root.span_id, root.parent_span_id) == (TRACE, ROOT, None)
    assert root.attributes == {"function_id": "math::add", "n": 7, "ok": True, "ratio": 0.5}
    assert root.events == [{"name": "iii.invocation.input", "time_unix_nano": 1000000100,
                            "attributes": {"iii.payload.json": '{"a":1}'}}]
    assert (root.status, root.status_message, root.duration_ms) == ("error", "boom", 2.5)
    assert (root.service_name, root.scope, root.realm) == ("svc", "iii-python-sdk", "acme")
    assert child.trace_id == TRACE and child.parent_span_id == ROOT  # ids are lower-cased
    shown = child.to_json()
    assert shown["kind"] == "client" and shown["status"] == "unset"
    assert shown["start_time_unix_nano"] == 1_000_000_000 and shown["resource"] == {"service.name": "svc"}
    assert root.size > child.size > 0


def test_enum_names_and_legacy_keys_are_accepted() -> None:
    doc = {"resourceSpans": [{"resource": {}, "instrumentationLibrarySpans": [{
        "instrumentationLibrary": {"name": "old"},
        "spans": [span(kind="SPAN_KIND_SERVER", status={"code": "STATUS_CODE_OK"})]}]}]}
    [only] = decode_frame(frame(b"OTLP", doc)).spans
    assert (only.kind, only.status, only.scope, only.service_name) == (2, "ok", "old", "unknown_service")


def test_logs_as_the_iii_logger_sends_them() -> None:
    doc = {"resourceLogs": [{"resource": {"attributes": [attr("service.name", {"stringValue": "svc"})]},
                             "scopeLogs": [{"scope": {"name": "iii.logger"}, "logRecords": [
        {"timeUnixNano": "5", "observedTimeUnixNano": "6", "severityNumber": 13, "severityText": "WARN",
         "body": {"stringValue": "careful"}, "traceId": TRACE, "spanId": ROOT,
         "attributes": [attr("service.name", {"stringValue": "orders"}),
                        attr("log.data", {"kvlistValue": {"values": [attr("id", {"intValue": 3})]}})]},
        {"severityText": "error", "body": {"arrayValue": {"values": [{"stringValue": "a"}, {}]}}},
        {"severityNumber": "SEVERITY_NUMBER_DEBUG2"},
        "not a record",
    ]}]}]}
    batch = decode_frame(frame(b"LOGS", doc))
    assert batch.skipped == 1
    warn, error, debug = batch.logs
    assert (warn.level, warn.body, warn.trace_id, warn.span_id, warn.service_name) == (
        "warn", "careful", TRACE, ROOT, "orders")
    assert warn.attributes["log.data"] == {"id": 3}
    assert (error.severity_number, error.level, error.body, error.trace_id) == (17, "error", ["a", None], None)
    assert (debug.severity_number, debug.level) == (6, "debug")
    event = warn.to_json()
    assert {"timestamp_unix_nano", "severity_number", "severity_text", "body", "attributes", "trace_id",
            "span_id", "service_name"} <= set(event)


def test_metrics_gauges_sums_and_histograms() -> None:
    point = {"attributes": [attr("worker", {"stringValue": "w"})], "timeUnixNano": "9", "startTimeUnixNano": "1"}
    doc = {"resourceMetrics": [{"resource": {"attributes": [attr("service.name", {"stringValue": "svc"})]},
                                "scopeMetrics": [{"scope": {"name": "m"}, "metrics": [
        {"name": "iii.worker.cpu", "unit": "%", "gauge": {"dataPoints": [{**point, "asDouble": 12.5}]}},
        {"name": "calls", "sum": {"isMonotonic": True, "aggregationTemporality": 2,
                                  "dataPoints": [{**point, "asInt": "42"}]}},
        {"name": "latency", "histogram": {"dataPoints": [{**point, "count": "3", "sum": 1.5,
                                                          "bucketCounts": ["1", "2"], "explicitBounds": [0.5]}]}},
        {"name": "nameless-kind"},
    ]}]}]}
    batch = decode_frame(frame(b"MTRC", doc))
    assert batch.skipped == 1
    gauge, total, hist = batch.metrics
    assert (gauge.type, gauge.value, gauge.unit, gauge.attributes) == ("gauge", 12.5, "%", {"worker": "w"})
    assert (total.type, total.value, total.is_monotonic) == ("sum", 42, True)
    assert hist.to_json()["count"] == 3 and hist.to_json()["bucket_counts"] == [1, 2]
    assert hist.value is None and hist.time_ns == 9 and hist.service_name == "svc"


@pytest.mark.parametrize("bad", [
    b"", b"OTL", b"JUNKxxxx", b"OTLP", b"OTLP{", b'OTLP{"resourceSpans": [', b"OTLP[1, 2]", b'LOGS"text"',
    b"MTRC\xff\xfe\x00", b"OTLP" + b"[" * 100_000 + b"]" * 100_000,
])
def test_undecodable_frames_raise_otlp_error(bad: bytes) -> None:
    with pytest.raises(OtlpError):
        decode_frame(bad)


@pytest.mark.parametrize("bad_span", [
    {}, {"traceId": TRACE}, {"traceId": "00" * 16, "spanId": ROOT}, {"traceId": TRACE, "spanId": "xyz"},
    {"traceId": TRACE[:-1], "spanId": ROOT}, {"traceId": 5, "spanId": ROOT}, "span", None, [TRACE, ROOT],
])
def test_malformed_spans_are_skipped_and_counted(bad_span: Any) -> None:
    batch = decode_frame(frame(b"OTLP", spans_doc(bad_span, span())))
    assert batch.skipped == 1 and len(batch.spans) == 1


def test_wrong_shapes_everywhere_never_raise() -> None:
    for doc in ({"resourceSpans": "x"}, {"resourceSpans": [1, None, {"scopeSpans": {"spans": 1}}]},
                {"resourceSpans": [{"resource": "r", "scopeSpans": [{"spans": [span(
                    name=["x"], kind=99, startTimeUnixNano="soon", endTimeUnixNano=-5, status="bad",
                    attributes=[{"key": 1}, "x", {"key": "k", "value": {"intValue": "9" * 400}}],
                    events="e", links=[{"traceId": "zz"}])]}]}]}):
        batch = decode_frame(frame(b"OTLP", doc))
        for s in batch.spans:
            assert s.name == "" and s.kind == 0 and s.start_ns == 0 and s.end_ns == 0
            assert s.attributes == {"k": None} and s.events == [] and s.links[0]["trace_id"] is None


def test_strings_are_cut_and_collections_capped() -> None:
    limits = RecordLimits(max_value_chars=16, max_attributes=3, max_items=2, max_depth=2, max_events=1)
    nested: dict[str, Any] = {"stringValue": "deep"}
    for _ in range(5):
        nested = {"arrayValue": {"values": [nested, nested, nested]}}
    doc = spans_doc(span(attributes=[attr(f"k{i}", {"stringValue": "x" * 1000}) for i in range(10)] + [],
                         events=[{"name": "e"}] * 5))
    [s] = decode_frame(frame(b"OTLP", doc), limits).spans
    assert len(s.attributes) == 3 and all(v == "x" * 16 + "…" for v in s.attributes.values())
    assert len(s.events) == 1
    reader = ValueReader(limits)
    assert reader.any_value(nested, 0) == [["[nested too deep]"] * 2] * 2


def test_plain_values_are_bounded_copies() -> None:
    reader = ValueReader(RecordLimits(max_value_chars=4, max_items=2, max_depth=2))
    assert reader.plain({"a": "hello", "b": [1, 2, 3], "c": {"d": {"e": 1}}, "z": 0}) == {
        "a": "hell…", "b": [1, 2]}
    assert reader.plain(float("nan")) == "nan" and reader.plain(b"\x01\x02") == "0102"
    assert reader.plain(object()).startswith("<obj")
    assert reader.take_size() > 0 and reader.take_size() == 400


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([b"OTLP", b"LOGS", b"MTRC"]))
def test_random_bytes_after_a_prefix_never_escape_as_anything_but_otlp_error(junk: bytes, prefix: bytes) -> None:
    try:
        decode_frame(prefix + junk)
    except OtlpError:
        pass


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                           lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids, max_size=3),
                           max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(json_values, st.sampled_from([b"OTLP", b"LOGS", b"MTRC"]))
def test_any_json_document_decodes_or_is_refused(doc: Any, prefix: bytes) -> None:
    wrapped = {"resourceSpans": [doc], "resourceLogs": [{"scopeLogs": [{"logRecords": [doc]}]}],
               "resourceMetrics": [{"scopeMetrics": [{"metrics": [doc]}]}]}
    for candidate in (doc, wrapped):
        try:
            batch = decode_frame(frame(prefix, candidate))
        except OtlpError:
            continue
        assert batch.skipped >= 0
