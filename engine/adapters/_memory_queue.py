"""In-process ``QueueBackend``: the reference implementation of the queue contract.

Theory of operation: each queue keeps its live jobs in a dict, a heap of
``(available_at, seq, version, id)`` for standard reservations, a deque of ids per fifo group
(push order; the head is the only fifo candidate) and an insertion-ordered dict of dead jobs.
``available_at`` is ``not_before`` while a job waits and ``lease_until`` while it is leased, so
one comparison with ``now`` finds both runnable and reclaimable jobs. The heap is lazy: a job
whose state changes gets a new heap entry with a bumped ``version`` and stale entries are skipped
when popped, or dropped when the heap is compacted.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

import anyio.lowlevel

from engine.adapters._resource import ResourceBase
from engine.adapters.base import Job, QueueStats, check_reserve_args, dumps, group_key, loads

__all__ = ["MemoryQueue"]


@dataclass(slots=True)
class _Entry:
    job: Job
    seq: int
    gk: str
    available_at: float
    leased: bool = False
    version: int = 0


@dataclass(slots=True)
class _State:
    entries: dict[str, _Entry] = field(default_factory=dict)
    groups: dict[str, deque[str]] = field(default_factory=dict)
    heap: list[tuple[float, int, int, str]] = field(default_factory=list)
    dead: dict[str, Job] = field(default_factory=dict)


class MemoryQueue(ResourceBase):
    """``QueueBackend`` in process memory; see ``base.Queue``/``base.QueueAdmin``."""

    def __init__(self) -> None:
        self._queues: dict[str, _State] = {}
        self._seq = itertools.count()

    async def push(self, job: Job) -> None:
        """Add ``job`` to ``job.queue`` (no-op if its id is already there or dead).

        Raises:
            SerializationError: ``job.data`` (or another field) is not JSON-serialisable.
        """
        await self.push_many([job])

    async def push_many(self, jobs: list[Job]) -> None:
        """Add several jobs, in order; same rules as :meth:`push`."""
        await self._enter()
        copies = [Job.from_json(job.to_json()) for job in jobs]  # validate all before storing
        for job in copies:
            st = self._queues.setdefault(job.queue, _State())
            if job.id not in st.entries and job.id not in st.dead:
                self._insert(st, job)

    async def reserve(
        self, queue: str, *, limit: int, lease_s: float, now: float, fifo: bool = False
    ) -> list[Job]:
        """Lease up to ``limit`` runnable jobs until ``now + lease_s`` (see ``base.Queue``).

        Returns:
            The leased jobs with ``attempts`` already incremented.

        Raises:
            ValueError: ``limit`` < 0 or ``lease_s`` <= 0.
        """
        check_reserve_args(limit, lease_s)
        await self._enter()
        st = self._queues.get(queue)
        if st is None or limit == 0:
            return []
        until = now + lease_s
        if fifo:
            heads = (st.entries[ids[0]] for ids in st.groups.values())
            ready = sorted(
                (e for e in heads if e.available_at <= now), key=lambda e: (e.available_at, e.seq)
            )
            return [self._lease(st, e, until) for e in ready[:limit]]
        out: list[Job] = []
        while st.heap and len(out) < limit and st.heap[0][0] <= now:
            _, _, version, job_id = heapq.heappop(st.heap)
            entry = st.entries.get(job_id)
            if entry is not None and entry.version == version:
                out.append(self._lease(st, entry, until))
        return out

    async def ack(self, queue: str, job_id: str) -> None:
        """Delete a live job (after its handler succeeded); no-op if unknown."""
        await self.ack_many(queue, [job_id])

    async def ack_many(self, queue: str, job_ids: list[str]) -> None:
        """Delete several live jobs; unknown ids are skipped."""
        await self._enter()
        st = self._queues.get(queue)
        if st is not None:
            for job_id in job_ids:
                self._remove(st, job_id)

    async def retry(
        self, queue: str, job_id: str, *, not_before: float, error: dict[str, Any]
    ) -> None:
        """Release the lease of a live job and make it runnable again at ``not_before``."""
        await self._enter()
        raw_error = loads(dumps(error))
        st = self._queues.get(queue)
        entry = None if st is None else st.entries.get(job_id)
        if st is not None and entry is not None:
            entry.job = replace(entry.job, not_before=not_before, last_error=raw_error)
            entry.leased = False
            self._schedule(st, entry, not_before)

    async def dead_letter(self, queue: str, job_id: str, *, error: dict[str, Any]) -> None:
        """Move a live job to the dead-letter queue with ``last_error=error``."""
        await self._enter()
        raw_error = loads(dumps(error))
        st = self._queues.get(queue)
        entry = None if st is None else self._remove(st, job_id)
        if st is not None and entry is not None:
            st.dead[job_id] = replace(entry.job, last_error=raw_error)

    async def dlq_list(self, queue: str, limit: int = 100) -> list[Job]:
        """Return up to ``limit`` dead jobs, oldest death first."""
        await self._enter()
        st = self._queues.get(queue)
        return [] if st is None else list(itertools.islice(st.dead.values(), max(limit, 0)))

    async def redrive(self, queue: str, job_id: str | None = None) -> int:
        """Move one dead job (or all, if ``job_id`` is None) back; return how many moved."""
        await self._enter()
        st = self._queues.get(queue)
        if st is None:
            return 0
        ids = list(st.dead) if job_id is None else [job_id] if job_id in st.dead else []
        for dead_id in ids:
            job = st.dead.pop(dead_id)
            self._insert(st, replace(job, attempts=0, not_before=job.enqueued_at))
        return len(ids)

    async def discard(self, queue: str, job_id: str) -> bool:
        """Delete a dead job for good; return False if it was not in the dead-letter queue."""
        await self._enter()
        st = self._queues.get(queue)
        return st is not None and st.dead.pop(job_id, None) is not None

    async def stats(self, queue: str, *, now: float | None = None) -> QueueStats:
        """Count ready, leased, delayed and dead jobs at ``now`` (default: ``time.time()``)."""
        await self._enter()
        t = time.time() if now is None else now
        st = self._queues.get(queue, _State())
        ready = leased = delayed = 0
        for e in st.entries.values():
            if e.available_at <= t:
                ready += 1
            elif e.leased:
                leased += 1
            else:
                delayed += 1
        return QueueStats(ready, leased, delayed, len(st.dead))

    async def queues(self) -> list[str]:
        """Return the sorted names of queues holding live or dead jobs."""
        await self._enter()
        return sorted(name for name, st in self._queues.items() if st.entries or st.dead)

    async def _enter(self) -> None:
        await anyio.lowlevel.checkpoint()
        self._check_open()

    async def _close(self) -> None:
        self._queues.clear()

    def _insert(self, st: _State, job: Job) -> None:
        entry = _Entry(job, next(self._seq), group_key(job.group), job.not_before)
        st.entries[job.id] = entry
        st.groups.setdefault(entry.gk, deque()).append(job.id)
        self._schedule(st, entry, job.not_before)

    def _lease(self, st: _State, entry: _Entry, until: float) -> Job:
        entry.job = replace(entry.job, attempts=entry.job.attempts + 1)
        entry.leased = True
        self._schedule(st, entry, until)
        return entry.job

    def _schedule(self, st: _State, entry: _Entry, at: float) -> None:
        entry.available_at = at
        entry.version += 1
        heapq.heappush(st.heap, (at, entry.seq, entry.version, entry.job.id))
        if len(st.heap) > 2 * len(st.entries) + 64:  # drop stale heap entries
            st.heap = [(e.available_at, e.seq, e.version, i) for i, e in st.entries.items()]
            heapq.heapify(st.heap)

    def _remove(self, st: _State, job_id: str) -> _Entry | None:
        entry = st.entries.pop(job_id, None)
        if entry is not None:
            ids = st.groups[entry.gk]
            ids.remove(job_id)
            if not ids:
                del st.groups[entry.gk]
        return entry
