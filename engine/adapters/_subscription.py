"""A bounded, observable buffer of pub/sub messages for one subscriber.

Theory of operation: a PubSub backend calls ``offer_nowait`` from its fan-out (memory: inside
``publish``; redis: from its reader task); the consumer takes messages with ``receive_nowait`` or
``async receive`` / ``async for``. The buffer never grows past ``max_buffer_size``: a message that
does not fit is dropped and counted, and with ``overflow="error"`` the subscription also fails,
so the consumer gets ``SlowConsumerError`` once it has drained what was buffered. All logic is in
the ``*_nowait`` methods; ``receive`` only waits (STYLE rule 9, as anyio memory streams).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, NamedTuple, Self

import anyio
import anyio.lowlevel

from engine.adapters.base import AdapterError, Overflow, SlowConsumerError

__all__ = ["Subscription", "SubscriptionStatistics"]

Hook = Callable[["Subscription"], Awaitable[None]]


async def _no_hook(_: Subscription) -> None:
    return None


class SubscriptionStatistics(NamedTuple):
    """A snapshot of one subscription's buffer."""

    topic: str
    buffered: int
    max_buffer_size: int
    delivered: int
    dropped: int


class Subscription:
    """Messages of one topic for one consumer, in publish order, each exactly once.

    Use as ``async with pubsub.subscribe(topic) as sub: async for message in sub: ...``. The
    subscription is live (receives what is published) from the end of ``__aenter__`` until
    ``aclose()``/``__aexit__``; after that iteration ends once the buffer is drained.

    Args:
        topic: the topic subscribed to.
        max_buffer_size: messages held before new ones are dropped (>= 1).
        overflow: ``"drop"`` (count and go on) or ``"error"`` (also fail the subscription).
        on_open: awaited by ``__aenter__``; the backend registers the subscription here.
        on_close: awaited once by ``aclose``; the backend unregisters it here.

    Raises:
        ValueError: ``max_buffer_size`` < 1 or ``overflow`` unknown.
    """

    def __init__(
        self,
        topic: str,
        *,
        max_buffer_size: int = 1000,
        overflow: Overflow = "drop",
        on_open: Hook = _no_hook,
        on_close: Hook = _no_hook,
    ) -> None:
        if max_buffer_size < 1:
            raise ValueError(f"max_buffer_size must be >= 1, got {max_buffer_size}")
        if overflow not in ("drop", "error"):
            raise ValueError(f"overflow must be 'drop' or 'error', got {overflow!r}")
        self.topic = topic
        self._max = max_buffer_size
        self._overflow = overflow
        self._on_open = on_open
        self._on_close = on_close
        self._buffer: deque[Any] = deque()
        self._delivered = 0
        self._dropped = 0
        self._error: AdapterError | None = None
        self._closed = False
        self._waiter: anyio.Event | None = None

    # -- producer side (called by the backend's fan-out) --------------------------------------

    def offer_nowait(self, message: Any) -> bool:
        """Buffer ``message`` for the consumer; call from the backend's fan-out only.

        Returns:
            True if buffered, False if dropped (closed, failed, or buffer full).
        """
        if self._closed or self._error is not None:
            if not self._closed:
                self._dropped += 1
            return False
        if len(self._buffer) >= self._max:
            self._dropped += 1
            if self._overflow == "error":
                self._error = SlowConsumerError(self.topic, self._dropped)
                self._wake()
            return False
        self._buffer.append(message)
        self._wake()
        return True

    def fail(self, error: AdapterError) -> None:
        """End the subscription with ``error`` (raised after the buffer drains); idempotent."""
        if self._error is None:
            self._error = error
        self._wake()

    # -- consumer side --------------------------------------------------------------------------

    def receive_nowait(self) -> Any:
        """Take the next buffered message.

        Raises:
            anyio.WouldBlock: nothing buffered yet.
            anyio.EndOfStream: the subscription was closed and the buffer is drained.
            AdapterError: the subscription failed (``SlowConsumerError``, lost connection).
        """
        if self._buffer:
            self._delivered += 1
            return self._buffer.popleft()
        if self._error is not None:
            if isinstance(self._error, SlowConsumerError):
                self._error = SlowConsumerError(self.topic, self._dropped)
            raise self._error
        if self._closed:
            raise anyio.EndOfStream
        raise anyio.WouldBlock

    async def receive(self) -> Any:
        """Wait for the next message; raises as :meth:`receive_nowait`, except ``WouldBlock``."""
        await anyio.lowlevel.checkpoint_if_cancelled()
        while True:
            try:
                return self.receive_nowait()
            except anyio.WouldBlock:
                if self._waiter is None:
                    self._waiter = anyio.Event()
                await self._waiter.wait()

    def statistics(self) -> SubscriptionStatistics:
        """Return the buffer's current size, capacity and delivered/dropped counters."""
        return SubscriptionStatistics(
            self.topic, len(self._buffer), self._max, self._delivered, self._dropped
        )

    async def aclose(self) -> None:
        """Stop receiving: unregister from the backend; buffered messages stay readable."""
        if self._closed:
            return
        self._closed = True
        self._wake()
        await self._on_close(self)

    def _wake(self) -> None:
        if self._waiter is not None:
            self._waiter.set()
            self._waiter = None

    async def __aenter__(self) -> Self:
        await self._on_open(self)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        with anyio.CancelScope(shield=True):
            await self.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None
