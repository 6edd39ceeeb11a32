"""Redis ``PubSub``: PUBLISH/SUBSCRIBE, so every engine on one Redis gets every message.

Theory of operation: the adapter holds one subscriber connection for all its subscriptions and
one reader task, run in a task group the adapter owns between ``__aenter__`` and ``__aexit__``
(so it must be entered before ``subscribe``). The first local subscription to a topic sends
SUBSCRIBE and waits until Redis confirms it, so a message published after ``async with
pubsub.subscribe(t)`` returns is delivered; the last one to leave sends UNSUBSCRIBE. The reader
decodes each message and offers it to that topic's bounded ``Subscription`` buffers. If the
connection fails, every current subscription fails with ``AdapterUnavailableError`` (pub/sub is
fire-and-forget, so messages may have been lost) and the next ``subscribe`` reconnects.
"""

from __future__ import annotations

import logging
from collections import Counter
from types import TracebackType
from typing import Any, Self

import anyio
from anyio.abc import TaskGroup, TaskStatus
from redis.asyncio import Redis
from redis.asyncio.client import PubSub as RedisPubSubConnection

from engine.adapters._redis_conn import DEFAULT_PREFIX, RedisResource, translate
from engine.adapters._subscription import Subscription
from engine.adapters.base import (
    AdapterClosedError,
    AdapterError,
    AdapterUnavailableError,
    Overflow,
    dumps,
    loads,
)

__all__ = ["RedisPubSub"]

logger = logging.getLogger(__name__)


class RedisPubSub(RedisResource):
    """``PubSub`` over Redis channels ``{prefix}ps:{topic}``; see ``base.PubSub``.

    Use as ``async with RedisPubSub(url) as pubsub:``; see ``RedisResource`` for the arguments.
    """

    def __init__(
        self, url: str | None = None, *, prefix: str = DEFAULT_PREFIX, client: Redis | None = None
    ) -> None:
        super().__init__(url, prefix=prefix, client=client)
        self._channel_prefix = f"{prefix}ps:"
        self._subs: dict[str, list[Subscription]] = {}
        self._conn: RedisPubSubConnection | None = None
        self._connected = anyio.Event()
        self._sent: Counter[str] = Counter()
        self._confirmed: Counter[str] = Counter()
        self._ready: dict[str, tuple[int, anyio.Event]] = {}
        self._tg: TaskGroup | None = None
        self._reader_scope: anyio.CancelScope | None = None

    async def publish(self, topic: str, message: Any) -> None:
        """PUBLISH ``message`` to ``topic`` on Redis (every engine's subscribers get it).

        Raises:
            SerializationError: ``message`` is not JSON-serialisable.
            AdapterUnavailableError: Redis is unreachable.
        """
        self._check_open()
        raw = dumps(message)
        with translate():
            await self._client.publish(self._channel_prefix + topic, raw)

    def subscribe(
        self, topic: str, *, max_buffer_size: int = 1000, overflow: Overflow = "drop"
    ) -> Subscription:
        """Return a subscription to ``topic``; entering it waits for Redis to confirm.

        Raises:
            ValueError: bad ``max_buffer_size``/``overflow``.
            AdapterClosedError: (on entering) the adapter is closed or was not entered.
            AdapterUnavailableError: (on entering) Redis is unreachable.
        """
        self._check_open()
        return Subscription(
            topic,
            max_buffer_size=max_buffer_size,
            overflow=overflow,
            on_open=self._add,
            on_close=self._remove,
        )

    async def __aenter__(self) -> Self:
        self._check_open()
        tg = anyio.create_task_group()
        await tg.__aenter__()
        try:
            await tg.start(self._read_loop)
        except BaseException as exc:
            await tg.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        self._tg = tg
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        await self.close()
        tg, self._tg = self._tg, None
        try:
            if tg is not None:
                return await tg.__aexit__(et, e, tb)
        finally:
            await self._release()
        return None

    async def _close(self) -> None:
        for subs in list(self._subs.values()):
            for sub in list(subs):
                await sub.aclose()
        if self._reader_scope is not None:
            self._reader_scope.cancel()
        if self._tg is None:
            await self._release()

    async def _release(self) -> None:
        conn, self._conn = self._conn, None
        try:
            if conn is not None:
                with translate():
                    await conn.aclose()  # type: ignore[no-untyped-call]
        finally:
            await super()._close()

    async def _add(self, sub: Subscription) -> None:
        self._check_open()
        if self._tg is None:
            raise AdapterClosedError("enter RedisPubSub with `async with` before subscribing")
        topic = sub.topic
        subs = self._subs.setdefault(topic, [])
        subs.append(sub)
        if len(subs) == 1:
            self._sent[topic] += 1
            self._ready[topic] = (self._sent[topic], anyio.Event())
            if self._conn is None:
                self._conn = self._client.pubsub()
            try:
                with translate():
                    await self._conn.subscribe(self._channel_prefix + topic)
            except BaseException:
                await self._remove(sub)
                raise
            self._connected.set()
        ready = self._ready.get(topic)
        if ready is not None:
            await ready[1].wait()
        if sub not in self._subs.get(topic, ()):
            raise AdapterUnavailableError(f"redis: subscription to {topic!r} lost its connection")

    async def _remove(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.topic)
        if not subs or sub not in subs:
            return
        subs.remove(sub)
        if subs:
            return
        del self._subs[sub.topic]
        self._ready.pop(sub.topic, None)
        if self._conn is not None and not self._closed:
            try:
                with translate():
                    await self._conn.unsubscribe(self._channel_prefix + sub.topic)
            except AdapterError:  # the reader sees the same failure and fails the others
                logger.warning("redis unsubscribe from %r failed", sub.topic, exc_info=True)

    async def _read_loop(
        self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        with anyio.CancelScope() as scope:
            self._reader_scope = scope
            task_status.started()
            while True:
                await self._connected.wait()
                conn = self._conn
                assert conn is not None
                try:
                    with translate():
                        while True:
                            message = await conn.get_message(timeout=None)
                            if message is not None:
                                self._dispatch(message)
                except AdapterError as exc:
                    await self._reset(exc)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind, channel = message["type"], message["channel"]
        topic = channel.decode()[len(self._channel_prefix) :]
        if kind == "message":
            subs = self._subs.get(topic, ())
            try:
                for sub in subs:
                    sub.offer_nowait(loads(message["data"]))
            except ValueError:
                logger.warning("dropped a non-JSON message on %r", topic, exc_info=True)
        elif kind == "subscribe":
            self._confirmed[topic] += 1
            ready = self._ready.get(topic)
            if ready is not None and self._confirmed[topic] >= ready[0]:
                ready[1].set()

    async def _reset(self, exc: AdapterError) -> None:
        logger.warning("redis pub/sub connection failed: %s", exc)
        conn, self._conn = self._conn, None
        self._connected = anyio.Event()
        subs, self._subs = self._subs, {}
        for topic_subs in subs.values():
            for sub in topic_subs:
                sub.fail(AdapterUnavailableError(f"redis pub/sub connection failed: {exc}"))
        for _, event in self._ready.values():
            event.set()
        self._ready.clear()
        self._sent.clear()
        self._confirmed.clear()
        if conn is not None:
            try:
                with translate():
                    await conn.aclose()  # type: ignore[no-untyped-call]
            except AdapterError:
                logger.warning("closing the failed redis pub/sub connection failed", exc_info=True)
