"""``iii-cron``: the ``cron`` trigger type, fired once per slot across every engine.

Theory of operation
-------------------
A binding ``cron {expression, condition_function_id?}`` is parsed when it is registered
(:func:`engine.cron_expr.parse`: 6/7 fields seconds first, 5 fields, ``@aliases``); an invalid
expression raises there, so the router refuses the binding (``trigger_registration_failed``).

One scheduler task per module (in the module's task group) keeps every binding's next fire
time, sleeps on the injected :class:`Clock` until the earliest one (or until a binding is added
or removed), then starts one firing per due binding. A firing claims the lock key
``cron:{trigger_id}:{scheduled_unix_seconds}`` through the Lock adapter (sqlite or redis share it
between engines), so with several engines bound to the same trigger id exactly one of them
fires each slot; the others skip it. The winner calls the condition function, if any (a falsy
answer skips the slot), then invokes the bound function (a void call in the binding's realm)
with ``{trigger: "cron", job_id: <trigger id>, scheduled_time, actual_time}`` (RFC 3339, UTC).
Unbinding drops the binding and cancels its firing in flight, at once.

Missed-fire policy
    A slot is never replayed one by one. When the scheduler wakes after several slots went by
    (event loop blocked, clock jump) it fires **once**, for the latest missed slot, and logs how
    many it skipped. When a binding is registered (engine start, worker reconnect) it fires
    once for the latest slot of the last ``lock_ttl`` if there is one: that is what an engine
    that was down across a fire time owes. The lock makes this safe: a slot that already fired
    (on this engine before a reconnect, or on another one) is still claimed within
    ``lock_ttl``, so it does not fire twice. A slot older than ``lock_ttl`` is never fired. With
    the memory adapter locks die with the process, so a restart within ``lock_ttl`` of a fire
    may fire that slot again; use sqlite or redis where that matters.
    A firing still in flight (a slow condition) makes the next slot of the same binding skip.

Time is a parameter (STYLE rule 13): tests pass a fake :class:`Clock`; the default
:class:`SystemClock` reads the UTC wall clock and sleeps in chunks of at most a minute, so a
wall-clock jump is noticed.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import anyio
from anyio.abc import TaskGroup, TaskStatus

from ..adapters import AdapterError, build_lock, parse_spec
from ..config import CronModuleConfig
from ..cron_expr import CronSchedule, fires_between, last_fire, next_fire, parse
from ..errors import InvalidArguments
from ..registry import TriggerEntry
from .pubsub import fire, unregister_locals

if TYPE_CHECKING:
    from ..node import Node

__all__ = ["Clock", "CronModule", "CronStatistics", "SystemClock", "rfc3339"]

log = logging.getLogger(__name__)


class Clock(Protocol):
    """Where the scheduler reads and waits for time."""

    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...

    async def sleep_until(self, when: datetime) -> None:
        """Return at ``when`` or earlier (the caller re-reads ``now()`` and sleeps again)."""
        ...


class SystemClock:
    """The UTC wall clock; sleeps at most a minute at a time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime) -> None:
        await anyio.sleep(min(max((when - self.now()).total_seconds(), 0.0), 60.0))


def rfc3339(moment: datetime) -> str:
    """``2026-01-02T03:04:05Z`` (milliseconds added when there are some)."""
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")


class CronStatistics(NamedTuple):
    bindings: int
    """Cron bindings scheduled on this engine."""
    firing: int
    """Firings in flight (claiming the lock, asking the condition, invoking)."""
    fired: int
    """Slots this engine delivered."""
    skipped: int
    """Slots dropped here: missed, older than lock_ttl, or the previous firing still running."""
    contended: int
    """Slots whose lock another engine (or an earlier firing) held: fired elsewhere."""


@dataclass(slots=True)
class _Job:
    trigger: TriggerEntry
    schedule: CronSchedule
    condition: str | None
    after: datetime
    """Slots after this time are still owed."""
    next_at: datetime | None
    firing: anyio.CancelScope | None = None
    running: bool = False
    """False until the first wake-up: the start-up catch-up is not a "missed" slot."""


class CronModule:
    """The ``cron`` trigger type; ``async with`` starts the scheduler.

    Args:
        node: the node whose router the module registers on.
        config: ``adapter`` (the Lock backend) and ``lock_ttl_ms`` (an adapter-level
            ``lock_ttl_ms`` option, as iii writes it, wins).
        clock: where time comes from; default the system clock.
    """

    def __init__(self, node: Node, config: CronModuleConfig | None = None, *, clock: Clock | None = None) -> None:
        self.router = node.router
        self.config = config or CronModuleConfig()
        spec = parse_spec(self.config.adapter.model_dump())
        self.lock = build_lock(spec)
        self.lock_ttl_s = float(spec.options.get("lock_ttl_ms", self.config.lock_ttl_ms)) / 1000
        self.clock: Clock = clock or SystemClock()
        self._jobs: dict[str, _Job] = {}
        self._fired = self._skipped = self._contended = self._inflight = 0
        self._wake: anyio.Event | None = None
        self._idle: anyio.Event | None = None
        self._stack = AsyncExitStack()
        self._tg: TaskGroup | None = None

    async def __aenter__(self) -> CronModule:
        stack = self._stack
        self._wake, self._idle = anyio.Event(), anyio.Event()
        self._idle.set()
        await stack.__aenter__()
        try:
            await stack.enter_async_context(self.lock)
            self._tg = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(self._tg.cancel_scope.cancel)
            await self._tg.start(self._run)
            await self.router.register_local_type("cron", self, "Fire on a cron schedule (seconds first)")
            stack.callback(unregister_locals, self.router, (), "cron")
        except BaseException:
            await stack.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc: Any) -> bool | None:
        return await self._stack.__aexit__(*exc)

    def statistics(self) -> CronStatistics:
        return CronStatistics(len(self._jobs), self._inflight, self._fired, self._skipped, self._contended)

    async def settle(self) -> None:
        """Wait until no firing is in flight (tests; a graceful stop)."""
        assert self._idle is not None, "CronModule used outside 'async with'"
        await self._idle.wait()

    # -- bindings ------------------------------------------------------------------------------

    async def register_trigger(self, trig: TriggerEntry) -> None:
        """Schedule a binding.

        Raises:
            InvalidArguments: the config has no ``expression`` string or a bad condition id.
            CronError: the expression is invalid (the message says why).
        """
        config = trig.config if isinstance(trig.config, dict) else {}
        expression = config.get("expression")
        if not isinstance(expression, str):
            raise InvalidArguments("cron trigger needs config.expression, e.g. '0 */5 * * * *' (seconds first)")
        condition = config.get("condition_function_id")
        if condition is not None and (not isinstance(condition, str) or not condition):
            raise InvalidArguments("cron trigger config.condition_function_id must be a non-empty string")
        schedule = parse(expression)
        after = self.clock.now() - timedelta(seconds=self.lock_ttl_s)
        self._drop(trig.id)
        self._jobs[trig.id] = _Job(trig, schedule, condition, after, next_fire(schedule, after))
        self._poke()

    async def unregister_trigger(self, trig: TriggerEntry) -> None:
        """Stop a binding now, cancelling its firing in flight."""
        self._drop(trig.id)
        self._poke()

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _drop(self, trigger_id: str) -> None:
        job = self._jobs.pop(trigger_id, None)
        if job is not None and job.firing is not None:
            job.firing.cancel()

    # -- the scheduler -------------------------------------------------------------------------

    async def _run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            now = self.clock.now()
            for job in list(self._jobs.values()):
                if job.next_at is not None and job.next_at <= now:
                    self._due(job, now)
            self._wake = wake = anyio.Event()
            upcoming = [j.next_at for j in self._jobs.values() if j.next_at is not None]
            if not upcoming:
                await wake.wait()
                continue
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._sleep_then_cancel, min(upcoming), tg)
                await wake.wait()
                tg.cancel_scope.cancel()

    async def _sleep_then_cancel(self, until: datetime, tg: TaskGroup) -> None:
        await self.clock.sleep_until(until)
        tg.cancel_scope.cancel()

    def _due(self, job: _Job, now: datetime) -> None:
        """Fire one due binding once, for its latest owed slot; move its cursor past ``now``."""
        scheduled = last_fire(job.schedule, now)
        owed = len(fires_between(job.schedule, job.after, now, limit=10_000))
        job.after, job.next_at = now, next_fire(job.schedule, now)
        name = job.trigger.id
        if job.running and owed > 1:
            log.warning("cron %s: %d slot(s) missed; firing once for the latest", name, owed - 1)
            self._skipped += owed - 1
        job.running = True
        if scheduled is None:
            return
        if (now - scheduled).total_seconds() > self.lock_ttl_s:
            log.warning("cron %s: slot %s is older than lock_ttl; skipped", name, rfc3339(scheduled))
            self._skipped += 1
            return
        if job.firing is not None:
            log.warning("cron %s: the previous firing is still running; slot %s skipped", name, rfc3339(scheduled))
            self._skipped += 1
            return
        assert self._tg is not None and self._idle is not None
        job.firing = anyio.CancelScope()
        self._inflight += 1
        if self._inflight == 1:
            self._idle = anyio.Event()
        self._tg.start_soon(self._fire, job, scheduled, now, job.firing)

    async def _fire(self, job: _Job, scheduled: datetime, actual: datetime, scope: anyio.CancelScope) -> None:
        trig = job.trigger
        with scope:
            try:
                key = f"cron:{trig.id}:{int(scheduled.timestamp())}"
                try:
                    won = await self.lock.claim(key, self.lock_ttl_s, now=actual.timestamp())
                except AdapterError as exc:
                    log.error("cron %s: lock %s unavailable (%s); slot skipped", trig.id, key, exc)
                    return
                if not won:
                    log.debug("cron %s: slot %s fired elsewhere", trig.id, rfc3339(scheduled))
                    self._contended += 1
                    return
                payload = {"trigger": "cron", "job_id": trig.id, "scheduled_time": rfc3339(scheduled),
                           "actual_time": rfc3339(actual)}
                if await fire(self.router, trig, payload, condition=job.condition):
                    self._fired += 1
            finally:
                if job.firing is scope:
                    job.firing = None
                self._inflight -= 1
                if self._inflight == 0 and self._idle is not None:
                    self._idle.set()
