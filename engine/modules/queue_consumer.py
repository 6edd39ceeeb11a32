"""One queue's consumer loop: reserve, invoke, then ack, retry or dead-letter.

Theory of operation
-------------------
A :class:`Consumer` owns one queue name on this engine. Its loop leases up to
``concurrency - in_flight`` runnable jobs (``reserve`` with ``lease_ms``), starts one delivery
task per job and then waits for a wake-up: a push on this engine, a slot coming free, or the
poll interval (which finds delayed retries coming due, jobs pushed by other engines sharing the
store and leases that expired because an engine died). So at most ``concurrency`` jobs of a queue
are leased by one engine at a time.

A delivery invokes the job's function through the router, with the job's realm, namespace and
the role of whoever enqueued it (never more), and a timeout just under the lease so the lease
never runs out under a live handler. Then:

* success: the id joins the ack batch; one task acks batches with ``ack_many`` (group commit),
  and the job's slot frees only once its ack is written. A message is deleted only after its
  handler succeeded: at-least-once.
* a counted failure: ``retry`` after ``backoff_ms * 2^(attempt-1)`` while ``attempt <
  max_retries`` (iii's meaning: the most deliveries a message gets), else ``dead_letter`` with
  the error. ``forbidden`` is dead-lettered at once: retrying cannot fix it.
* not counted: the function is not registered (its worker may be reconnecting) or this engine
  is stopping. The job is retried with its own capped backoff and the attempt is not charged;
  after :data:`MAX_UNCOUNTED` such retries in a row it is dead-lettered (``function_not_found``).

Storage counts every lease in ``Job.attempts``; the uncounted ones are carried in the stored
error (``uncounted``, valid while ``at`` < ``attempts``, so a redrive resets it), and the
delivery attempt a handler sees is ``attempts - uncounted``.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any, NamedTuple

import anyio
from anyio.abc import TaskGroup, TaskStatus

from ..adapters import AdapterError, Job
from ..config import QueueSettings
from ..errors import Forbidden, FunctionNotFound, WireError
from ..registry import DEFAULT_NAMESPACE
from ..types import Call, Role

if TYPE_CHECKING:
    from .queue import QueueModule

__all__ = ["Consumer", "ConsumerStatistics", "retry_delay", "uncounted_delay", "MAX_UNCOUNTED"]

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 3600.0
"""The longest wait between two deliveries of one message, whatever ``backoff_ms`` says."""
MAX_UNCOUNTED = 50
"""Retries in a row without a delivery (function missing) before a job is dead-lettered."""
UNCOUNTED_CAP_S = 30.0
ADAPTER_BACKOFF_S = (0.1, 5.0)
"""Wait after a failing ``reserve`` (storage unreachable): doubles from the first to the second."""
STOP_GRACE_S = 2.0
RECORD_TIMEOUT_S = 10.0
"""Longest wait for a reserve or for storing a failure, even while stopping; past it the jobs'
leases expiring brings them back."""
_ROLES: dict[Any, Role] = {"system": "system", "worker": "worker", "client": "client"}


def retry_delay(backoff_ms: int, attempt: int) -> float:
    """Seconds to wait before the next delivery after delivery ``attempt`` (1-based) failed.

    ``backoff_ms * 2^(attempt-1)``, capped at :data:`MAX_BACKOFF_S`.
    """
    exponent = min(max(attempt, 1) - 1, 40)
    return min(backoff_ms * math.pow(2, exponent) / 1000, MAX_BACKOFF_S)


def uncounted_delay(settings: QueueSettings, n: int) -> float:
    """Seconds to wait after the ``n``-th uncounted retry in a row (at least one poll)."""
    base = max(settings.backoff_ms, settings.poll_interval_ms) / 1000
    return min(base * math.pow(2, min(max(n, 1) - 1, 20)), UNCOUNTED_CAP_S)


def uncounted_of(job: Job) -> int:
    """Leases of ``job`` that were not delivery attempts (see the module docstring)."""
    err = job.last_error or {}
    at, n = err.get("at"), err.get("uncounted")
    if isinstance(at, int) and isinstance(n, int) and 0 <= at < job.attempts:
        return min(n, job.attempts - 1)
    return 0


class ConsumerStatistics(NamedTuple):
    in_flight: int
    """Jobs leased by this consumer now (running, or waiting for their ack)."""
    delivered: int
    succeeded: int
    """Handler succeeded and the ack was written."""
    retried: int
    dead_lettered: int
    uncounted: int
    """Retries not charged to the job (function not registered, engine stopping)."""


class Consumer:
    """The consumer of one queue on this engine. Run :meth:`run` in the module's task group."""

    def __init__(self, module: QueueModule, queue: str) -> None:
        self.module = module
        self.queue = queue
        self.in_flight = 0
        self._wake = anyio.Event()
        self._acks: list[str] = []
        self._ack_wake = anyio.Event()
        self._counts = [0, 0, 0, 0, 0]  # delivered, succeeded, retried, dead, uncounted

    @property
    def settings(self) -> QueueSettings:
        """Read on every use: a topic's settings may arrive with its first subscriber."""
        return self.module.settings_for(self.queue)

    @property
    def lease_s(self) -> float:
        return self.settings.lease_ms / 1000

    @property
    def timeout_s(self) -> float:
        """The handler's deadline stays inside the lease: a job is never leased out twice while a
        handler of this engine still runs it (barring clock skew between engines)."""
        return self.lease_s - min(1.0, self.lease_s * 0.1)

    def statistics(self) -> ConsumerStatistics:
        return ConsumerStatistics(self.in_flight, *self._counts)

    def wake(self) -> None:
        """Make the loop look for jobs now (a push, a redrive, a slot coming free)."""
        self._wake.set()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Consume until cancelled. Jobs still running then are handed back (see ``_deliver``)."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._ack_loop)
            task_status.started()
            await self._loop(tg)

    async def _loop(self, tg: TaskGroup) -> None:
        failing = 0
        while True:
            self._wake = anyio.Event()  # before reserving: a wake-up during reserve is kept
            settings = self.settings
            wait_s = settings.poll_interval_ms / 1000
            free = settings.concurrency - self.in_flight
            if free > 0:
                jobs: list[Job] = []
                try:
                    # Shielded: a reserve cut off by a stop could lease jobs nobody runs, and they
                    # would wait for their leases to expire. Jobs reserved now are handed back.
                    with anyio.move_on_after(RECORD_TIMEOUT_S, shield=True):
                        jobs = await self.module.backend.reserve(
                            self.queue, limit=free, lease_s=settings.lease_ms / 1000, now=self.module.clock(),
                            fifo=settings.type == "fifo",
                        )
                except AdapterError as exc:
                    failing += 1
                    wait_s = min(ADAPTER_BACKOFF_S[0] * 2 ** min(failing, 10), ADAPTER_BACKOFF_S[1])
                    log_at = logging.WARNING if failing == 1 else logging.DEBUG
                    log.log(log_at, "queue %s: reserve failed (%s); retrying in %.1fs", self.queue, exc, wait_s)
                else:
                    failing = 0
                for job in jobs:
                    self.in_flight += 1
                    tg.start_soon(self._deliver, job)
            with anyio.move_on_after(wait_s):
                await self._wake.wait()

    def _release(self, n: int) -> None:
        self.in_flight -= n
        self._wake.set()

    async def _ack_loop(self) -> None:
        try:
            while True:
                await self._ack_wake.wait()
                self._ack_wake = anyio.Event()
                await self._flush_acks()
        finally:
            with anyio.move_on_after(STOP_GRACE_S, shield=True):
                await self._flush_acks()  # fewer duplicates after a clean stop

    async def _flush_acks(self) -> None:
        batch, self._acks = self._acks, []
        if not batch:
            return
        try:
            await self.module.backend.ack_many(self.queue, batch)
        except AdapterError as exc:  # the leases expire and the jobs run again: at-least-once
            log.warning("queue %s: ack of %d job(s) failed: %s", self.queue, len(batch), exc)
        self._counts[1] += len(batch)
        self._release(len(batch))
        self.module.notify_progress()

    # -- one delivery ----------------------------------------------------------------------

    async def _deliver(self, job: Job) -> None:
        uncounted = uncounted_of(job)
        attempt = job.attempts - uncounted
        self._counts[0] += 1
        try:
            error = await self._invoke(job, attempt)
        except anyio.get_cancelled_exc_class():
            # The engine is stopping: hand the job back now rather than at lease expiry.
            with anyio.move_on_after(STOP_GRACE_S, shield=True):
                stopped = {"code": "engine_stopped", "message": "the engine stopped during delivery"}
                await self._uncounted(job, uncounted, stopped, delay=0.0)
            raise
        if error is None:
            self._acks.append(job.id)
            self._ack_wake.set()
            return
        try:
            with anyio.move_on_after(RECORD_TIMEOUT_S, shield=True):  # a stop must not strand it
                await self._record_failure(job, error, attempt, uncounted)
        finally:
            self._release(1)
            self.module.notify_progress()

    async def _record_failure(self, job: Job, error: dict[str, Any], attempt: int, uncounted: int) -> None:
        try:
            if error["code"] == FunctionNotFound.code:
                if uncounted + 1 > MAX_UNCOUNTED:
                    await self._dead(job, error, attempt, uncounted)
                else:
                    await self._uncounted(job, uncounted, error, uncounted_delay(self.settings, uncounted + 1))
            elif error["code"] == Forbidden.code or attempt >= max(self.settings.max_retries, 1):
                await self._dead(job, error, attempt, uncounted)
            else:
                self._counts[2] += 1
                not_before = self.module.clock() + retry_delay(self.settings.backoff_ms, attempt)
                error.update(attempt=attempt, at=job.attempts, uncounted=uncounted)
                await self.module.backend.retry(self.queue, job.id, not_before=not_before, error=error)
        except AdapterError as exc:
            log.warning("queue %s: could not record the failure of job %s: %s", self.queue, job.id, exc)

    async def _dead(self, job: Job, error: dict[str, Any], attempt: int, uncounted: int) -> None:
        self._counts[3] += 1
        error.update(attempt=attempt, at=job.attempts, uncounted=uncounted)
        log.info("queue %s: job %s (%s) dead-lettered after %d attempt(s): %s",
                 self.queue, job.id, job.function_id, attempt, error.get("message"))
        await self.module.backend.dead_letter(self.queue, job.id, error=error)

    async def _uncounted(self, job: Job, uncounted: int, error: dict[str, Any], delay: float) -> None:
        self._counts[4] += 1
        error.update(attempt=job.attempts - uncounted - 1, at=job.attempts, uncounted=uncounted + 1)
        try:
            await self.module.backend.retry(self.queue, job.id, not_before=self.module.clock() + delay, error=error)
        except AdapterError as exc:
            log.warning("queue %s: could not hand back job %s: %s", self.queue, job.id, exc)

    async def _invoke(self, job: Job, attempt: int) -> dict[str, Any] | None:
        """Run the job's function once; return None on success, else the error to store."""
        ctx = job.metadata or {}
        role: Role = _ROLES.get(ctx.get("role"), "client")
        call = Call(job.function_id, role=role, realm=job.realm, namespace=job.namespace or DEFAULT_NAMESPACE,
                    traceparent=ctx.get("traceparent"), baggage=ctx.get("baggage"))
        data = job.data
        if isinstance(data, dict) and self.module.inject_queue_info:
            info = {"message_id": job.id, "attempt": attempt, "queue": self.queue, "idempotency_key": job.idempotency_key}
            data = {**data, "_queue": info}
        try:
            await self.module.router.invoke(job.function_id, data, call=call, namespace=call.namespace,
                                            metadata=ctx.get("metadata"), timeout=self.timeout_s)
        except WireError as exc:
            error: dict[str, Any] = {"code": exc.code, "message": exc.message}
            if exc.stacktrace:
                error["stacktrace"] = exc.stacktrace
            return error
        except Exception as exc:  # a built-in target that failed without a WireError
            log.exception("queue %s: job %s: %s failed", self.queue, job.id, job.function_id)
            return {"code": "internal_error", "message": f"{job.function_id} failed: {exc.__class__.__name__}"}
        return None
