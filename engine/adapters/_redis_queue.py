"""Redis ``QueueBackend``: every state change is one Lua script, so one round trip and atomic.

Theory of operation: keys of queue Q live under ``{prefix}q:{Q}:``:

- ``j:{id}`` hash: ``body`` (job JSON as pushed), ``att`` attempts, ``err`` last error JSON (or
  empty), ``nb`` not_before, ``gk`` group key, ``ea`` enqueued_at;
- ``sched`` zset id -> ``available_at`` (``not_before`` while waiting, ``lease_until`` while
  leased): ``ZRANGEBYSCORE -inf now`` finds runnable and reclaimable jobs alike;
- ``leased`` zset id -> ``lease_until`` (for ``stats``);
- ``g:{gk}`` zset id -> push seq (so removing any member is O(log n)), and ``heads`` zset
  gk -> ``available_at`` of the group's oldest job: fifo ``reserve`` only ever takes heads, and
  a leased head keeps its group waiting;
- ``dlq`` zset id -> death order (the job hash stays, with ``err`` set); ``seq`` the counter.

``{prefix}queues`` is the set of queues holding jobs. The scripts are in ``_redis_scripts``.
"""

from __future__ import annotations

import time
from typing import Any

from redis.asyncio import Redis

from engine.adapters import _redis_scripts as lua
from engine.adapters._redis_conn import DEFAULT_PREFIX, RedisResource, aw, translate
from engine.adapters.base import Job, QueueStats, check_reserve_args, dumps, group_key, loads

__all__ = ["RedisQueue"]

_CHUNK = 500  # jobs per script call: bounds the time Redis spends in one script


def _args(job: Job) -> list[str]:
    err = "" if job.last_error is None else dumps(job.last_error)
    return [job.id, job.to_json(), str(job.attempts), err, repr(float(job.not_before)),
            group_key(job.group), repr(float(job.enqueued_at))]  # fmt: skip


def _jobs(flat: list[Any]) -> list[Job]:
    jobs = []
    for i in range(0, len(flat), 4):
        body, att, err, nb = flat[i : i + 4]
        last_error = loads(err) if err else None
        jobs.append(
            Job.from_json(body, attempts=int(att), last_error=last_error, not_before=float(nb))
        )
    return jobs


class RedisQueue(RedisResource):
    """``QueueBackend`` in Redis; see ``base.Queue``/``base.QueueAdmin`` for the contract and
    ``RedisResource`` for the arguments."""

    def __init__(
        self, url: str | None = None, *, prefix: str = DEFAULT_PREFIX, client: Redis | None = None
    ) -> None:
        super().__init__(url, prefix=prefix, client=client)
        script = self._client.register_script
        self._push, self._reserve = script(lua.PUSH), script(lua.RESERVE)
        self._finish, self._retry = script(lua.FINISH), script(lua.RETRY)
        self._redrive, self._discard = script(lua.REDRIVE), script(lua.DISCARD)
        self._dlq_list = script(lua.DLQ_LIST)
        self._queues_key = f"{prefix}queues"

    def _base(self, queue: str) -> str:
        return f"{self.prefix}q:{queue}:"

    async def push(self, job: Job) -> None:
        """Add ``job`` to ``job.queue`` (no-op if its id is already there or dead).

        Raises:
            SerializationError: a field of ``job`` is not JSON-serialisable.
            AdapterUnavailableError: Redis is unreachable.
        """
        await self.push_many([job])

    async def push_many(self, jobs: list[Job]) -> None:
        """Add several jobs with one script call per queue and 500 jobs; rules as :meth:`push`."""
        self._check_open()
        by_queue: dict[str, list[str]] = {}
        for job in jobs:
            by_queue.setdefault(job.queue, []).extend(_args(job))
        for queue, args in by_queue.items():
            step = 7 * _CHUNK
            for i in range(0, len(args), step):
                with translate():
                    await self._push(
                        keys=[self._queues_key],
                        args=[self._base(queue), queue, *args[i : i + step]],
                    )

    async def reserve(
        self, queue: str, *, limit: int, lease_s: float, now: float, fifo: bool = False
    ) -> list[Job]:
        """Lease up to ``limit`` runnable jobs until ``now + lease_s`` in one script call.

        Returns:
            The leased jobs with ``attempts`` already incremented.

        Raises:
            ValueError: ``limit`` < 0 or ``lease_s`` <= 0.
            AdapterUnavailableError: Redis is unreachable.
        """
        check_reserve_args(limit, lease_s)
        self._check_open()
        if limit == 0:
            return []
        until = repr(float(now + lease_s))
        args: list[str | int] = [self._base(queue), repr(float(now)), limit, until, int(fifo)]
        with translate():
            flat = await self._reserve(args=args)
        return _jobs(flat)

    async def ack(self, queue: str, job_id: str) -> None:
        """Delete a live job (after its handler succeeded); no-op if unknown."""
        await self.ack_many(queue, [job_id])

    async def ack_many(self, queue: str, job_ids: list[str]) -> None:
        """Delete several live jobs with one script call per 500 ids; unknown ids are skipped."""
        self._check_open()
        for i in range(0, len(job_ids), _CHUNK):
            args = [self._base(queue), queue, "ack", "", *job_ids[i : i + _CHUNK]]
            with translate():
                await self._finish(keys=[self._queues_key], args=args)

    async def retry(
        self, queue: str, job_id: str, *, not_before: float, error: dict[str, Any]
    ) -> None:
        """Release the lease of a live job and make it runnable again at ``not_before``."""
        self._check_open()
        args = [self._base(queue), job_id, repr(float(not_before)), dumps(error)]
        with translate():
            await self._retry(args=args)

    async def dead_letter(self, queue: str, job_id: str, *, error: dict[str, Any]) -> None:
        """Move a live job to the dead-letter queue with ``last_error=error``."""
        self._check_open()
        args = [self._base(queue), queue, "dead", dumps(error), job_id]
        with translate():
            await self._finish(keys=[self._queues_key], args=args)

    async def dlq_list(self, queue: str, limit: int = 100) -> list[Job]:
        """Return up to ``limit`` dead jobs, oldest death first."""
        self._check_open()
        if limit <= 0:
            return []
        with translate():
            return _jobs(await self._dlq_list(args=[self._base(queue), limit]))

    async def redrive(self, queue: str, job_id: str | None = None) -> int:
        """Move one dead job (or all, if ``job_id`` is None) back; return how many moved."""
        self._check_open()
        with translate():
            return int(await self._redrive(args=[self._base(queue), job_id or ""]))

    async def discard(self, queue: str, job_id: str) -> bool:
        """Delete a dead job for good; return False if it was not in the dead-letter queue."""
        self._check_open()
        args = [self._base(queue), queue, job_id]
        with translate():
            return bool(await self._discard(keys=[self._queues_key], args=args))

    async def stats(self, queue: str, *, now: float | None = None) -> QueueStats:
        """Count ready, leased, delayed and dead jobs at ``now`` (default: ``time.time()``)."""
        self._check_open()
        t = repr(float(time.time() if now is None else now))
        base = self._base(queue)
        with translate():
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.zcount(base + "sched", "-inf", t)
                pipe.zcount(base + "leased", "(" + t, "+inf")
                pipe.zcard(base + "sched")
                pipe.zcard(base + "dlq")
                ready, leased, total, dead = await pipe.execute()
        return QueueStats(ready, leased, total - ready - leased, dead)

    async def queues(self) -> list[str]:
        """Return the sorted names of queues holding live or dead jobs."""
        self._check_open()
        with translate():
            names: set[bytes] = await aw(self._client.smembers(self._queues_key))
        return sorted(n.decode() for n in names)
