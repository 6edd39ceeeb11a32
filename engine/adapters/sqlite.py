"""SQLite backends: the embedded default, durable across ``kill -9`` (WAL, see ``_sqlite_db``).

Theory of operation: each adapter owns one connection to the file and its own tables, so the
state, queue and cron modules can all point at one ``./data/agentos.db``. Atomic read-modify-write
runs inside ``BEGIN IMMEDIATE``, which serialises writers across every connection and process
using the file. Pub/sub has no SQLite transport: with the sqlite backend it is in-process only
(``memory.LocalPubSub``) and does not reach other engines; use redis for that.
"""

from __future__ import annotations

import builtins
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.adapters._resource import ResourceBase
from engine.adapters._sqlite_db import Database, Synchronous
from engine.adapters._sqlite_queue import SqliteQueue
from engine.adapters.base import dumps, loads

__all__ = ["SqliteKV", "SqliteLock", "SqliteQueue"]

_KV_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    scope TEXT NOT NULL,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
"""

_LOCK_SCHEMA = """
CREATE TABLE IF NOT EXISTS locks (
    key        TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
) WITHOUT ROWID;
"""

_UPSERT = (
    "INSERT INTO kv (scope, key, value) VALUES (?, ?, ?) "
    "ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value"
)
_SELECT = "SELECT value FROM kv WHERE scope = ? AND key = ?"


def _get(conn: sqlite3.Connection, scope: str, key: str) -> str | None:
    row = conn.execute(_SELECT, (scope, key)).fetchone()
    return None if row is None else str(row[0])


def _decode(raw: str | None) -> Any | None:
    return None if raw is None else loads(raw)


class SqliteKV(ResourceBase):
    """``KV`` in table ``kv`` of a SQLite file; see ``base.KV`` for the contract.

    Args:
        path: database file, created with its directory if missing.
        synchronous: ``"NORMAL"`` (survives process crashes) or ``"FULL"`` (and power loss).
        busy_timeout_s: how long to wait for another connection's write lock.
    """

    def __init__(
        self, path: str | Path, *, synchronous: Synchronous = "NORMAL", busy_timeout_s: float = 10.0
    ) -> None:
        self._db = Database(
            path, _KV_SCHEMA, synchronous=synchronous, busy_timeout_s=busy_timeout_s
        )

    async def get(self, scope: str, key: str) -> Any | None:
        """Return the value at ``scope``/``key``, or None if absent."""
        self._check_open()
        return _decode(await self._db.run(lambda c: _get(c, scope, key)))

    async def set(self, scope: str, key: str, value: Any) -> Any | None:
        """Store ``value``; return the previous value (None if absent).

        Raises:
            SerializationError: ``value`` is not JSON-serialisable.
            AdapterUnavailableError: SQLite failed.
        """
        self._check_open()
        raw = dumps(value)

        def txn(conn: sqlite3.Connection) -> str | None:
            old = _get(conn, scope, key)
            conn.execute(_UPSERT, (scope, key, raw))
            return old

        return _decode(await self._db.transaction(txn))

    async def delete(self, scope: str, key: str) -> Any | None:
        """Remove ``scope``/``key``; return the removed value (None if absent)."""
        self._check_open()
        sql = "DELETE FROM kv WHERE scope = ? AND key = ? RETURNING value"
        row = await self._db.run(lambda c: c.execute(sql, (scope, key)).fetchone())
        return None if row is None else loads(row[0])

    async def update(
        self, scope: str, key: str, fn: Callable[[Any | None], Any]
    ) -> tuple[Any | None, Any]:
        """Atomically replace the value with ``fn(current)`` under ``BEGIN IMMEDIATE``.

        ``fn`` runs in the database thread while the write lock is held: keep it pure and quick.

        Returns:
            ``(old, new)``.

        Raises:
            SerializationError: ``fn`` returned a non-JSON value (nothing is written).
            Exception: whatever ``fn`` raises (nothing is written).
            AdapterUnavailableError: SQLite failed.
        """
        self._check_open()

        def txn(conn: sqlite3.Connection) -> tuple[str | None, str]:
            old = _get(conn, scope, key)
            new = dumps(fn(_decode(old)))
            conn.execute(_UPSERT, (scope, key, new))
            return old, new

        old, new = await self._db.transaction(txn)
        return _decode(old), loads(new)

    async def list(self, scope: str) -> list[tuple[str, Any]]:
        """Return ``(key, value)`` pairs of ``scope`` sorted by key."""
        self._check_open()
        sql = "SELECT key, value FROM kv WHERE scope = ? ORDER BY key"
        rows = await self._db.run(lambda c: c.execute(sql, (scope,)).fetchall())
        return [(str(k), loads(v)) for k, v in rows]

    async def scopes(self, prefix: str = "") -> builtins.list[str]:
        """Return the sorted scopes that start with ``prefix`` and hold at least one key."""
        self._check_open()

        def walk(conn: sqlite3.Connection) -> list[str]:
            # Skip-scan the primary key: one index seek per distinct scope, not per row.
            found: list[str] = []
            sql = "SELECT scope FROM kv WHERE scope >= ? ORDER BY scope LIMIT 1"
            row = conn.execute(sql, (prefix,)).fetchone()
            while row is not None and str(row[0]).startswith(prefix):
                found.append(str(row[0]))
                sql = "SELECT scope FROM kv WHERE scope > ? ORDER BY scope LIMIT 1"
                row = conn.execute(sql, (found[-1],)).fetchone()
            return found

        return await self._db.run(walk)

    async def _open(self) -> None:
        await self._db.open()

    async def _close(self) -> None:
        await self._db.close()


class SqliteLock(ResourceBase):
    """``Lock`` in table ``locks`` of a SQLite file; see ``base.Lock`` for the contract.

    Args:
        path: database file, created with its directory if missing.
        synchronous: ``"NORMAL"`` or ``"FULL"``.
        busy_timeout_s: how long to wait for another connection's write lock.
    """

    _GC_EVERY = 256

    def __init__(
        self, path: str | Path, *, synchronous: Synchronous = "NORMAL", busy_timeout_s: float = 10.0
    ) -> None:
        self._db = Database(
            path, _LOCK_SCHEMA, synchronous=synchronous, busy_timeout_s=busy_timeout_s
        )
        self._claims = 0

    async def claim(self, key: str, ttl_s: float, *, now: float | None = None) -> bool:
        """Claim ``key`` until ``now + ttl_s`` unless a live claim exists (one statement).

        Returns:
            True if this call won the claim.

        Raises:
            ValueError: ``ttl_s`` <= 0.
            AdapterUnavailableError: SQLite failed.
        """
        self._check_open()
        if not ttl_s > 0:
            raise ValueError(f"ttl_s must be > 0, got {ttl_s}")
        t = time.time() if now is None else now
        self._claims += 1
        sweep = self._claims % self._GC_EVERY == 0
        sql = (
            "INSERT INTO locks (key, expires_at) VALUES (?, ?) ON CONFLICT (key) "
            "DO UPDATE SET expires_at = excluded.expires_at WHERE locks.expires_at <= ?"
        )

        def claim(conn: sqlite3.Connection) -> bool:
            won = conn.execute(sql, (key, t + ttl_s, t)).rowcount == 1
            if sweep:  # expired claims are dead weight: cron keys are unique per firing
                conn.execute("DELETE FROM locks WHERE expires_at <= ?", (t,))
            return won

        return await self._db.run(claim)

    async def release(self, key: str) -> None:
        """Drop any claim on ``key`` (whoever holds it)."""
        self._check_open()
        await self._db.run(lambda c: c.execute("DELETE FROM locks WHERE key = ?", (key,)))

    async def _open(self) -> None:
        await self._db.open()

    async def _close(self) -> None:
        await self._db.close()
