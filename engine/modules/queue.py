"""The queue module (``iii-queue``): durable enqueue, consumers with retries and DLQ, fan-out topics.

Theory of operation
-------------------
``action: {type: enqueue, queue}`` reaches :meth:`QueueModule._on_enqueue` through
``router.enqueue_hook``. It turns the call into a :class:`~engine.adapters.Job` (id = the receipt
id) and hands it to the push task, which writes every push waiting at that moment with one
``push_many`` (group commit); the caller gets its ``messageReceiptId`` only once the job is stored.
Then the queue's :class:`~engine.modules.queue_consumer.Consumer` is woken; it runs the job later
(see that module for leases, retries, backoff and dead-lettering).

Decisions (what a user can rely on):

* **Queue names.** Enqueue accepts the queues under ``queue_configs`` plus ``default`` (always
  there; its settings are ``queue_configs.default`` or the defaults). Any other name is refused
  with ``enqueue_error``, as iii does: a typo fails loudly instead of parking jobs in a queue
  nobody configured, and callers cannot make the engine start unbounded consumer loops. Names
  must be 1-200 characters without control characters or surrounding whitespace.
* **What a job carries:** the payload, the namespace, and the realm and role of the enqueuing
  call (its function is later invoked with exactly that realm and role, never more). ``group``
  is ``data[message_group_field]`` on fifo queues (required in the payload when that field is
  configured; a fifo queue without the field is one ordered group). ``idempotency_key`` is
  ``data["idempotency_key"]``, else the call metadata's ``idempotency_key``, else the receipt id.
* **What the handler sees:** ``data``; when it is an object, plus ``_queue: {message_id, attempt,
  queue, idempotency_key}`` so a handler can recognise a redelivery (delivery is at-least-once).
  Config ``inject_queue_info: false`` turns that off.
* **Limits:** a payload over ``max_job_bytes`` (default 1 MiB, as JSON) is refused with
  ``enqueue_error``; so is a push while :data:`MAX_PENDING_PUSHES` pushes wait for the store.
* **Consumers** run for ``default``, every configured queue, every ``durable:subscriber`` topic
  and every queue the store holds jobs for (rescanned every :data:`DISCOVER_INTERVAL_S`, so jobs
  pushed by another engine sharing Redis, or left from before a crash, are found).
  ``concurrency`` is per engine process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, NamedTuple

import anyio
from anyio.abc import TaskGroup, TaskStatus

from ..adapters import AdapterError, Job, QueueBackend, SerializationError, build_queue
from ..adapters.base import dumps
from ..config import QueueModuleConfig, QueueSettings
from ..errors import EnqueueError
from ..router import EnqueueRequest
from ..types import Call
from .queue_admin import QueueAdmin, queue_name_problem
from .queue_consumer import Consumer

if TYPE_CHECKING:
    from ..node import Node

__all__ = ["QueueModule", "QueueModuleStatistics", "queue_name_problem", "DEFAULT_MAX_JOB_BYTES"]

log = logging.getLogger(__name__)

DEFAULT_MAX_JOB_BYTES = 1024 * 1024
MAX_PENDING_PUSHES = 10_000
DISCOVER_INTERVAL_S = 2.0
def _key(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


class QueueModuleStatistics(NamedTuple):
    queues: int
    in_flight: int
    pending_pushes: int
    delivered: int
    succeeded: int
    retried: int
    dead_lettered: int
    uncounted: int


class _Slot:
    __slots__ = ("done", "error")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.error: EnqueueError | None = None

    def finish(self, error: EnqueueError | None) -> None:
        if not self.done.is_set():
            self.error = error
            self.done.set()


class QueueModule:
    """``iii-queue``: enter it to serve enqueues, run consumers and register the queue functions.

    Args:
        node: the node whose router this module plugs into.
        config: the typed module config.
        clock: seconds since the epoch (``time.time``); tests pass a fake one.
        backend: a queue backend to use instead of building one from ``config.adapter``.
    """

    def __init__(self, node: Node, config: QueueModuleConfig, *, clock: Callable[[], float] = time.time,
                 backend: QueueBackend | None = None) -> None:
        self.node = node
        self.router = node.router
        self.config = config
        self.clock = clock
        self.backend = backend if backend is not None else build_queue(config.adapter.model_dump())
        self.max_job_bytes: int = config.max_job_bytes
        self.inject_queue_info: bool = config.inject_queue_info
        self.consumers: dict[str, Consumer] = {}
        self.topic_settings: dict[str, QueueSettings] = {}
        self.admin = QueueAdmin(self)
        self._pushes: list[tuple[list[Job], _Slot]] = []
        self._push_wake = anyio.Event()
        self._stopping = False
        self._progress = anyio.Event()
        self._tg: TaskGroup | None = None
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> QueueModule:
        stack = self._stack
        await stack.__aenter__()
        try:
            await stack.enter_async_context(self.backend)
            self._tg = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(self._tg.cancel_scope.cancel)
            await self._tg.start(self._push_loop)
            for name in sorted({"default", *self.config.queue_configs, *await self.backend.queues()}):
                self.consumer_for(name)
            self._tg.start_soon(self._discover_loop)
            stack.push_async_callback(self.admin.uninstall)
            await self.admin.install()
            self.router.enqueue_hook = self._on_enqueue
            stack.callback(self._unhook)
        except BaseException:
            await stack.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc: Any) -> bool | None:
        return await self._stack.__aexit__(*exc)

    def _unhook(self) -> None:
        self._stopping = True
        if self.router.enqueue_hook == self._on_enqueue:
            self.router.enqueue_hook = None

    # -- queues and consumers --------------------------------------------------------------

    def settings_for(self, queue: str) -> QueueSettings:
        """The settings of ``queue``: configured, else its topic's ``queue_config``, else default."""
        configured = self.config.queue_configs.get(queue)
        return configured or self.topic_settings.get(queue) or self.config.settings_for(queue)

    def consumer_for(self, queue: str) -> Consumer:
        """The consumer of ``queue`` on this engine, started on first use."""
        consumer = self.consumers.get(queue)
        if consumer is None:
            assert self._tg is not None, "QueueModule used outside 'async with'"
            consumer = self.consumers[queue] = Consumer(self, queue)
            self._tg.start_soon(consumer.run)
            log.debug("queue %s: consumer started", queue)
        return consumer

    def accepts(self, queue: str) -> bool:
        return queue == "default" or queue in self.config.queue_configs

    async def _discover_loop(self) -> None:
        while True:
            await anyio.sleep(DISCOVER_INTERVAL_S)
            try:
                names = await self.backend.queues()
            except AdapterError as exc:
                log.debug("queue discovery failed: %s", exc)
                continue
            for name in names:
                if name not in self.consumers and queue_name_problem(name) is None:
                    self.consumer_for(name)

    def notify_progress(self) -> None:
        """Called by consumers after every recorded outcome (ack, retry, dead-letter)."""
        self._progress.set()
        self._progress = anyio.Event()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` holds, re-checking after every job outcome.

        For tests and drains: e.g. ``wait_until(lambda: m.statistics().dead_lettered == 1)``.
        Bound it with ``anyio.fail_after``.
        """
        while not predicate():
            await self._progress.wait()

    def statistics(self) -> QueueModuleStatistics:
        per = [c.statistics() for c in self.consumers.values()]
        totals = [sum(values) for values in zip(*per, strict=True)] if per else [0] * 6
        return QueueModuleStatistics(len(self.consumers), totals[0], sum(len(j) for j, _ in self._pushes), *totals[1:])

    # -- enqueue ---------------------------------------------------------------------------

    async def _on_enqueue(self, req: EnqueueRequest) -> None:
        problem = queue_name_problem(req.queue)
        if problem is not None:
            raise EnqueueError(problem)
        if not self.accepts(req.queue):
            known = ", ".join(sorted({"default", *self.config.queue_configs}))
            raise EnqueueError(f"queue {req.queue!r} is not configured (configured: {known}); add it "
                               "under queue_configs of the iii-queue module in config.yaml")
        await self.push([self.build_job(req.queue, req.function_id, req.data, req.call, req.receipt_id)])

    def build_job(self, queue: str, function_id: str, data: Any, call: Call, job_id: str) -> Job:
        """The job that runs ``function_id(data)`` on ``queue`` in the context of ``call``.

        Raises:
            EnqueueError: the payload is not JSON, too large, or lacks the fifo group field.
        """
        try:
            size = len(dumps(data).encode())
        except SerializationError as exc:
            raise EnqueueError(f"payload for {function_id} is not JSON-serialisable: {exc}") from exc
        if size > self.max_job_bytes:
            raise EnqueueError(f"payload for {function_id} is {size} bytes; queue jobs are limited "
                               f"to {self.max_job_bytes} bytes (max_job_bytes)")
        settings = self.settings_for(queue)
        group = None
        if settings.type == "fifo" and settings.message_group_field:
            field = settings.message_group_field
            value = data.get(field) if isinstance(data, dict) else None
            if value is None:
                raise EnqueueError(f"fifo queue {queue!r} orders by {field!r}: the payload must be an "
                                   f"object with a non-null {field!r}")
            group = value if isinstance(value, str) else dumps(value)
        key = _key(data.get("idempotency_key")) if isinstance(data, dict) else None
        key = key or _key((call.metadata or {}).get("idempotency_key")) or job_id
        context = {"role": call.role, "traceparent": call.traceparent, "baggage": call.baggage,
                   "metadata": call.metadata}
        now = self.clock()
        return Job(id=job_id, queue=queue, function_id=function_id, data=data, max_retries=settings.max_retries,
                   group=group, idempotency_key=key, enqueued_at=now, not_before=now, namespace=call.namespace,
                   realm=call.realm, metadata={k: v for k, v in context.items() if v is not None})

    async def push(self, jobs: list[Job]) -> None:
        """Store ``jobs`` durably (batched with concurrent pushes), then wake their consumers.

        Raises:
            EnqueueError: the store failed or is falling behind, or the module is stopping.
        """
        if self._stopping:
            raise EnqueueError("the queue module is stopping")
        if len(self._pushes) >= MAX_PENDING_PUSHES:
            raise EnqueueError(f"the queue store is falling behind ({len(self._pushes)} pushes waiting); try again")
        slot = _Slot()
        self._pushes.append((jobs, slot))
        self._push_wake.set()
        await slot.done.wait()
        if slot.error is not None:
            raise slot.error
        for queue in {job.queue for job in jobs}:
            self.consumer_for(queue).wake()

    async def _push_loop(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        batch: list[tuple[list[Job], _Slot]] = []
        task_status.started()
        try:
            while True:
                await self._push_wake.wait()
                self._push_wake = anyio.Event()
                batch, self._pushes = self._pushes, []
                if not batch:
                    continue
                error = None
                try:
                    await self.backend.push_many([job for jobs, _ in batch for job in jobs])
                except AdapterError as exc:
                    log.warning("queue store failed to take %d push(es): %s", len(batch), exc)
                    error = EnqueueError(f"the queue store is unavailable: {exc}")
                for _, slot in batch:
                    slot.finish(error)
        finally:
            self._stopping = True
            stopped = EnqueueError("the queue module stopped before the job was stored")
            for _, slot in batch + self._pushes:
                slot.finish(stopped)
            self._pushes = []
