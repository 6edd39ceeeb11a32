"""Stream events to and from the other engines on the same Redis.

Theory of operation
-------------------
With the redis adapter, several engines share the items (one ``RedisKV``) but each holds its
own sockets. Every event an engine emits is delivered to its own clients at once (the
:class:`~engine.modules.stream_hub.Hub`) and also published, already encoded, on one pub/sub
topic with the engine's ``origin`` id; each engine's :class:`Relay` hands what the *others*
published to its own hub. Pub/sub is fire-and-forget: an engine that loses Redis for a moment
misses those events (its clients re-``join`` to resynchronise), as iii's redis adapter does.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import AsyncExitStack
from typing import Any

import anyio
from pydantic import BaseModel, ConfigDict, ValidationError

from ..adapters import AdapterError, PubSub
from .pubsub import consume
from .stream_hub import Hub

__all__ = ["Relay", "TOPIC"]

log = logging.getLogger(__name__)

TOPIC = "stream-events"


class Envelope(BaseModel):
    """One event on the relay topic."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)
    origin: str
    realm: str | None
    stream_name: str
    group_id: str
    id: str | None
    frame: str


class Relay:
    """Publishes local events and delivers remote ones; ``async with`` subscribes."""

    def __init__(self, pubsub: PubSub, hub: Hub) -> None:
        self.pubsub = pubsub
        self.hub = hub
        self.origin = uuid.uuid4().hex
        self._stack = AsyncExitStack()
        self.received = 0

    async def __aenter__(self) -> Relay:
        """Open the adapter and subscribe; returns once remote events are delivered.

        Raises:
            AdapterError: Redis is unreachable.
        """
        stack = self._stack
        await stack.__aenter__()
        try:
            await stack.enter_async_context(self.pubsub)
            tg = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(tg.cancel_scope.cancel)
            await tg.start(_consume, self.pubsub, self._receive)
        except BaseException:
            await stack.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc: Any) -> bool | None:
        return await self._stack.__aexit__(*exc)

    async def publish(self, realm: str | None, stream_name: str, group_id: str, item_id: str | None,
                      frame: str) -> None:
        """Send an encoded event to the other engines; a Redis failure is logged, not raised."""
        envelope = {"origin": self.origin, "realm": realm, "stream_name": stream_name,
                    "group_id": group_id, "id": item_id, "frame": frame}
        try:
            await self.pubsub.publish(TOPIC, envelope)
        except AdapterError as exc:
            log.warning("stream event on %s/%s did not reach the other engines: %s", stream_name, group_id, exc)

    async def _receive(self, message: Any) -> None:
        try:
            env = Envelope.model_validate(message)
        except ValidationError:
            log.warning("ignoring a malformed message on the stream relay topic")
            return
        if env.origin == self.origin:
            return
        self.received += 1
        self.hub.deliver(env.realm, env.stream_name, env.group_id, env.id, env.frame)


async def _consume(pubsub: PubSub, handle: Any, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
    await consume(pubsub, TOPIC, handle, task_status=task_status)
