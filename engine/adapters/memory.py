"""In-process backends: the reference implementation of every contract, used by unit tests.

Theory of operation: all state lives in dicts owned by one event loop. No operation awaits between
its read and its write, so each one (``KV.update`` included) is atomic with respect to other
tasks without a lock; a checkpoint at the start of each call keeps them fair and cancellable.
Values are stored as JSON text, exactly like the durable backends, so callers see the same copy
semantics everywhere. Nothing survives the process, and nothing is shared between instances.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable
from typing import Any

import anyio.lowlevel

from engine.adapters._memory_queue import MemoryQueue
from engine.adapters._resource import ResourceBase
from engine.adapters._subscription import Subscription
from engine.adapters.base import Overflow, dumps, loads

__all__ = ["LocalPubSub", "MemoryKV", "MemoryLock", "MemoryQueue"]


class MemoryKV(ResourceBase):
    """``KV`` in a dict of dicts; see ``base.KV`` for the contract."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, str]] = {}

    async def get(self, scope: str, key: str) -> Any | None:
        """Return the value at ``scope``/``key``, or None if absent."""
        await self._enter()
        raw = self._data.get(scope, {}).get(key)
        return None if raw is None else loads(raw)

    async def set(self, scope: str, key: str, value: Any) -> Any | None:
        """Store ``value``; return the previous value (None if absent).

        Raises:
            SerializationError: ``value`` is not JSON-serialisable.
        """
        await self._enter()
        raw = dumps(value)
        old = self._data.setdefault(scope, {}).get(key)
        self._data[scope][key] = raw
        return None if old is None else loads(old)

    async def delete(self, scope: str, key: str) -> Any | None:
        """Remove ``scope``/``key``; return the removed value (None if absent)."""
        await self._enter()
        items = self._data.get(scope)
        old = None if items is None else items.pop(key, None)
        if items is not None and not items:
            del self._data[scope]
        return None if old is None else loads(old)

    async def update(
        self, scope: str, key: str, fn: Callable[[Any | None], Any]
    ) -> tuple[Any | None, Any]:
        """Atomically replace the value with ``fn(current)``; return ``(old, new)``.

        Raises:
            SerializationError: ``fn`` returned a non-JSON value (nothing is written).
            Exception: whatever ``fn`` raises (nothing is written).
        """
        await self._enter()
        old = self._data.get(scope, {}).get(key)
        new = dumps(fn(None if old is None else loads(old)))
        self._data.setdefault(scope, {})[key] = new
        return (None if old is None else loads(old)), loads(new)

    async def list(self, scope: str) -> list[tuple[str, Any]]:
        """Return ``(key, value)`` pairs of ``scope`` sorted by key."""
        await self._enter()
        return [(k, loads(v)) for k, v in sorted(self._data.get(scope, {}).items())]

    async def scopes(self, prefix: str = "") -> builtins.list[str]:
        """Return the sorted scopes that start with ``prefix`` and hold at least one key."""
        await self._enter()
        return sorted(s for s in self._data if s.startswith(prefix))

    async def _enter(self) -> None:
        await anyio.lowlevel.checkpoint()
        self._check_open()

    async def _close(self) -> None:
        self._data.clear()


class MemoryLock(ResourceBase):
    """``Lock`` in a dict of expiry times; see ``base.Lock`` for the contract."""

    def __init__(self) -> None:
        self._expiry: dict[str, float] = {}
        self._gc_at = 1024

    async def claim(self, key: str, ttl_s: float, *, now: float | None = None) -> bool:
        """Claim ``key`` until ``now + ttl_s`` unless a live claim exists.

        Returns:
            True if this call won the claim.

        Raises:
            ValueError: ``ttl_s`` <= 0.
        """
        await anyio.lowlevel.checkpoint()
        self._check_open()
        if not ttl_s > 0:
            raise ValueError(f"ttl_s must be > 0, got {ttl_s}")
        t = time.time() if now is None else now
        expires = self._expiry.get(key)
        if expires is not None and expires > t:
            return False
        self._expiry[key] = t + ttl_s
        if len(self._expiry) >= self._gc_at:  # amortised sweep of expired claims
            self._expiry = {k: v for k, v in self._expiry.items() if v > t}
            self._gc_at = max(1024, 2 * len(self._expiry))
        return True

    async def release(self, key: str) -> None:
        """Drop any claim on ``key`` (whoever holds it)."""
        await anyio.lowlevel.checkpoint()
        self._check_open()
        self._expiry.pop(key, None)

    async def _close(self) -> None:
        self._expiry.clear()


class LocalPubSub(ResourceBase):
    """In-process ``PubSub``: ``publish`` fans out synchronously to live subscriptions.

    Also the pub/sub of the sqlite backend: sqlite has no notification channel, so pub/sub there
    is in-process only and does not reach other engines.
    """

    def __init__(self) -> None:
        self._subs: dict[str, list[Subscription]] = {}

    async def publish(self, topic: str, message: Any) -> None:
        """Deliver a copy of ``message`` to every live subscription to ``topic``.

        Raises:
            SerializationError: ``message`` is not JSON-serialisable.
        """
        await anyio.lowlevel.checkpoint()
        self._check_open()
        raw = dumps(message)
        for sub in tuple(self._subs.get(topic, ())):
            sub.offer_nowait(loads(raw))

    def subscribe(
        self, topic: str, *, max_buffer_size: int = 1000, overflow: Overflow = "drop"
    ) -> Subscription:
        """Return a subscription to ``topic``; it is live once entered with ``async with``.

        Raises:
            ValueError: bad ``max_buffer_size``/``overflow``.
        """
        self._check_open()
        return Subscription(
            topic,
            max_buffer_size=max_buffer_size,
            overflow=overflow,
            on_open=self._add,
            on_close=self._remove,
        )

    async def _add(self, sub: Subscription) -> None:
        self._check_open()
        self._subs.setdefault(sub.topic, []).append(sub)

    async def _remove(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.topic, [])
        if sub in subs:
            subs.remove(sub)
        if not subs:
            self._subs.pop(sub.topic, None)

    async def _close(self) -> None:
        for subs in list(self._subs.values()):
            for sub in list(subs):
                await sub.aclose()
        self._subs.clear()
