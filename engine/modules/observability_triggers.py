"""The ``log`` and ``trace`` trigger types, and the bounded queue their deliveries go through.

Theory of operation
-------------------
Every log record the module stores (from ``engine::log::*`` or an SDK's ``LOGS`` frame) is
offered to :meth:`LogTriggers.fire_nowait`, every span to :meth:`TraceTriggers.fire_nowait`.
A binding that matches gets the record's JSON as a void call, in its own realm, with the
``worker`` role (as every module's trigger delivers). Deliveries do not run inline: they are
queued in :class:`Deliveries` (bounded; past :data:`MAX_QUEUED` new ones are dropped and
counted) and one task sends them in order, so a burst of logs never makes the reader of an
``/otel`` socket wait on a slow handler.

**Feedback loops.** A ``log`` handler that logs, or a ``trace`` handler whose own invocation
is traced, would feed itself. Each delivery therefore carries a fresh ``traceparent`` whose
trace id the queue remembers (the last :data:`REMEMBERED_TRACES`); the handler's spans and
logs inherit that trace id (iii's SDKs and ours both propagate it, and ``engine::log::*``
falls back to the caller's ``traceparent``), and records of a remembered trace are stored but
never delivered again.

Bindings are checked when they are made: ``log`` takes ``{level?}`` (``all`` or absent: every
record; else exactly that level), ``trace`` takes ``{service_name?, name?, status?}``.
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict, deque
from typing import Any, NamedTuple

import anyio
from anyio.abc import TaskStatus

from ..errors import InvalidArguments
from ..registry import TriggerEntry
from ..router import Router
from ..types import Call, Role
from .observability_records import LEVELS, LogRecord, SpanRecord, visible

__all__ = ["Deliveries", "DeliveryStatistics", "LogTriggers", "TraceTriggers", "MAX_QUEUED",
           "REMEMBERED_TRACES", "DELIVERY_ROLE"]

log = logging.getLogger(__name__)

DELIVERY_ROLE: Role = "worker"
MAX_QUEUED = 1000
"""Deliveries waiting to be sent before new ones are dropped."""
REMEMBERED_TRACES = 4096
"""Trace ids of recent deliveries, whose records are not delivered again (loop breaker)."""


class DeliveryStatistics(NamedTuple):
    queued: int
    delivered: int
    dropped: int
    """Deliveries refused because the queue was full."""
    suppressed: int
    """Records not delivered because a delivery caused them (feedback loop)."""


class Deliveries:
    """Void calls to trigger-bound functions, queued (bounded) and sent one at a time."""

    def __init__(self, router: Router, max_queued: int = MAX_QUEUED) -> None:
        self.router = router
        self.max_queued = max_queued
        self._queue: deque[tuple[TriggerEntry, dict[str, Any]]] = deque()
        self._wake = anyio.Event()
        self._traces: OrderedDict[str, None] = OrderedDict()
        self._delivered = self._dropped = self._suppressed = 0

    def caused_by_delivery(self, trace_id: str | None) -> bool:
        """True when a record of ``trace_id`` comes from a delivery (counts it as suppressed)."""
        if trace_id is not None and trace_id in self._traces:
            self._suppressed += 1
            return True
        return False

    def push_nowait(self, trig: TriggerEntry, payload: dict[str, Any]) -> bool:
        """Queue one delivery; False (and counted) when the queue is full."""
        if len(self._queue) >= self.max_queued:
            self._dropped += 1
            if self._dropped & (self._dropped - 1) == 0:  # 1, 2, 4, 8…: bounded logging
                log.warning("observability triggers are slow: %d delivery(ies) dropped so far", self._dropped)
            return False
        self._queue.append((trig, payload))
        self._wake.set()
        return True

    def statistics(self) -> DeliveryStatistics:
        return DeliveryStatistics(len(self._queue), self._delivered, self._dropped, self._suppressed)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Send queued deliveries until cancelled."""
        task_status.started()
        while True:
            while not self._queue:
                self._wake = anyio.Event()
                await self._wake.wait()
            trig, payload = self._queue.popleft()
            try:
                await self._deliver(trig, payload)
            except Exception:  # one broken delivery must not stop the others
                log.exception("delivery of a %s event to %s failed", trig.trigger_type, trig.function_id)

    async def _deliver(self, trig: TriggerEntry, payload: dict[str, Any]) -> None:
        trace_id = uuid.uuid4().hex
        self._traces[trace_id] = None
        if len(self._traces) > REMEMBERED_TRACES:
            self._traces.popitem(last=False)
        call = Call(trig.function_id, role=DELIVERY_ROLE, realm=trig.realm,
                    traceparent=f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01")
        await self.router.invoke_void(trig.function_id, payload, call=call, namespace=trig.namespace)
        self._delivered += 1


def _config(trig: TriggerEntry, keys: tuple[str, ...]) -> dict[str, str]:
    config = trig.config if trig.config is not None else {}
    if not isinstance(config, dict):
        raise InvalidArguments(f"{trig.trigger_type} trigger config must be an object")
    out = {}
    for key in keys:
        value = config.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            raise InvalidArguments(f"{trig.trigger_type} trigger config.{key} must be a non-empty string")
        out[key] = value
    return out


class LogTriggers:
    """Provider of the ``log`` trigger type."""

    def __init__(self, deliveries: Deliveries) -> None:
        self.deliveries = deliveries
        self.bound: dict[str, tuple[TriggerEntry, str | None]] = {}

    async def register_trigger(self, trig: TriggerEntry) -> None:
        """Bind ``{level?}``.

        Raises:
            InvalidArguments: the config is not an object, or ``level`` names no level.
        """
        level = _config(trig, ("level",)).get("level", "all").lower()
        if level != "all" and level not in LEVELS:
            raise InvalidArguments(f"log trigger config.level must be 'all' or one of {', '.join(LEVELS)}")
        self.bound[trig.id] = (trig, None if level == "all" else level)

    async def unregister_trigger(self, trig: TriggerEntry) -> None:
        self.bound.pop(trig.id, None)

    def fire_nowait(self, record: LogRecord) -> None:
        """Queue the record for every binding whose level and realm match."""
        if not self.bound or self.deliveries.caused_by_delivery(record.trace_id):
            return
        payload: dict[str, Any] | None = None
        for trig, level in self.bound.values():
            if (level is None or level == record.level) and visible(record.realm, trig.realm, False):
                payload = payload or record.to_json()
                self.deliveries.push_nowait(trig, payload)


class TraceTriggers:
    """Provider of the ``trace`` trigger type: one delivery per stored span that matches."""

    def __init__(self, deliveries: Deliveries) -> None:
        self.deliveries = deliveries
        self.bound: dict[str, tuple[TriggerEntry, dict[str, str]]] = {}

    async def register_trigger(self, trig: TriggerEntry) -> None:
        """Bind ``{service_name?, name?, status?}`` (exact, case-insensitive matches).

        Raises:
            InvalidArguments: the config is not an object or a filter is not a string.
        """
        filters = {k: v.lower() for k, v in _config(trig, ("service_name", "name", "status")).items()}
        self.bound[trig.id] = (trig, filters)

    async def unregister_trigger(self, trig: TriggerEntry) -> None:
        self.bound.pop(trig.id, None)

    def fire_nowait(self, span: SpanRecord) -> None:
        """Queue the span for every binding whose filters and realm match."""
        if not self.bound or self.deliveries.caused_by_delivery(span.trace_id):
            return
        payload: dict[str, Any] | None = None
        for trig, filters in self.bound.values():
            if not visible(span.realm, trig.realm, False):
                continue
            if any(_field(span, key) != value for key, value in filters.items()):
                continue
            payload = payload or span.to_json()
            self.deliveries.push_nowait(trig, payload)


def _field(span: SpanRecord, key: str) -> str:
    value = span.service_name if key == "service_name" else span.name if key == "name" else span.status
    return value.lower()
