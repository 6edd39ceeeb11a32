"""engine/modules/observability_store.py and _tree.py: bounds, eviction, filters, the span tree."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.errors import InvalidArguments
from engine.modules.observability_records import (
    LogRecord,
    MetricPoint,
    SpanRecord,
    level_of,
    visible,
)
from engine.modules.observability_store import (
    MAX_FUNCTIONS,
    MAX_LIMIT,
    LogQuery,
    MetricQuery,
    Ring,
    SpanQuery,
    SpanStore,
)
from engine.modules.observability_tree import MAX_TREE_DEPTH, build_tree

T1, T2 = "1" * 32, "2" * 32
MS = 1_000_000


def mkspan(span_id: str, parent: str | None = None, *, trace: str = T1, name: str = "execute f::a",
           start_ms: int = 0, dur_ms: int = 1, service: str = "svc", status: int = 0, size: int = 100,
           realm: str | None = None, **attrs: Any) -> SpanRecord:
    return SpanRecord(trace, span_id.rjust(16, "0"), parent.rjust(16, "0") if parent else None, name, 1,
                      start_ms * MS, (start_ms + dur_ms) * MS, status, "", dict(attrs), [], [], service, "s",
                      realm=realm, size=size)


def mklog(n: int, severity: int = 9, *, trace: str | None = None, service: str = "svc",
          realm: str | None = None, seen: int = 0) -> LogRecord:
    return LogRecord(n * MS, n * MS, severity, level_of(severity).upper(), f"m{n}", {}, trace, None, service,
                     realm=realm, size=50, seen_ns=seen)


# -- Ring ----------------------------------------------------------------------------------------


def test_ring_is_bounded_by_count_and_by_bytes() -> None:
    ring: Ring[LogRecord] = Ring(max_count=3, max_bytes=1000)
    for n in range(5):
        ring.add_nowait(mklog(n))
    assert [r.body for r in ring] == ["m2", "m3", "m4"]
    stats = ring.statistics()
    assert (stats.records, stats.bytes, stats.stored, stats.evicted) == (3, 150, 5, 2)

    by_bytes: Ring[LogRecord] = Ring(max_count=100, max_bytes=120)
    for n in range(4):
        by_bytes.add_nowait(mklog(n))
    assert [r.body for r in by_bytes] == ["m2", "m3"] and by_bytes.statistics().bytes == 100
    huge = mklog(9)
    huge.size = 10_000
    by_bytes.add_nowait(huge)  # bigger than the ring on its own: kept alone
    assert [r.body for r in by_bytes] == ["m9"]
    assert [r.body for r in by_bytes.newest_first()] == ["m9"]


def test_ring_retention_and_removal() -> None:
    ring: Ring[LogRecord] = Ring(10, 10_000)
    for n in range(5):
        ring.add_nowait(mklog(n, seen=n * 10))
    assert ring.expire_nowait(before_ns=25) == 3 and [r.body for r in ring] == ["m3", "m4"]
    assert ring.remove_nowait(lambda r: r.body == "m4") == 1 and ring.statistics().bytes == 50
    assert ring.remove_nowait(lambda r: False) == 0
    with pytest.raises(ValueError):
        Ring(0, 10)


# -- SpanStore -------------------------------------------------------------------------------------


def test_span_index_follows_eviction_and_removal() -> None:
    store = SpanStore(max_count=3, max_bytes=10_000)
    for i, trace in enumerate([T1, T2, T1, T2]):
        store.add_nowait(mkspan(str(i), trace=trace))
    assert [s.span_id[-1] for s in store.trace(T1)] == ["2"]  # span 0 was evicted
    assert [s.span_id[-1] for s in store.trace(T2)] == ["1", "3"]
    assert store.remove_nowait(lambda s: s.trace_id == T2) == 2
    assert set(store.by_trace) == {T1} and len(store.ring) == 1
    assert store.trace("nope") == []


def test_function_counters_come_from_handler_spans() -> None:
    store = SpanStore(100, 100_000)
    store.add_nowait(mkspan("1", name="execute math::add", dur_ms=2))
    store.add_nowait(mkspan("2", name="execute math::add", dur_ms=4, status=2))
    store.add_nowait(mkspan("3", name="anything", function_id="own::fn"))
    store.add_nowait(mkspan("4", name="GET /x"))
    assert {k: v.to_json() for k, v in store.functions.items()} == {
        "math::add": {"count": 2, "errors": 1, "avg_duration_ms": 3.0},
        "own::fn": {"count": 1, "errors": 0, "avg_duration_ms": 1.0}}
    for i in range(MAX_FUNCTIONS + 5):
        store.add_nowait(mkspan("9", name=f"execute f::{i}"))
    assert len(store.functions) == MAX_FUNCTIONS + 1 and store.functions["(other)"].count >= 5


# -- queries ----------------------------------------------------------------------------------------


def spans_for_queries() -> list[SpanRecord]:
    return [
        mkspan("1", trace=T1, name="execute orders::create", start_ms=10, dur_ms=5, service="Orders-API"),
        mkspan("2", "1", trace=T1, name="GET /db", start_ms=11, dur_ms=1, service="db", status=2, route="/db"),
        mkspan("3", trace=T2, name="execute math::add", start_ms=20, dur_ms=50, service="math"),
    ]


@pytest.mark.parametrize(("args", "expected"), [
    ({}, ["3", "2", "1"]),
    ({"sort_order": "asc"}, ["1", "2", "3"]),
    ({"trace_id": T1.upper()}, ["2", "1"]),
    ({"service": "orders"}, ["1"]),
    ({"service_name": "MATH"}, ["3"]),
    ({"name": "execute"}, ["3", "1"]),
    ({"status": "ERROR"}, ["2"]),
    ({"min_duration_ms": 2}, ["3", "1"]),
    ({"max_duration_ms": 2}, ["2"]),
    ({"start_time": 16}, ["3"]),
    ({"end_time": 10.5}, ["1"]),
    ({"attributes": [["route", "/db"]]}, ["2"]),
    ({"sort_by": "duration", "limit": 2}, ["3", "1"]),
    ({"sort_by": "name", "sort_order": "asc", "offset": 1}, ["3", "1"]),  # "GET" < "execute"
    ({"sort_by": "bogus", "limit": 0}, []),
])
def test_span_filters(args: dict[str, Any], expected: list[str]) -> None:
    query = SpanQuery.parse(args)
    total, page = query.run(spans_for_queries())
    assert [s.span_id[-1] for s in page] == expected
    assert total >= len(page)


@pytest.mark.parametrize("args", [
    {"limit": "5"}, {"offset": -1}, {"trace_id": 5}, {"attributes": [["k"]]}, {"attributes": "k=v"},
    {"sort_order": "up"}, {"min_duration_ms": True}, {"start_time": "yesterday"},
])
def test_bad_span_filters_are_invalid_arguments(args: dict[str, Any]) -> None:
    with pytest.raises(InvalidArguments):
        SpanQuery.parse(args)


def test_limits_are_capped() -> None:
    assert SpanQuery.parse({"limit": 10**9}).limit == MAX_LIMIT
    assert LogQuery.parse({}).limit == 100


def test_log_filters() -> None:
    records = [mklog(1, 5, trace=T1, service="a"), mklog(2, 13, trace=T1, service="b"),
               mklog(3, 17, trace=T2, service="b"), mklog(4, 9, service="a")]
    bodies = lambda args: [r.body for r in LogQuery.parse(args).run(records)[1]]  # noqa: E731
    assert bodies({}) == ["m4", "m3", "m2", "m1"]
    assert bodies({"order": "asc", "limit": 2}) == ["m1", "m2"]
    assert bodies({"level": "warn"}) == ["m3", "m2"]
    assert bodies({"level": "WARN", "severity_min": 17}) == ["m3"]
    assert bodies({"severity_text": "debug"}) == ["m1"]
    assert bodies({"trace_id": T1}) == ["m2", "m1"]
    assert bodies({"service": "A"}) == ["m4", "m1"]
    assert bodies({"since": 2, "end_time": 3}) == ["m3", "m2"]
    assert LogQuery.parse({"offset": 3}).run(records) == (4, [records[0]])
    for bad in ({"level": "loud"}, {"since": "now"}, {"order": "random"}, {"limit": -1}):
        with pytest.raises(InvalidArguments):
            LogQuery.parse(bad)


def test_metric_filters_newest_first() -> None:
    def point(name: str, t: int, service: str = "svc") -> MetricPoint:
        return MetricPoint(name, "", "", "gauge", t * MS, 0, {}, 1, None, None, service)

    points = [point("iii.cpu", 1), point("iii.mem", 2), point("calls", 3, "other")]
    newest_first = list(reversed(points))
    names = lambda args: [p.name for p in MetricQuery.parse(args).run(newest_first)]  # noqa: E731
    assert names({}) == ["calls", "iii.mem", "iii.cpu"]
    assert names({"metric_name": "iii.*"}) == ["iii.mem", "iii.cpu"]
    assert names({"metric_name": "iii.cpu"}) == ["iii.cpu"]
    assert names({"service": "OTHER"}) == ["calls"]
    assert names({"start_time": 2, "limit": 1}) == ["calls"]


def test_visibility_by_realm() -> None:
    assert visible("a", "a", False) and visible("a", None, False) and visible("a", "b", True)
    assert not visible("a", "b", False) and not visible(None, "b", False)


# -- the tree ----------------------------------------------------------------------------------------


def shape(nodes: list[dict[str, Any]]) -> list[Any]:
    return [(n["span_id"].lstrip("0"), shape(n["children"])) for n in nodes]


def test_tree_nests_children_in_start_order_and_orphans_are_roots() -> None:
    spans = [mkspan("4", "2", start_ms=5), mkspan("1", start_ms=0), mkspan("2", "1", start_ms=2),
             mkspan("3", "1", start_ms=1), mkspan("5", "99", start_ms=7), mkspan("1", start_ms=9)]
    roots, truncated = build_tree(spans)
    assert shape(roots) == [("1", [("3", []), ("2", [("4", [])])]), ("5", [])]
    assert not truncated
    assert roots[0]["trace_id"] == T1 and roots[0]["duration_ms"] == 1.0


def test_tree_cuts_cycles_and_self_parents() -> None:
    spans = [mkspan("1", "2", start_ms=0), mkspan("2", "1", start_ms=1), mkspan("3", "3", start_ms=2)]
    roots, _ = build_tree(spans)
    assert shape(roots) == [("3", []), ("1", [("2", [])])]


def test_tree_depth_is_bounded_and_the_answer_encodes() -> None:
    chain = [mkspan(str(1), start_ms=0)] + [mkspan(str(i), str(i - 1), start_ms=i) for i in range(2, 2001)]
    roots, truncated = build_tree(chain)
    assert truncated
    depth, node = 0, roots[0]
    while node["children"]:
        depth += 1
        last = node
        node = node["children"][0]
    assert depth == MAX_TREE_DEPTH
    assert len(last["children"]) == 2000 - MAX_TREE_DEPTH  # every deeper span, flat, each once
    json.dumps(roots)  # no recursion error on the way out
    assert build_tree([]) == ([], False)
