"""SQLite ``QueueBackend``: durable jobs in tables ``queue_jobs`` and ``queue_dead``.

Theory of operation: a live job is one row. ``available_at`` is ``not_before`` while the job
waits and ``lease_until`` while it is leased, so the index ``(queue, available_at, seq)`` finds
runnable and reclaimable jobs in one range scan; ``seq`` (the rowid) is push order. ``reserve`` is
a single ``UPDATE ... WHERE seq IN (SELECT ... LIMIT n) RETURNING``, atomic across connections
and processes, so a batch costs one thread hop and one commit. In fifo mode the candidates are
each group's oldest row (``MIN(seq)`` over the index ``(queue, gkey, seq)``); a leased head is
not runnable, which keeps a group to one job at a time. Dead jobs are whole-job JSON rows in
``queue_dead``, ordered by the time they died.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from engine.adapters._resource import ResourceBase
from engine.adapters._sqlite_db import Database, Synchronous
from engine.adapters.base import Job, QueueStats, check_reserve_args, dumps, group_key, loads

__all__ = ["SqliteQueue"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue_jobs (
    seq          INTEGER PRIMARY KEY,
    queue        TEXT NOT NULL,
    id           TEXT NOT NULL,
    gkey         TEXT NOT NULL,
    available_at REAL NOT NULL,
    leased       INTEGER NOT NULL DEFAULT 0,
    not_before   REAL NOT NULL,
    attempts     INTEGER NOT NULL,
    last_error   TEXT,
    body         TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS queue_jobs_id ON queue_jobs (queue, id);
CREATE INDEX IF NOT EXISTS queue_jobs_due ON queue_jobs (queue, available_at, seq);
CREATE INDEX IF NOT EXISTS queue_jobs_group ON queue_jobs (queue, gkey, seq);
CREATE TABLE IF NOT EXISTS queue_dead (
    seq   INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    id    TEXT NOT NULL,
    job   TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS queue_dead_id ON queue_dead (queue, id);
"""

_INSERT = """
INSERT INTO queue_jobs (queue, id, gkey, available_at, not_before, attempts, last_error, body)
SELECT ?, ?, ?, ?, ?, ?, ?, ?
WHERE NOT EXISTS (SELECT 1 FROM queue_dead WHERE queue = ? AND id = ?)
ON CONFLICT (queue, id) DO NOTHING
"""

_LEASE = """
UPDATE queue_jobs SET leased = 1, available_at = :until, attempts = attempts + 1
WHERE seq IN ({candidates})
RETURNING seq, body, attempts, last_error, not_before
"""
_STANDARD = """
SELECT seq FROM queue_jobs WHERE queue = :queue AND available_at <= :now
ORDER BY available_at, seq LIMIT :limit
"""
_FIFO = """
SELECT j.seq FROM (SELECT MIN(seq) AS seq FROM queue_jobs WHERE queue = :queue GROUP BY gkey) h
JOIN queue_jobs j ON j.seq = h.seq WHERE j.available_at <= :now
ORDER BY j.available_at, j.seq LIMIT :limit
"""
_RESERVE = {
    False: _LEASE.format(candidates=_STANDARD),
    True: _LEASE.format(candidates=_FIFO),
}

Row = tuple[str, str, str, float, float, int, str | None, str, str, str]


def _row(job: Job) -> Row:
    err = None if job.last_error is None else dumps(job.last_error)
    gk = group_key(job.group)
    body = job.to_json()
    return (job.queue, job.id, gk, job.not_before, job.not_before, job.attempts, err, body,
            job.queue, job.id)  # fmt: skip


def _job(body: str, attempts: int, last_error: str | None, not_before: float) -> Job:
    err = None if last_error is None else loads(last_error)
    return Job.from_json(body, attempts=attempts, last_error=err, not_before=not_before)


def _distinct_queues(conn: sqlite3.Connection, table: str) -> list[str]:
    # Skip-scan the (queue, id) index: one seek per distinct queue.
    found: list[str] = []
    row = conn.execute(f"SELECT MIN(queue) FROM {table}").fetchone()
    while row is not None and row[0] is not None:
        found.append(str(row[0]))
        row = conn.execute(f"SELECT MIN(queue) FROM {table} WHERE queue > ?", (row[0],)).fetchone()
    return found


class SqliteQueue(ResourceBase):
    """``QueueBackend`` in a SQLite file; see ``base.Queue``/``base.QueueAdmin``.

    Args:
        path: database file, created with its directory if missing.
        synchronous: ``"NORMAL"`` (survives process crashes) or ``"FULL"`` (and power loss).
        busy_timeout_s: how long to wait for another connection's write lock.
    """

    def __init__(
        self, path: str | Path, *, synchronous: Synchronous = "NORMAL", busy_timeout_s: float = 10.0
    ) -> None:
        self._db = Database(path, _SCHEMA, synchronous=synchronous, busy_timeout_s=busy_timeout_s)

    async def push(self, job: Job) -> None:
        """Add ``job`` to ``job.queue`` (no-op if its id is already there or dead).

        Raises:
            SerializationError: a field of ``job`` is not JSON-serialisable.
            AdapterUnavailableError: SQLite failed.
        """
        await self.push_many([job])

    async def push_many(self, jobs: list[Job]) -> None:
        """Add several jobs in one transaction (the fast path); same rules as :meth:`push`."""
        self._check_open()
        rows = [_row(job) for job in jobs]
        if rows:
            await self._db.transaction(lambda c: c.executemany(_INSERT, rows))

    async def reserve(
        self, queue: str, *, limit: int, lease_s: float, now: float, fifo: bool = False
    ) -> list[Job]:
        """Lease up to ``limit`` runnable jobs until ``now + lease_s`` in one statement.

        Returns:
            The leased jobs, ``attempts`` already incremented, in push order.

        Raises:
            ValueError: ``limit`` < 0 or ``lease_s`` <= 0.
            AdapterUnavailableError: SQLite failed.
        """
        check_reserve_args(limit, lease_s)
        self._check_open()
        if limit == 0:
            return []
        args = {"queue": queue, "now": now, "limit": limit, "until": now + lease_s}
        sql = _RESERVE[fifo]
        rows = await self._db.run(lambda c: c.execute(sql, args).fetchall())
        return [_job(*row[1:]) for row in sorted(rows)]

    async def ack(self, queue: str, job_id: str) -> None:
        """Delete a live job (after its handler succeeded); no-op if unknown."""
        self._check_open()
        sql = "DELETE FROM queue_jobs WHERE queue = ? AND id = ?"
        await self._db.run(lambda c: c.execute(sql, (queue, job_id)))

    async def ack_many(self, queue: str, job_ids: list[str]) -> None:
        """Delete several live jobs in one transaction; unknown ids are skipped."""
        self._check_open()
        sql = "DELETE FROM queue_jobs WHERE queue = ? AND id = ?"
        rows = [(queue, job_id) for job_id in job_ids]
        if rows:
            await self._db.transaction(lambda c: c.executemany(sql, rows))

    async def retry(
        self, queue: str, job_id: str, *, not_before: float, error: dict[str, Any]
    ) -> None:
        """Release the lease of a live job and make it runnable again at ``not_before``."""
        self._check_open()
        sql = (
            "UPDATE queue_jobs SET leased = 0, available_at = ?, not_before = ?, last_error = ? "
            "WHERE queue = ? AND id = ?"
        )
        args = (not_before, not_before, dumps(error), queue, job_id)
        await self._db.run(lambda c: c.execute(sql, args))

    async def dead_letter(self, queue: str, job_id: str, *, error: dict[str, Any]) -> None:
        """Move a live job to the dead-letter queue with ``last_error=error``."""
        self._check_open()
        raw_error = dumps(error)

        def txn(conn: sqlite3.Connection) -> None:
            sql = (
                "DELETE FROM queue_jobs WHERE queue = ? AND id = ? "
                "RETURNING body, attempts, last_error, not_before"
            )
            row = conn.execute(sql, (queue, job_id)).fetchone()
            if row is not None:
                job = _job(row[0], row[1], raw_error, row[3])
                sql = "INSERT OR REPLACE INTO queue_dead (queue, id, job) VALUES (?, ?, ?)"
                conn.execute(sql, (queue, job_id, job.to_json()))

        await self._db.transaction(txn)

    async def dlq_list(self, queue: str, limit: int = 100) -> list[Job]:
        """Return up to ``limit`` dead jobs, oldest death first."""
        self._check_open()
        sql = "SELECT job FROM queue_dead WHERE queue = ? ORDER BY seq LIMIT ?"
        rows = await self._db.run(lambda c: c.execute(sql, (queue, max(limit, 0))).fetchall())
        return [Job.from_json(row[0]) for row in rows]

    async def redrive(self, queue: str, job_id: str | None = None) -> int:
        """Move one dead job (or all, if ``job_id`` is None) back; return how many moved."""
        self._check_open()

        def txn(conn: sqlite3.Connection) -> int:
            sql = "DELETE FROM queue_dead WHERE queue = ? AND (? IS NULL OR id = ?) RETURNING seq, job"
            dead = sorted(conn.execute(sql, (queue, job_id, job_id)).fetchall())
            jobs = [Job.from_json(raw) for _, raw in dead]
            rows = [_row(replace(j, attempts=0, not_before=j.enqueued_at)) for j in jobs]
            conn.executemany(_INSERT, rows)
            return len(rows)

        return await self._db.transaction(txn)

    async def discard(self, queue: str, job_id: str) -> bool:
        """Delete a dead job for good; return False if it was not in the dead-letter queue."""
        self._check_open()
        sql = "DELETE FROM queue_dead WHERE queue = ? AND id = ?"
        return bool(await self._db.run(lambda c: c.execute(sql, (queue, job_id)).rowcount))

    async def stats(self, queue: str, *, now: float | None = None) -> QueueStats:
        """Count ready, leased, delayed and dead jobs at ``now`` (default: ``time.time()``)."""
        self._check_open()
        t = time.time() if now is None else now
        live = (
            "SELECT COALESCE(SUM(available_at <= :now), 0), "
            "COALESCE(SUM(available_at > :now AND leased), 0), "
            "COALESCE(SUM(available_at > :now AND NOT leased), 0) "
            "FROM queue_jobs WHERE queue = :queue"
        )
        dead = "SELECT COUNT(*) FROM queue_dead WHERE queue = :queue"

        def count(conn: sqlite3.Connection) -> QueueStats:
            args = {"queue": queue, "now": t}
            ready, leased, delayed = conn.execute(live, args).fetchone()
            return QueueStats(ready, leased, delayed, conn.execute(dead, args).fetchone()[0])

        return await self._db.run(count)

    async def queues(self) -> list[str]:
        """Return the sorted names of queues holding live or dead jobs."""
        self._check_open()

        def walk(conn: sqlite3.Connection) -> list[str]:
            return sorted(
                set(_distinct_queues(conn, "queue_jobs") + _distinct_queues(conn, "queue_dead"))
            )

        return await self._db.run(walk)

    async def _open(self) -> None:
        await self._db.open()

    async def _close(self) -> None:
        await self._db.close()
