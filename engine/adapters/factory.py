"""Build adapters from the ``adapter:`` entry of a module's config.

Theory of operation: ``parse_spec`` turns every accepted spelling into one ``AdapterSpec`` (kind
memory, sqlite or redis); the ``build_*`` functions then construct the adapter for one role. They
do no I/O: the caller enters the adapter (``async with``), which opens files and connections.

Accepted specs (``name`` or legacy ``class``; ``config`` optional)::

    {"name": "memory"} | {"name": "in_memory"} | {"name": "local"} | "memory"
    {"name": "sqlite", "config": {"path": "./data/agentos.db", "synchronous": "NORMAL"}}
    {"name": "redis", "config": {"url": "redis://...", "prefix": "agentos:"}}  (or redis_url)
    {"name": "kv" | "builtin", "config": {"store_method": "in_memory" | "file_based",
                                         "file_path": "./data/state_store.db"}}
    {"class": "modules::state::adapters::KvStore", ...}   and the other iii class names

Other config keys (``save_interval_ms``, ``lock_ttl_ms``, ``lock_index``, ...) are kept in
``AdapterSpec.options`` for the module; this factory ignores them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.adapters._redis_conn import DEFAULT_PREFIX, default_url
from engine.adapters.base import KV, AdapterConfigError, Lock, PubSub, QueueBackend
from engine.adapters.memory import LocalPubSub, MemoryKV, MemoryLock, MemoryQueue
from engine.adapters.redis_backend import RedisKV, RedisLock, RedisPubSub, RedisQueue
from engine.adapters.sqlite import SqliteKV, SqliteLock, SqliteQueue

__all__ = [
    "DEFAULT_SQLITE_PATH",
    "AdapterKind",
    "AdapterSpec",
    "build_kv",
    "build_lock",
    "build_pubsub",
    "build_queue",
    "parse_spec",
]

AdapterKind = Literal["memory", "sqlite", "redis"]
DEFAULT_SQLITE_PATH = "./data/agentos.db"

_NAMES: dict[str, str] = {
    "memory": "memory", "in_memory": "memory", "local": "memory",
    "sqlite": "sqlite", "file_based": "sqlite",
    "redis": "redis",
    "kv": "kv", "builtin": "kv",
}  # fmt: skip
# Legacy ``class:`` values (iii <= 0.10), matched by their last path segment.
_CLASSES: dict[str, str] = {
    "KvStore": "kv", "KvCronAdapter": "kv", "BuiltinQueueAdapter": "kv",
    "RedisAdapter": "redis", "RedisCronAdapter": "redis",
    "LocalAdapter": "memory",
}  # fmt: skip
_UNSUPPORTED = {"rabbitmq", "bridge", "RabbitMQAdapter", "Bridge"}


@dataclass(frozen=True, slots=True)
class AdapterSpec:
    """A parsed adapter entry.

    Attributes:
        kind: the backend.
        path: sqlite file (kind ``sqlite`` only).
        url: redis URL (kind ``redis`` only).
        prefix: redis key prefix (kind ``redis`` only).
        synchronous: sqlite durability, ``NORMAL`` or ``FULL``.
        options: the raw ``config`` mapping, for module-level knobs.
    """

    kind: AdapterKind
    path: str = DEFAULT_SQLITE_PATH
    url: str = ""
    prefix: str = DEFAULT_PREFIX
    synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    options: Mapping[str, Any] = field(default_factory=dict)


def _str(config: Mapping[str, Any], *keys: str, default: str) -> str:
    for key in keys:
        value = config.get(key)
        if value is not None:
            if not isinstance(value, str) or not value:
                raise AdapterConfigError(f"adapter config {key!r} must be a non-empty string")
            return value
    return default


def parse_spec(
    spec: Mapping[str, Any] | str | None, *, default: AdapterKind = "memory"
) -> AdapterSpec:
    """Normalise an adapter entry (see the module docstring for the accepted shapes).

    Args:
        spec: the ``adapter`` value of a module config; None means ``default``.
        default: backend used when ``spec`` is None.

    Returns:
        The parsed spec.

    Raises:
        AdapterConfigError: unknown or unsupported name/class, or a bad config value.
    """
    if spec is None:
        return AdapterSpec(kind=default)
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, Mapping):
        raise AdapterConfigError(f"adapter spec must be a mapping or a name, got {spec!r}")
    config = spec.get("config") or {}
    if not isinstance(config, Mapping):
        raise AdapterConfigError("adapter 'config' must be a mapping")
    raw_name, raw_class = spec.get("name"), spec.get("class")
    if isinstance(raw_name, str):
        name = _NAMES.get(raw_name)
        label = raw_name
    elif isinstance(raw_class, str):
        label = raw_class.rsplit("::", 1)[-1]
        name = _CLASSES.get(label)
    else:
        raise AdapterConfigError("adapter spec needs a 'name' (or a legacy 'class')")
    if name is None:
        if label in _UNSUPPORTED:
            raise AdapterConfigError(f"adapter {label!r} is not supported by AgentOS")
        raise AdapterConfigError(f"unknown adapter {label!r}")
    if name == "kv":  # iii's kv/builtin: the store method picks the backend
        method = _str(config, "store_method", default="in_memory")
        if method not in ("in_memory", "file_based"):
            raise AdapterConfigError(f"unknown store_method {method!r}")
        name = "sqlite" if method == "file_based" else "memory"
    synchronous = _str(config, "synchronous", default="NORMAL").upper()
    if synchronous not in ("NORMAL", "FULL"):
        raise AdapterConfigError(f"synchronous must be NORMAL or FULL, got {synchronous!r}")
    return AdapterSpec(
        kind="sqlite" if name == "sqlite" else "redis" if name == "redis" else "memory",
        path=_str(config, "path", "file_path", default=DEFAULT_SQLITE_PATH),
        url=_str(config, "url", "redis_url", default=default_url()) if name == "redis" else "",
        prefix=_str(config, "prefix", "key_prefix", default=DEFAULT_PREFIX),
        synchronous="FULL" if synchronous == "FULL" else "NORMAL",
        options=dict(config),
    )


def _spec(spec: AdapterSpec | Mapping[str, Any] | str | None) -> AdapterSpec:
    return spec if isinstance(spec, AdapterSpec) else parse_spec(spec)


def build_kv(spec: AdapterSpec | Mapping[str, Any] | str | None) -> KV:
    """Build the state module's ``KV`` (unopened: enter it with ``async with``).

    Raises:
        AdapterConfigError: see :func:`parse_spec`.
    """
    s = _spec(spec)
    if s.kind == "sqlite":
        return SqliteKV(s.path, synchronous=s.synchronous)
    if s.kind == "redis":
        return RedisKV(s.url, prefix=s.prefix)
    return MemoryKV()


def build_queue(spec: AdapterSpec | Mapping[str, Any] | str | None) -> QueueBackend:
    """Build the queue module's ``QueueBackend`` (unopened: enter it with ``async with``).

    Raises:
        AdapterConfigError: see :func:`parse_spec`.
    """
    s = _spec(spec)
    if s.kind == "sqlite":
        return SqliteQueue(s.path, synchronous=s.synchronous)
    if s.kind == "redis":
        return RedisQueue(s.url, prefix=s.prefix)
    return MemoryQueue()


def build_pubsub(spec: AdapterSpec | Mapping[str, Any] | str | None) -> PubSub:
    """Build the pubsub module's ``PubSub``; enter it with ``async with`` before subscribing.

    A sqlite spec gives the in-process ``LocalPubSub``: SQLite has no way to notify other
    processes, so only redis reaches other engines.

    Raises:
        AdapterConfigError: see :func:`parse_spec`.
    """
    s = _spec(spec)
    if s.kind == "redis":
        return RedisPubSub(s.url, prefix=s.prefix)
    return LocalPubSub()


def build_lock(spec: AdapterSpec | Mapping[str, Any] | str | None) -> Lock:
    """Build the cron module's ``Lock`` (unopened: enter it with ``async with``).

    Raises:
        AdapterConfigError: see :func:`parse_spec`.
    """
    s = _spec(spec)
    if s.kind == "sqlite":
        return SqliteLock(s.path, synchronous=s.synchronous)
    if s.kind == "redis":
        return RedisLock(s.url, prefix=s.prefix)
    return MemoryLock()
