"""What every redis adapter shares: the client, the key prefix and the error boundary.

``translate()`` is the one place where redis-py exceptions become ours: connection and timeout
errors (redis-py already wraps socket ``OSError`` in them) become ``AdapterUnavailableError``,
any other ``RedisError`` becomes ``AdapterError``; both keep the original as ``__cause__``.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import TypeVar, cast

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from engine.adapters._resource import ResourceBase
from engine.adapters.base import AdapterError, AdapterUnavailableError

__all__ = ["DEFAULT_PREFIX", "RedisResource", "aw", "default_url", "translate"]

T = TypeVar("T")

DEFAULT_PREFIX = "agentos:"


def default_url() -> str:
    """``$REDIS_URL``, else ``redis://127.0.0.1:6379``."""
    return os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")


def aw(result: Awaitable[T] | T) -> Awaitable[T]:
    """Narrow a redis-py ``Awaitable[T] | T`` return type to what the asyncio client returns."""
    return cast("Awaitable[T]", result)


@contextmanager
def translate() -> Iterator[None]:
    """Re-raise redis-py errors raised in the block as ``AdapterError`` subclasses."""
    try:
        yield
    except (redis_errors.ConnectionError, redis_errors.TimeoutError) as exc:
        raise AdapterUnavailableError(f"redis: {exc}") from exc
    except redis_errors.RedisError as exc:
        raise AdapterError(f"redis: {exc}") from exc


class RedisResource(ResourceBase):
    """Base of the redis adapters: one client (own or borrowed) and a key prefix.

    Args:
        url: ``redis://`` URL; default ``$REDIS_URL`` or ``redis://127.0.0.1:6379``.
        prefix: prepended to every key and channel, so several deployments (or tests) can share
            one Redis without seeing each other.
        client: an existing ``redis.asyncio.Redis`` (``decode_responses=False``) to share a
            connection pool; the adapter then does not close it.
    """

    def __init__(
        self, url: str | None = None, *, prefix: str = DEFAULT_PREFIX, client: Redis | None = None
    ) -> None:
        self._owns_client = client is None
        self._client: Redis = client or Redis.from_url(
            url or default_url(), decode_responses=False, socket_connect_timeout=5.0
        )
        self.prefix = prefix

    async def _close(self) -> None:
        if self._owns_client:
            with translate():
                await self._client.aclose()
