"""The in-memory telemetry stores: bounded rings of records, their queries and the span tree.

Theory of operation
-------------------
A :class:`Ring` keeps records in arrival order and is bounded twice: by count and by the
estimated bytes its records hold (``record.size``, see
:mod:`engine.modules.observability_records`). Adding past either bound evicts the oldest
records, so memory stays bounded whatever the senders do; :meth:`Ring.statistics` says how
full it is and how much it evicted. Retention (``logs_retention_seconds``…) is applied by
:meth:`Ring.expire_nowait` against ``seen_ns``, the time the engine stored a record, with the
clock passed in by the caller.

:class:`SpanStore` adds a per-trace index (so ``engine::traces::tree`` does not scan the ring)
and per-function invocation counters, taken from the ``execute <function>`` spans SDKs emit
around each handler; both are kept in step with eviction. The span tree of one trace is built by
:mod:`engine.modules.observability_tree`. Nothing here awaits or reads a
clock: the module calls it from the event loop.

Queries (:class:`SpanQuery`, :class:`LogQuery`, :class:`MetricQuery`) are parsed from a call's
payload once, leniently about unknown keys and strictly about the types of known ones.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from ..errors import InvalidArguments
from .observability_records import LEVEL_SEVERITY, LogRecord, MetricPoint, SpanRecord

__all__ = [
    "Ring", "RingStatistics", "SpanStore", "SpanQuery", "LogQuery", "MetricQuery",
    "FunctionStats", "count_function", "function_of", "MAX_LIMIT", "MAX_FUNCTIONS",
]

MAX_LIMIT = 1000
"""Most records one list call returns."""
MAX_FUNCTIONS = 1000
"""Distinct function ids counted; the rest are counted under ``(other)``."""


class _Record(Protocol):
    size: int
    seen_ns: int


R = TypeVar("R", bound=_Record)


class RingStatistics(NamedTuple):
    records: int
    bytes: int
    """Estimated bytes held by the records (strings plus a fixed overhead each)."""
    max_count: int
    max_bytes: int
    stored: int
    """Records added since start."""
    evicted: int
    """Records pushed out by the bounds (not by retention or clear)."""


class Ring(Generic[R]):
    """Records, oldest first, bounded by ``max_count`` records and ``max_bytes`` bytes."""

    def __init__(self, max_count: int, max_bytes: int, on_evict: Callable[[R], None] | None = None) -> None:
        if max_count < 1 or max_bytes < 1:
            raise ValueError("a ring needs room for at least one record")
        self.max_count, self.max_bytes = max_count, max_bytes
        self._items: deque[R] = deque()
        self._bytes = 0
        self._stored = 0
        self._evicted = 0
        self._on_evict = on_evict

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[R]:
        return iter(self._items)

    def newest_first(self) -> Iterator[R]:
        return reversed(self._items)

    def add_nowait(self, record: R) -> None:
        """Append a record, evicting the oldest ones past the bounds (a record bigger than
        ``max_bytes`` on its own is kept alone)."""
        self._items.append(record)
        self._bytes += record.size
        self._stored += 1
        while len(self._items) > self.max_count or (self._bytes > self.max_bytes and len(self._items) > 1):
            self._drop_left()
            self._evicted += 1

    def expire_nowait(self, before_ns: int) -> int:
        """Drop the records stored before ``before_ns``; returns how many."""
        dropped = 0
        while self._items and self._items[0].seen_ns < before_ns:
            self._drop_left()
            dropped += 1
        return dropped

    def remove_nowait(self, doomed: Callable[[R], bool]) -> int:
        """Drop every record ``doomed`` says yes to; returns how many."""
        kept = deque(r for r in self._items if not doomed(r))
        removed = len(self._items) - len(kept)
        if removed:
            for record in self._items:
                if doomed(record) and self._on_evict is not None:
                    self._on_evict(record)
            self._items = kept
            self._bytes = sum(r.size for r in kept)
        return removed

    def statistics(self) -> RingStatistics:
        return RingStatistics(len(self._items), self._bytes, self.max_count, self.max_bytes,
                              self._stored, self._evicted)

    def _drop_left(self) -> None:
        record = self._items.popleft()
        self._bytes -= record.size
        if self._on_evict is not None:
            self._on_evict(record)


class FunctionStats:
    """Invocations of one function as its ``execute`` spans report them."""

    __slots__ = ("count", "errors", "total_ms")

    def __init__(self) -> None:
        self.count, self.errors, self.total_ms = 0, 0, 0.0

    def to_json(self) -> dict[str, Any]:
        avg = self.total_ms / self.count if self.count else 0.0
        return {"count": self.count, "errors": self.errors, "avg_duration_ms": round(avg, 3)}


def function_of(span: SpanRecord) -> str | None:
    """The function a handler span ran: its ``function_id`` attribute, else ``execute <id>``."""
    fid = span.attributes.get("function_id")
    if isinstance(fid, str) and fid:
        return fid
    if span.name.startswith("execute ") and len(span.name) > 8:
        return span.name[8:]
    return None


def count_function(stats: dict[str, FunctionStats], span: SpanRecord) -> None:
    """Add ``span`` to the counters of the function it ran, if it is a handler span."""
    fid = function_of(span)
    if fid is None:
        return
    if fid not in stats and len(stats) >= MAX_FUNCTIONS:
        fid = "(other)"
    entry = stats.get(fid)
    if entry is None:
        entry = stats[fid] = FunctionStats()
    entry.count += 1
    entry.errors += span.status_code == 2
    entry.total_ms += span.duration_ms


class SpanStore:
    """Spans in a :class:`Ring`, indexed by trace id, with per-function counters."""

    def __init__(self, max_count: int, max_bytes: int) -> None:
        self.ring: Ring[SpanRecord] = Ring(max_count, max_bytes, on_evict=self._unindex)
        self.by_trace: dict[str, list[SpanRecord]] = {}
        self.functions: dict[str, FunctionStats] = {}

    def add_nowait(self, span: SpanRecord) -> None:
        self.by_trace.setdefault(span.trace_id, []).append(span)
        self.ring.add_nowait(span)
        count_function(self.functions, span)

    def remove_nowait(self, doomed: Callable[[SpanRecord], bool]) -> int:
        return self.ring.remove_nowait(doomed)

    def trace(self, trace_id: str) -> list[SpanRecord]:
        return list(self.by_trace.get(trace_id, ()))

    def _unindex(self, span: SpanRecord) -> None:
        spans = self.by_trace.get(span.trace_id)
        if spans is None:
            return
        if spans and spans[0] is span:  # the usual case: the oldest span of its trace goes
            del spans[0]
        else:
            self.by_trace[span.trace_id] = spans = [s for s in spans if s is not span]
        if not spans:
            del self.by_trace[span.trace_id]


# -- queries -----------------------------------------------------------------------------------


def _opt(args: dict[str, Any], *keys: str, kind: type | tuple[type, ...] = str) -> Any:
    """The first of ``keys`` present and not null in ``args``, type-checked."""
    for key in keys:
        value = args.get(key)
        if value is None:
            continue
        if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise InvalidArguments(f"'{key}' must be a {names}")
        return value
    return None


def _window(args: dict[str, Any], offset_default: int = 0) -> tuple[int, int]:
    offset = _opt(args, "offset", kind=int) or offset_default
    limit = _opt(args, "limit", kind=int)
    if offset < 0 or (limit is not None and limit < 0):
        raise InvalidArguments("'offset' and 'limit' must be >= 0")
    return offset, min(MAX_LIMIT, 100 if limit is None else limit)


def _ms_to_ns(value: int | float | None) -> int | None:
    return None if value is None else int(value * 1_000_000)


def _contains(needle: str | None, haystack: str) -> bool:
    return needle is None or needle.lower() in haystack.lower()


class SpanQuery(NamedTuple):
    """Filters of ``engine::traces::list`` (all optional, ANDed)."""

    trace_id: str | None = None
    service: str | None = None
    """Case-insensitive substring of the service name (key ``service`` or ``service_name``)."""
    name: str | None = None
    """Case-insensitive substring of the span name."""
    status: str | None = None
    """``unset``, ``ok`` or ``error``."""
    min_duration_ms: float | None = None
    max_duration_ms: float | None = None
    start_ns: int | None = None
    end_ns: int | None = None
    attributes: tuple[tuple[str, str], ...] = ()
    sort_by: str = "start_time"
    descending: bool = True
    offset: int = 0
    limit: int = 100

    @classmethod
    def parse(cls, args: dict[str, Any]) -> SpanQuery:
        """Read the filters from a payload (times in unix milliseconds).

        Raises:
            InvalidArguments: a known key has the wrong type.
        """
        pairs = _opt(args, "attributes", kind=list) or []
        if not all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in pairs):
            raise InvalidArguments("'attributes' must be a list of [key, value] string pairs")
        order = _opt(args, "sort_order") or "desc"
        if order not in ("asc", "desc"):
            raise InvalidArguments("'sort_order' must be 'asc' or 'desc'")
        sort_by = _opt(args, "sort_by") or "start_time"
        offset, limit = _window(args)
        trace_id = _opt(args, "trace_id")
        return cls(
            trace_id=trace_id.lower() if trace_id else None,
            service=_opt(args, "service", "service_name"), name=_opt(args, "name"),
            status=(_opt(args, "status") or "").lower() or None,
            min_duration_ms=_opt(args, "min_duration_ms", kind=(int, float)),
            max_duration_ms=_opt(args, "max_duration_ms", kind=(int, float)),
            start_ns=_ms_to_ns(_opt(args, "start_time", "since", kind=(int, float))),
            end_ns=_ms_to_ns(_opt(args, "end_time", kind=(int, float))),
            attributes=tuple((k, v) for k, v in pairs),
            sort_by=sort_by if sort_by in _SPAN_SORTS else "start_time",
            descending=order == "desc", offset=offset, limit=limit,
        )

    def matches(self, s: SpanRecord) -> bool:
        if self.trace_id is not None and s.trace_id != self.trace_id:
            return False
        if not (_contains(self.service, s.service_name) and _contains(self.name, s.name)):
            return False
        if self.status is not None and s.status != self.status:
            return False
        duration = s.duration_ms
        if (self.min_duration_ms is not None and duration < self.min_duration_ms) or \
                (self.max_duration_ms is not None and duration > self.max_duration_ms):
            return False
        # Overlap with the window: the span ends after its start and starts before its end.
        if (self.start_ns is not None and s.end_ns < self.start_ns) or \
                (self.end_ns is not None and s.start_ns > self.end_ns):
            return False
        return all(str(s.attributes.get(k)) == v for k, v in self.attributes)

    def run(self, spans: Iterable[SpanRecord]) -> tuple[int, list[SpanRecord]]:
        """``(total matching, the page)``."""
        found = [s for s in spans if self.matches(s)]
        found.sort(key=_SPAN_SORTS[self.sort_by], reverse=self.descending)
        return len(found), found[self.offset: self.offset + self.limit]


_SPAN_SORTS: dict[str, Callable[[SpanRecord], Any]] = {
    "start_time": lambda s: s.start_ns, "duration": lambda s: s.end_ns - s.start_ns,
    "duration_ms": lambda s: s.end_ns - s.start_ns, "service_name": lambda s: s.service_name,
    "name": lambda s: s.name,
}


class LogQuery(NamedTuple):
    """Filters of ``engine::logs::list`` (all optional, ANDed); newest first unless ``asc``."""

    severity_min: int = 0
    """From ``level`` (``warn`` lists warn, error and fatal) or ``severity_min``."""
    severity_text: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    service: str | None = None
    start_ns: int | None = None
    end_ns: int | None = None
    descending: bool = True
    offset: int = 0
    limit: int = 100

    @classmethod
    def parse(cls, args: dict[str, Any]) -> LogQuery:
        """Read the filters from a payload (``since``/``start_time``/``end_time`` in unix ms).

        Raises:
            InvalidArguments: a known key has the wrong type, or ``level`` names no level.
        """
        level = _opt(args, "level")
        if level is not None and level.lower() not in LEVEL_SEVERITY:
            raise InvalidArguments(f"'level' must be one of {', '.join(LEVEL_SEVERITY)}")
        minimum = max(LEVEL_SEVERITY[level.lower()] if level else 0, _opt(args, "severity_min", kind=int) or 0)
        order = _opt(args, "order", "sort_order") or "desc"
        if order not in ("asc", "desc"):
            raise InvalidArguments("'order' must be 'asc' or 'desc'")
        offset, limit = _window(args)
        trace_id, span_id = _opt(args, "trace_id"), _opt(args, "span_id")
        return cls(
            severity_min=minimum, severity_text=_opt(args, "severity_text"),
            trace_id=trace_id.lower() if trace_id else None, span_id=span_id.lower() if span_id else None,
            service=_opt(args, "service", "service_name"),
            start_ns=_ms_to_ns(_opt(args, "since", "start_time", kind=(int, float))),
            end_ns=_ms_to_ns(_opt(args, "end_time", kind=(int, float))),
            descending=order == "desc", offset=offset, limit=limit,
        )

    def matches(self, r: LogRecord) -> bool:
        if r.severity_number < self.severity_min:
            return False
        if self.severity_text is not None and r.severity_text.lower() != self.severity_text.lower():
            return False
        if (self.trace_id is not None and r.trace_id != self.trace_id) or \
                (self.span_id is not None and r.span_id != self.span_id):
            return False
        if not _contains(self.service, r.service_name):
            return False
        when = r.timestamp_ns or r.observed_ns
        return not ((self.start_ns is not None and when < self.start_ns) or
                    (self.end_ns is not None and when > self.end_ns))

    def run(self, records: Iterable[LogRecord]) -> tuple[int, list[LogRecord]]:
        """``(total matching, the page)``, ordered by timestamp."""
        found = [r for r in records if self.matches(r)]
        found.sort(key=lambda r: r.timestamp_ns or r.observed_ns, reverse=self.descending)
        return len(found), found[self.offset: self.offset + self.limit]


class MetricQuery(NamedTuple):
    """Filters of ``engine::metrics::list`` for the SDK-sent points; newest first."""

    metric_name: str | None = None
    """Exact metric name, or a prefix when it ends with ``*``."""
    service: str | None = None
    start_ns: int | None = None
    end_ns: int | None = None
    limit: int = 100

    @classmethod
    def parse(cls, args: dict[str, Any]) -> MetricQuery:
        """Raises: InvalidArguments: a known key has the wrong type."""
        return cls(
            metric_name=_opt(args, "metric_name", "name"), service=_opt(args, "service", "service_name"),
            start_ns=_ms_to_ns(_opt(args, "start_time", "since", kind=(int, float))),
            end_ns=_ms_to_ns(_opt(args, "end_time", kind=(int, float))), limit=_window(args)[1],
        )

    def matches(self, m: MetricPoint) -> bool:
        name = self.metric_name
        if name is not None and not (m.name.startswith(name[:-1]) if name.endswith("*") else m.name == name):
            return False
        if not _contains(self.service, m.service_name):
            return False
        return not ((self.start_ns is not None and m.time_ns < self.start_ns) or
                    (self.end_ns is not None and m.time_ns > self.end_ns))

    def run(self, newest_first: Iterable[MetricPoint]) -> list[MetricPoint]:
        out: list[MetricPoint] = []
        for point in newest_first:
            if len(out) >= self.limit:
                break
            if self.matches(point):
                out.append(point)
        return out
