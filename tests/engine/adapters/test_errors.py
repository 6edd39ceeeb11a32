"""Foreign errors are translated at the adapter boundary (STYLE rule 6); no server needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.adapters import (
    AdapterUnavailableError,
    Job,
    RedisKV,
    RedisLock,
    RedisPubSub,
    RedisQueue,
    SqliteKV,
    SqliteQueue,
)

pytestmark = pytest.mark.anyio

DEAD_REDIS = "redis://127.0.0.1:1"  # nothing listens on port 1


async def test_redis_errors_become_adapter_unavailable() -> None:
    async with RedisKV(DEAD_REDIS) as kv:
        with pytest.raises(AdapterUnavailableError) as info:
            await kv.get("s", "k")
        assert info.value.__cause__ is not None
        with pytest.raises(AdapterUnavailableError):
            await kv.update("s", "k", lambda v: v)
    async with RedisQueue(DEAD_REDIS) as queue:
        with pytest.raises(AdapterUnavailableError):
            await queue.push(Job(id="a", queue="q", function_id="f"))
        with pytest.raises(AdapterUnavailableError):
            await queue.reserve("q", limit=1, lease_s=1, now=0)
    async with RedisLock(DEAD_REDIS) as lock:
        with pytest.raises(AdapterUnavailableError):
            await lock.claim("k", 1, now=0)
    async with RedisPubSub(DEAD_REDIS) as pubsub:
        with pytest.raises(AdapterUnavailableError):
            await pubsub.publish("t", 1)
        with pytest.raises(AdapterUnavailableError):
            async with pubsub.subscribe("t"):
                pass


async def test_sqlite_errors_become_adapter_unavailable(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()  # a directory cannot be opened as a database
    kv = SqliteKV(tmp_path / "dir.db")
    with pytest.raises(AdapterUnavailableError) as info:
        async with kv:
            pass
    assert "dir.db" in str(info.value)
    queue = SqliteQueue(tmp_path / "dir.db")
    try:
        with pytest.raises(AdapterUnavailableError):
            await queue.stats("q", now=0)
    finally:
        await queue.close()
