"""Storage contracts shared by every backend (memory, sqlite, redis).

Theory of operation: an engine module (state, queue, pubsub, cron) owns one adapter per role and
talks to it only through the Protocols below. Each Protocol is small; the memory backend is the
reference implementation and the contract suites in ``tests/engine/adapters`` run unchanged against
all three backends. Values cross the boundary as JSON-serialisable Python values and are stored as
JSON text, so every read hands back a fresh copy (tuples come back as lists, on every backend).

Every adapter is an async context manager: enter it before use, leaving it (or ``close()``)
releases its connections. ``close()`` is idempotent; any call after it raises
``AdapterClosedError``.

Errors (the only exceptions an adapter raises, besides those of a caller's own ``fn``)::

    AdapterError
    ├── AdapterUnavailableError   the backend failed or is unreachable (redis/sqlite/socket error)
    ├── AdapterConflictError      an optimistic update lost the race too many times
    ├── SlowConsumerError         a subscription's bounded buffer overflowed (overflow="error")
    ├── AdapterClosedError        (also RuntimeError) use after close / before entering
    ├── SerializationError        (also ValueError) a value is not JSON-serialisable
    └── AdapterConfigError        (also ValueError) the factory got an unknown or bad spec
"""

from __future__ import annotations

import builtins
import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol, Self, runtime_checkable

if TYPE_CHECKING:
    from engine.adapters._subscription import Subscription

__all__ = [
    "KV",
    "AdapterClosedError",
    "AdapterConfigError",
    "AdapterConflictError",
    "AdapterError",
    "AdapterUnavailableError",
    "Job",
    "Lock",
    "Overflow",
    "PubSub",
    "Queue",
    "QueueAdmin",
    "QueueBatch",
    "QueueBackend",
    "QueueStats",
    "Resource",
    "SerializationError",
    "SlowConsumerError",
    "check_reserve_args",
    "dumps",
    "group_key",
    "loads",
]


Overflow = Literal["drop", "error"]
"""What a full subscription buffer does with a new message: drop it, or drop it and fail."""


class AdapterError(Exception):
    """Root of every error an adapter raises."""


class AdapterUnavailableError(AdapterError):
    """The backend failed: connection refused or lost, disk I/O error, lock wait timed out."""


class AdapterConflictError(AdapterError):
    """``KV.update`` lost its optimistic race ``attempts`` times in a row and gave up."""


class SlowConsumerError(AdapterError):
    """A subscription with ``overflow="error"`` overflowed; raised once its buffer is drained.

    Attributes:
        topic: the subscription's topic.
        dropped: messages dropped so far.
    """

    def __init__(self, topic: str, dropped: int) -> None:
        super().__init__(f"subscription to {topic!r} overflowed, {dropped} message(s) dropped")
        self.topic = topic
        self.dropped = dropped


class AdapterClosedError(AdapterError, RuntimeError):
    """The adapter was used after ``close()`` (or, where required, before ``async with``)."""


class SerializationError(AdapterError, ValueError):
    """A value or message is not JSON-serialisable (NaN and infinities are refused too)."""


class AdapterConfigError(AdapterError, ValueError):
    """An adapter spec names an unknown or unsupported backend, or has a bad config value."""


def dumps(value: Any) -> str:
    """Encode ``value`` as compact JSON text, the storage format of every backend.

    Raises:
        SerializationError: ``value`` is not JSON-serialisable.
    """
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SerializationError(f"value is not JSON-serialisable: {exc}") from exc


def loads(text: str | bytes) -> Any:
    """Decode JSON text written by :func:`dumps`."""
    return json.loads(text)


def group_key(group: str | None) -> str:
    """Storage key of a fifo group; ``None`` is one queue-wide group, distinct from any name."""
    return "*" if group is None else "g:" + group


def check_reserve_args(limit: int, lease_s: float) -> None:
    """Validate ``Queue.reserve`` arguments (shared so every backend refuses the same input).

    Raises:
        ValueError: ``limit`` < 0 or ``lease_s`` <= 0.
    """
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    if not lease_s > 0:
        raise ValueError(f"lease_s must be > 0, got {lease_s}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """One durable queue message; immutable, update with ``dataclasses.replace``.

    ``attempts`` counts reservations (``reserve`` increments it), ``not_before`` is the earliest
    time the job may run, ``group`` orders jobs in fifo mode and ``last_error`` is the ``error``
    of the latest ``retry``/``dead_letter``. Times are seconds on the caller's clock.
    """

    id: str
    queue: str
    function_id: str
    data: Any = None
    attempts: int = 0
    max_retries: int = 3
    group: str | None = None
    idempotency_key: str | None = None
    enqueued_at: float = 0.0
    not_before: float = 0.0
    last_error: dict[str, Any] | None = None
    namespace: str | None = None
    realm: str | None = None
    metadata: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the job as a plain dict of JSON values."""
        return {name: getattr(self, name) for name in _JOB_FIELDS}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Job:
        """Build a job from :meth:`to_dict` output; unknown keys are ignored (forward compat).

        Raises:
            TypeError: a required key (``id``, ``queue``, ``function_id``) is missing.
        """
        if raw.keys() <= _JOB_FIELD_SET:
            return cls(**raw)
        return cls(**{k: v for k, v in raw.items() if k in _JOB_FIELD_SET})

    def to_json(self) -> str:
        """Encode as JSON text. Raises ``SerializationError`` if ``data`` is not JSON."""
        return dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str | bytes, **changes: Any) -> Job:
        """Decode JSON text written by :meth:`to_json`, then apply ``changes`` (field=value)."""
        raw = loads(text)
        raw.update(changes)
        return cls.from_dict(raw)


_JOB_FIELDS = tuple(f.name for f in dataclasses.fields(Job))
_JOB_FIELD_SET = frozenset(_JOB_FIELDS)


class QueueStats(NamedTuple):
    """Job counts of one queue at a moment ``now``.

    ``ready``: runnable now (including jobs whose lease expired); ``leased``: held by a consumer
    with a live lease; ``delayed``: waiting for ``not_before``; ``dead``: in the dead-letter queue.
    """

    ready: int
    leased: int
    delayed: int
    dead: int


@runtime_checkable
class Resource(Protocol):
    """Lifecycle shared by every adapter: ``async with adapter:`` or ``await adapter.close()``."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> bool | None: ...

    async def close(self) -> None:
        """Release connections and threads; idempotent. Later calls raise AdapterClosedError."""


@runtime_checkable
class KV(Resource, Protocol):
    """Scoped key/value store of JSON values (the state module's storage).

    ``update`` is the one atomic primitive: ``fn`` sees the current value (``None`` if absent) and
    returns the new one; no other writer, in this process or another engine, interleaves. ``fn``
    must be pure and quick: it runs in a worker thread (sqlite) and may run more than once
    (redis retries). If ``fn`` raises, nothing is written and the exception propagates.
    """

    async def get(self, scope: str, key: str) -> Any | None: ...
    async def set(self, scope: str, key: str, value: Any) -> Any | None: ...
    async def delete(self, scope: str, key: str) -> Any | None: ...
    async def update(
        self, scope: str, key: str, fn: Callable[[Any | None], Any]
    ) -> tuple[Any | None, Any]: ...
    async def list(self, scope: str) -> list[tuple[str, Any]]: ...
    async def scopes(self, prefix: str = "") -> builtins.list[str]: ...


@runtime_checkable
class Queue(Resource, Protocol):
    """Durable, at-least-once, lease-based job queue (the consumer side).

    ``reserve`` hands out up to ``limit`` jobs with ``not_before <= now`` that are not leased or
    whose lease expired (``lease_until <= now``), leases them until ``now + lease_s`` and increments
    ``attempts``. With ``fifo=True`` only the oldest job of each group is a candidate and never
    while it is leased, so a group's jobs run one at a time in push order (``group=None`` is one
    queue-wide group). A queue must be reserved in one mode only. ``ack``, ``retry`` and
    ``dead_letter`` act on a live job whoever holds its lease and are no-ops for unknown ids.
    ``push`` is a no-op for an id already in the queue or its dead-letter queue.
    """

    async def push(self, job: Job) -> None: ...
    async def reserve(
        self, queue: str, *, limit: int, lease_s: float, now: float, fifo: bool = False
    ) -> list[Job]: ...
    async def ack(self, queue: str, job_id: str) -> None: ...
    async def retry(
        self, queue: str, job_id: str, *, not_before: float, error: dict[str, Any]
    ) -> None: ...
    async def dead_letter(self, queue: str, job_id: str, *, error: dict[str, Any]) -> None: ...


@runtime_checkable
class QueueBatch(Protocol):
    """Batch fast paths: one round trip (redis) or one transaction (sqlite) per call.

    ``push_many`` pushes in order with ``push``'s rules; ``ack_many`` acks every id it is given.
    """

    async def push_many(self, jobs: list[Job]) -> None: ...
    async def ack_many(self, queue: str, job_ids: list[str]) -> None: ...


@runtime_checkable
class QueueAdmin(Protocol):
    """Inspection and dead-letter handling of a queue backend.

    ``redrive`` moves dead jobs back (at the end of their group) with ``attempts`` reset to 0 and
    ``not_before`` reset to ``enqueued_at``, so they are runnable at once.
    """

    async def dlq_list(self, queue: str, limit: int = 100) -> list[Job]: ...
    async def redrive(self, queue: str, job_id: str | None = None) -> int: ...
    async def discard(self, queue: str, job_id: str) -> bool: ...
    async def stats(self, queue: str, *, now: float | None = None) -> QueueStats: ...
    async def queues(self) -> list[str]: ...


@runtime_checkable
class QueueBackend(Queue, QueueBatch, QueueAdmin, Protocol):
    """What the queue module needs: all three parts, from one backend."""


@runtime_checkable
class PubSub(Resource, Protocol):
    """Fire-and-forget fan-out: every live subscription to a topic gets each message once, in
    publish order. Messages published while nobody is subscribed are lost.
    """

    async def publish(self, topic: str, message: Any) -> None: ...

    def subscribe(
        self, topic: str, *, max_buffer_size: int = 1000, overflow: Overflow = "drop"
    ) -> Subscription: ...


@runtime_checkable
class Lock(Resource, Protocol):
    """Expiring claims with SET NX PX semantics: the first claimer of a key wins until
    ``now + ttl_s``; from then on (``expires_at <= now``) the key can be claimed again.
    ``now`` defaults to ``time.time()``; pass it to drive time explicitly.
    """

    async def claim(self, key: str, ttl_s: float, *, now: float | None = None) -> bool: ...
    async def release(self, key: str) -> None: ...
