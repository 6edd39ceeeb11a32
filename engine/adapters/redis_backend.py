"""Redis backends: what several engines share (state, queues, pub/sub, cron locks).

Theory of operation: every key starts with the adapter's ``prefix``. A KV scope is one hash
(``{prefix}kv:s:{scope}``) plus a member of the sorted set ``{prefix}kv:scopes`` (all scores 0,
so ``ZRANGEBYLEX`` lists scopes in code-point order); Lua scripts keep the two in step and return
old values atomically. ``KV.update`` runs the caller's Python ``fn``, which Lua cannot, so it uses
WATCH/MULTI and retries when another writer got in first. A lock is a string holding its expiry
time, compared with the caller's ``now`` in Lua and also given a PX TTL so Redis frees it.
Queues live in ``_redis_queue`` and pub/sub in ``_redis_pubsub``; both are re-exported here.
"""

from __future__ import annotations

import builtins
import math
import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import WatchError

from engine.adapters._redis_conn import DEFAULT_PREFIX, RedisResource, aw, translate
from engine.adapters._redis_pubsub import RedisPubSub
from engine.adapters._redis_queue import RedisQueue
from engine.adapters.base import AdapterConflictError, dumps, loads

__all__ = ["RedisKV", "RedisLock", "RedisPubSub", "RedisQueue"]

_KV_SET = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[3])
return old
"""

_KV_DELETE = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then
  redis.call('HDEL', KEYS[1], ARGV[1])
  if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('ZREM', KEYS[2], ARGV[2]) end
end
return old
"""

_LOCK_CLAIM = """
local held = redis.call('GET', KEYS[1])
if held and tonumber(held) > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""


def _decode(raw: str | bytes | None) -> Any | None:
    return None if raw is None else loads(raw)


class RedisKV(RedisResource):
    """``KV`` in Redis hashes; see ``base.KV`` and ``RedisResource`` for the arguments.

    Args:
        max_update_attempts: optimistic retries of ``update`` before ``AdapterConflictError``.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        prefix: str = DEFAULT_PREFIX,
        client: Redis | None = None,
        max_update_attempts: int = 1000,
    ) -> None:
        super().__init__(url, prefix=prefix, client=client)
        self._max_update_attempts = max_update_attempts
        self._set = self._client.register_script(_KV_SET)
        self._delete = self._client.register_script(_KV_DELETE)

    def _keys(self, scope: str) -> list[str]:
        return [f"{self.prefix}kv:s:{scope}", f"{self.prefix}kv:scopes"]

    async def get(self, scope: str, key: str) -> Any | None:
        """Return the value at ``scope``/``key``, or None if absent.

        Raises:
            AdapterUnavailableError: Redis is unreachable.
        """
        self._check_open()
        with translate():
            return _decode(await aw(self._client.hget(self._keys(scope)[0], key)))

    async def set(self, scope: str, key: str, value: Any) -> Any | None:
        """Store ``value``; return the previous value (None if absent).

        Raises:
            SerializationError: ``value`` is not JSON-serialisable.
            AdapterUnavailableError: Redis is unreachable.
        """
        self._check_open()
        raw = dumps(value)
        with translate():
            return _decode(await self._set(keys=self._keys(scope), args=[key, raw, scope]))

    async def delete(self, scope: str, key: str) -> Any | None:
        """Remove ``scope``/``key``; return the removed value (None if absent)."""
        self._check_open()
        with translate():
            return _decode(await self._delete(keys=self._keys(scope), args=[key, scope]))

    async def update(
        self, scope: str, key: str, fn: Callable[[Any | None], Any]
    ) -> tuple[Any | None, Any]:
        """Atomically replace the value with ``fn(current)`` (WATCH/MULTI, retried on conflict).

        ``fn`` may run several times under contention; only the last run's result is written.

        Returns:
            ``(old, new)``.

        Raises:
            SerializationError: ``fn`` returned a non-JSON value (nothing is written).
            Exception: whatever ``fn`` raises (nothing is written).
            AdapterConflictError: still losing the race after ``max_update_attempts`` tries.
            AdapterUnavailableError: Redis is unreachable.
        """
        self._check_open()
        hash_key, index_key = self._keys(scope)
        with translate():
            async with self._client.pipeline(transaction=True) as pipe:
                for _ in range(self._max_update_attempts):
                    try:
                        await pipe.watch(hash_key)
                        old = await aw(pipe.hget(hash_key, key))
                        new = dumps(fn(_decode(old)))
                        pipe.multi()  # type: ignore[no-untyped-call]
                        pipe.hset(hash_key, key, new)
                        pipe.zadd(index_key, {scope: 0})
                        await pipe.execute()
                    except WatchError:
                        continue
                    return _decode(old), loads(new)
        raise AdapterConflictError(
            f"update of {scope!r}/{key!r} lost {self._max_update_attempts} races in a row"
        )

    async def list(self, scope: str) -> list[tuple[str, Any]]:
        """Return ``(key, value)`` pairs of ``scope`` sorted by key."""
        self._check_open()
        with translate():
            items: dict[bytes, bytes] = await aw(self._client.hgetall(self._keys(scope)[0]))
        return sorted((k.decode(), loads(v)) for k, v in items.items())

    async def scopes(self, prefix: str = "") -> builtins.list[str]:
        """Return the sorted scopes that start with ``prefix`` and hold at least one key."""
        self._check_open()
        # 0xFF never occurs in UTF-8, so "(prefix\xff" bounds every string starting with prefix.
        low = b"[" + prefix.encode() if prefix else b"-"
        high = b"(" + prefix.encode() + b"\xff" if prefix else b"+"
        with translate():
            found: list[bytes] = await self._client.zrangebylex(self._keys("")[1], low, high)
        return [s.decode() for s in found]


class RedisLock(RedisResource):
    """``Lock`` as Redis strings; see ``base.Lock`` and ``RedisResource`` for the arguments."""

    def __init__(
        self, url: str | None = None, *, prefix: str = DEFAULT_PREFIX, client: Redis | None = None
    ) -> None:
        super().__init__(url, prefix=prefix, client=client)
        self._claim = self._client.register_script(_LOCK_CLAIM)

    async def claim(self, key: str, ttl_s: float, *, now: float | None = None) -> bool:
        """Claim ``key`` until ``now + ttl_s`` unless a live claim exists (atomic, in Lua).

        Returns:
            True if this call won the claim.

        Raises:
            ValueError: ``ttl_s`` <= 0.
            AdapterUnavailableError: Redis is unreachable.
        """
        self._check_open()
        if not ttl_s > 0:
            raise ValueError(f"ttl_s must be > 0, got {ttl_s}")
        t = time.time() if now is None else now
        px = max(1, math.ceil(ttl_s * 1000))
        with translate():
            won = await self._claim(
                keys=[f"{self.prefix}lock:{key}"], args=[repr(t), repr(t + ttl_s), px]
            )
        return bool(won)

    async def release(self, key: str) -> None:
        """Drop any claim on ``key`` (whoever holds it)."""
        self._check_open()
        with translate():
            await self._client.delete(f"{self.prefix}lock:{key}")
