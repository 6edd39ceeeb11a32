"""Pin the public surface of ``engine.adapters`` (STYLE rule 15)."""

from __future__ import annotations

import engine.adapters as adapters

EXPECTED = {
    "KV",
    "AdapterClosedError",
    "AdapterConfigError",
    "AdapterConflictError",
    "AdapterError",
    "AdapterKind",
    "AdapterSpec",
    "AdapterUnavailableError",
    "Job",
    "LocalPubSub",
    "Lock",
    "MemoryKV",
    "MemoryLock",
    "MemoryQueue",
    "Overflow",
    "PubSub",
    "Queue",
    "QueueAdmin",
    "QueueBatch",
    "QueueBackend",
    "QueueStats",
    "RedisKV",
    "RedisLock",
    "RedisPubSub",
    "RedisQueue",
    "Resource",
    "SerializationError",
    "SlowConsumerError",
    "SqliteKV",
    "SqliteLock",
    "SqliteQueue",
    "Subscription",
    "SubscriptionStatistics",
    "build_kv",
    "build_lock",
    "build_pubsub",
    "build_queue",
    "parse_spec",
}


def test_exported_members() -> None:
    assert set(adapters.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(adapters, name) is not None


def test_error_tree() -> None:
    for name in ("AdapterClosedError", "AdapterConfigError", "AdapterConflictError"):
        assert issubclass(getattr(adapters, name), adapters.AdapterError)
    assert issubclass(adapters.AdapterClosedError, RuntimeError)
    assert issubclass(adapters.SerializationError, ValueError)
    assert issubclass(adapters.AdapterConfigError, ValueError)
    assert issubclass(adapters.SlowConsumerError, adapters.AdapterError)
    assert issubclass(adapters.AdapterUnavailableError, adapters.AdapterError)


def test_implementations_satisfy_the_protocols() -> None:
    for cls in (adapters.MemoryKV, adapters.SqliteKV, adapters.RedisKV):
        assert issubclass(cls, adapters.KV)
    for cls in (adapters.MemoryQueue, adapters.SqliteQueue, adapters.RedisQueue):
        assert issubclass(cls, adapters.QueueBackend)
    for cls in (adapters.LocalPubSub, adapters.RedisPubSub):
        assert issubclass(cls, adapters.PubSub)
    for cls in (adapters.MemoryLock, adapters.SqliteLock, adapters.RedisLock):
        assert issubclass(cls, adapters.Lock)
