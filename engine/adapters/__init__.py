"""Storage backends for the engine modules: memory (tests), sqlite (embedded), redis (cluster).

Modules depend on the Protocols (``KV``, ``QueueBackend``, ``PubSub``, ``Lock``) and get an
implementation from ``factory.build_*``; see ``base`` for the contracts and the error tree.
"""

from __future__ import annotations

from engine.adapters._subscription import Subscription, SubscriptionStatistics
from engine.adapters.base import (
    KV,
    AdapterClosedError,
    AdapterConfigError,
    AdapterConflictError,
    AdapterError,
    AdapterUnavailableError,
    Job,
    Lock,
    Overflow,
    PubSub,
    Queue,
    QueueAdmin,
    QueueBackend,
    QueueBatch,
    QueueStats,
    Resource,
    SerializationError,
    SlowConsumerError,
)
from engine.adapters.factory import (
    AdapterKind,
    AdapterSpec,
    build_kv,
    build_lock,
    build_pubsub,
    build_queue,
    parse_spec,
)
from engine.adapters.memory import LocalPubSub, MemoryKV, MemoryLock, MemoryQueue
from engine.adapters.redis_backend import RedisKV, RedisLock, RedisPubSub, RedisQueue
from engine.adapters.sqlite import SqliteKV, SqliteLock, SqliteQueue

__all__ = [
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
]
