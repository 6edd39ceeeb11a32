"""One SQLite connection driven from worker threads, one call at a time.

Theory of operation: sqlite3 calls block, so every call runs in an anyio worker thread behind a
``CapacityLimiter(1)``: the event loop never blocks and the connection is never used by two
threads at once. The database is in WAL mode with ``synchronous=NORMAL`` by default, which keeps
every committed transaction across a crash or ``kill -9`` of the process (``FULL`` adds power-loss
durability at a cost per commit). Several connections, in this process or others, may share one
file; writers serialise on SQLite's write lock and wait up to ``busy_timeout_s`` for it.
``sqlite3.Error`` is translated to ``AdapterUnavailableError`` here and nowhere else.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Literal, TypeVar

import anyio
import anyio.to_thread

from engine.adapters.base import AdapterClosedError, AdapterConfigError, AdapterUnavailableError

__all__ = ["Database", "Synchronous"]

T = TypeVar("T")
Synchronous = Literal["NORMAL", "FULL"]


class Database:
    """A lazily opened sqlite3 connection plus the schema its adapter needs.

    Args:
        path: database file (parent directories are created) or ``":memory:"``.
        schema: SQL script run once at open (``CREATE TABLE IF NOT EXISTS ...``).
        synchronous: ``"NORMAL"`` (durable across process crashes) or ``"FULL"``.
        busy_timeout_s: how long a writer waits for another connection's write lock.

    Raises:
        AdapterConfigError: ``synchronous`` is not NORMAL or FULL.
    """

    def __init__(
        self,
        path: str | Path,
        schema: str,
        *,
        synchronous: Synchronous = "NORMAL",
        busy_timeout_s: float = 10.0,
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise AdapterConfigError(f"synchronous must be NORMAL or FULL, got {synchronous!r}")
        self.path = str(path)
        self._schema = schema
        self._synchronous = synchronous
        self._busy_timeout_s = busy_timeout_s
        self._conn: sqlite3.Connection | None = None
        self._limiter = anyio.CapacityLimiter(1)
        self._closed = False

    async def open(self) -> None:
        """Connect, switch to WAL and create the schema; idempotent.

        Raises:
            AdapterUnavailableError: the file cannot be opened or created.
            AdapterClosedError: ``close()`` was called.
        """
        if self._closed:
            raise AdapterClosedError(f"database {self.path} is closed")
        if self._conn is None:
            await self._call(self._connect_once)  # serialised by the limiter: one connection

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` in the database thread outside an explicit transaction.

        Use for reads and single-statement writes (each statement is atomic on its own).

        Raises:
            AdapterUnavailableError: SQLite failed.
        """
        conn = await self._connection()
        return await self._call(partial(fn, conn))

    async def transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` inside ``BEGIN IMMEDIATE ... COMMIT`` in the database thread.

        The write lock is taken before ``fn`` reads, so read-modify-write in ``fn`` is atomic
        against every other connection to the file. If ``fn`` raises, the transaction is rolled
        back and the exception propagates unchanged.

        Raises:
            AdapterUnavailableError: SQLite failed (including waiting too long for the lock).
        """
        conn = await self._connection()
        return await self._call(partial(_transaction, conn, fn))

    async def close(self) -> None:
        """Close the connection (waiting for a running call); idempotent."""
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            with anyio.CancelScope(shield=True):
                await self._call(conn.close)

    async def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            await self.open()
        if self._conn is None:  # closed while opening
            raise AdapterClosedError(f"database {self.path} is closed")
        return self._conn

    async def _call(self, fn: Callable[[], T]) -> T:
        try:
            return await anyio.to_thread.run_sync(fn, limiter=self._limiter)
        except sqlite3.Error as exc:
            raise AdapterUnavailableError(f"sqlite {self.path}: {exc}") from exc

    def _connect_once(self) -> None:
        if self._conn is None and not self._closed:
            self._conn = self._connect()

    def _connect(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path,
            timeout=self._busy_timeout_s,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.executescript(self._schema)
        except BaseException:
            conn.close()
            raise
        return conn


def _transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # SQLite may already have rolled back (e.g. disk full)
            conn.execute("ROLLBACK")
        raise
    return result
