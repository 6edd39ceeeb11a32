"""``engine.adapters.factory``: every accepted spelling, table-driven, plus the built types."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.adapters import (
    AdapterConfigError,
    AdapterSpec,
    LocalPubSub,
    MemoryKV,
    MemoryLock,
    MemoryQueue,
    RedisKV,
    RedisLock,
    RedisPubSub,
    RedisQueue,
    SqliteKV,
    SqliteLock,
    SqliteQueue,
    build_kv,
    build_lock,
    build_pubsub,
    build_queue,
    parse_spec,
)

pytestmark = pytest.mark.anyio

DB = "./data/agentos.db"


@pytest.mark.parametrize(
    ("spec", "kind", "where"),
    [
        (None, "memory", ""),
        ("memory", "memory", ""),
        ({"name": "memory"}, "memory", ""),
        ({"name": "in_memory"}, "memory", ""),
        ({"name": "local"}, "memory", ""),
        ({"name": "sqlite"}, "sqlite", DB),
        ({"name": "sqlite", "config": {"path": "/tmp/a.db"}}, "sqlite", "/tmp/a.db"),
        ({"name": "redis", "config": {"url": "redis://h:1/2"}}, "redis", "redis://h:1/2"),
        ({"name": "redis", "config": {"redis_url": "redis://h:1"}}, "redis", "redis://h:1"),
        ({"name": "kv"}, "memory", ""),
        ({"name": "kv", "config": {"store_method": "in_memory"}}, "memory", ""),
        (
            {"name": "kv", "config": {"store_method": "file_based", "file_path": "./s.db"}},
            "sqlite",
            "./s.db",
        ),
        ({"name": "kv", "config": {"store_method": "file_based"}}, "sqlite", DB),
        ({"name": "builtin", "config": {"store_method": "file_based"}}, "sqlite", DB),
        ({"name": "builtin"}, "memory", ""),
        ({"class": "modules::state::adapters::KvStore"}, "memory", ""),
        (
            {
                "class": "modules::state::adapters::KvStore",
                "config": {"store_method": "file_based", "file_path": "x.db"},
            },
            "sqlite",
            "x.db",
        ),
        ({"class": "modules::state::adapters::RedisAdapter"}, "redis", "*"),
        ({"class": "modules::queue::adapters::BuiltinQueueAdapter"}, "memory", ""),
        ({"class": "modules::pubsub::LocalAdapter"}, "memory", ""),
        ({"class": "modules::cron::adapters::KvCronAdapter"}, "memory", ""),
        (
            {
                "class": "modules::cron::adapters::RedisCronAdapter",
                "config": {"redis_url": "redis://c"},
            },
            "redis",
            "redis://c",
        ),
        ({"class": "modules::stream::adapters::RedisAdapter"}, "redis", "*"),
    ],
)
def test_parse_spec(spec: Any, kind: str, where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://from-env:6379")
    parsed = parse_spec(spec)
    assert parsed.kind == kind
    if kind == "sqlite":
        assert parsed.path == where
    if kind == "redis":
        assert parsed.url == ("redis://from-env:6379" if where == "*" else where)


def test_parse_spec_keeps_module_options() -> None:
    spec = {"name": "kv", "config": {"lock_ttl_ms": 30000, "lock_index": "cron_locks"}}
    assert parse_spec(spec).options == {"lock_ttl_ms": 30000, "lock_index": "cron_locks"}
    redis = parse_spec({"name": "redis", "config": {"prefix": "eng1:", "url": "redis://x"}})
    assert redis.prefix == "eng1:"
    assert parse_spec({"name": "sqlite", "config": {"synchronous": "full"}}).synchronous == "FULL"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"name": "rabbitmq"}, "not supported"),
        ({"class": "modules::queue::adapters::RabbitMQAdapter"}, "not supported"),
        ({"class": "modules::state::adapters::Bridge"}, "not supported"),
        ({"name": "postgres"}, "unknown adapter"),
        ({"class": "modules::x::Mystery"}, "unknown adapter"),
        ({"config": {}}, "needs a 'name'"),
        ({"name": "kv", "config": {"store_method": "disk"}}, "store_method"),
        ({"name": "sqlite", "config": {"path": 3}}, "non-empty string"),
        ({"name": "sqlite", "config": {"synchronous": "OFF"}}, "synchronous"),
        ({"name": "redis", "config": "redis://x"}, "must be a mapping"),
        (["memory"], "mapping or a name"),
    ],
)
def test_parse_spec_rejects(spec: Any, message: str) -> None:
    with pytest.raises(AdapterConfigError, match=message):
        parse_spec(spec)


async def test_builders_pick_the_backend(tmp_path: Path) -> None:
    sqlite = AdapterSpec(kind="sqlite", path=str(tmp_path / "a.db"))
    redis = AdapterSpec(kind="redis", url="redis://127.0.0.1:1")
    cases: list[tuple[Any, Any, type]] = [
        (build_kv, "memory", MemoryKV),
        (build_kv, sqlite, SqliteKV),
        (build_kv, redis, RedisKV),
        (build_queue, "memory", MemoryQueue),
        (build_queue, sqlite, SqliteQueue),
        (build_queue, redis, RedisQueue),
        (build_lock, "memory", MemoryLock),
        (build_lock, sqlite, SqliteLock),
        (build_lock, redis, RedisLock),
        (build_pubsub, "memory", LocalPubSub),
        (build_pubsub, sqlite, LocalPubSub),  # sqlite pub/sub is in-process
        (build_pubsub, redis, RedisPubSub),
    ]
    for build, spec, expected in cases:
        adapter = build(spec)
        try:
            assert type(adapter) is expected
        finally:
            await adapter.close()
    assert not (tmp_path / "a.db").exists()  # building does no I/O


async def test_built_sqlite_adapters_share_one_file(tmp_path: Path) -> None:
    spec = {"name": "sqlite", "config": {"path": str(tmp_path / "sub" / "agentos.db")}}
    async with build_kv(spec) as kv, build_lock(spec) as lock, build_queue(spec) as queue:
        await kv.set("s", "k", 1)
        assert await lock.claim("k", 1, now=0)
        assert await queue.queues() == []
    assert (tmp_path / "sub" / "agentos.db").exists()
