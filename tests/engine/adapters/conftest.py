"""Fixtures for the adapter contract suites: one ``backend`` per implementation.

The ``backend`` fixture is parametrised over memory, sqlite and redis. The redis parameter is
marked ``redis`` and skips, with the reason shown by ``-ra``, when nothing answers at
``$REDIS_URL``. Every redis test gets its own key prefix and deletes its keys afterwards.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, Literal

import pytest
import redis
from redis.asyncio import Redis

from engine.adapters import (
    KV,
    LocalPubSub,
    Lock,
    MemoryKV,
    MemoryLock,
    MemoryQueue,
    PubSub,
    QueueBackend,
    RedisKV,
    RedisLock,
    RedisPubSub,
    RedisQueue,
    SqliteKV,
    SqliteLock,
    SqliteQueue,
)

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")
Kind = Literal["memory", "sqlite", "redis"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@functools.cache
def redis_unavailable() -> str | None:
    """Why Redis cannot be used (None if it answers PING)."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"no Redis answering at {REDIS_URL}: {exc}"
    finally:
        client.close()
    return None


class Backend:
    """Opens adapters of one kind over one store and closes them when the test ends.

    ``open_*`` returns another handle on the *same* storage: a second connection to the sqlite
    file, a second client on the redis prefix. Memory storage lives in the instance, so there
    the "other handle" is the same instance (and memory is not ``durable``).
    """

    def __init__(self, kind: Kind, path: Path, prefix: str, stack: AsyncExitStack) -> None:
        self.kind = kind
        self.path = path
        self.prefix = prefix
        self.durable = kind != "memory"
        self._stack = stack
        self._memory: dict[str, Any] = {}

    async def _enter(self, adapter: Any) -> Any:
        return await self._stack.enter_async_context(adapter)

    def _shared(self, role: str, factory: Any) -> Any:
        if role not in self._memory:
            self._memory[role] = factory()
        return self._memory[role]

    async def open_kv(self) -> KV:
        if self.kind == "sqlite":
            adapter: KV = SqliteKV(self.path)
        elif self.kind == "redis":
            adapter = RedisKV(REDIS_URL, prefix=self.prefix)
        else:
            adapter = self._shared("kv", MemoryKV)
        return await self._enter(adapter)  # type: ignore[no-any-return]

    async def open_queue(self) -> QueueBackend:
        if self.kind == "sqlite":
            adapter: QueueBackend = SqliteQueue(self.path)
        elif self.kind == "redis":
            adapter = RedisQueue(REDIS_URL, prefix=self.prefix)
        else:
            adapter = self._shared("queue", MemoryQueue)
        return await self._enter(adapter)  # type: ignore[no-any-return]

    async def open_lock(self) -> Lock:
        if self.kind == "sqlite":
            adapter: Lock = SqliteLock(self.path)
        elif self.kind == "redis":
            adapter = RedisLock(REDIS_URL, prefix=self.prefix)
        else:
            adapter = self._shared("lock", MemoryLock)
        return await self._enter(adapter)  # type: ignore[no-any-return]

    async def open_pubsub(self) -> PubSub:
        """Redis: a new engine's view of the bus; memory/sqlite: the one in-process bus."""
        if self.kind == "redis":
            return await self._enter(RedisPubSub(REDIS_URL, prefix=self.prefix))  # type: ignore[no-any-return]
        return await self._enter(self._shared("pubsub", LocalPubSub))  # type: ignore[no-any-return]


async def _delete_prefix(prefix: str) -> None:
    client = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    kind: Kind = request.param
    if kind == "redis" and (reason := redis_unavailable()) is not None:
        pytest.skip(reason)
    prefix = f"agentos-test:{uuid.uuid4().hex}:"
    try:
        async with AsyncExitStack() as stack:
            yield Backend(kind, tmp_path / "agentos.db", prefix, stack)
    finally:
        if kind == "redis":
            await _delete_prefix(prefix)
