"""Two engines on one Redis: shared items, and events reach the sockets of both.

Marked ``redis``: skipped (with the reason) when nothing answers at ``$REDIS_URL``.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import anyio
import pytest
import redis
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect

from engine.config import NodeConfig
from engine.node import Node
from engine.types import Call

pytestmark = [pytest.mark.anyio, pytest.mark.redis]

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def redis_unavailable() -> str | None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"no Redis answering at {REDIS_URL}: {exc}"
    finally:
        client.close()
    return None


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    if (reason := redis_unavailable()) is not None:
        pytest.skip(reason)
    prefix = f"agentos-test:{uuid.uuid4().hex}:"
    yield prefix
    client = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def join(ws: ClientConnection, sub: str, group: str = "room") -> dict[str, Any]:
    await ws.send(json.dumps({"type": "join", "data": {"subscriptionId": sub, "streamName": "chat", "groupId": group}}))
    return await recv(ws)


async def recv(ws: ClientConnection) -> dict[str, Any]:
    with anyio.fail_after(5):
        return json.loads(await ws.recv())  # type: ignore[no-any-return]


def event_of(msg: dict[str, Any]) -> tuple[str, str | None, Any]:
    return msg["event"]["type"], msg["id"], msg["event"].get("data", msg["event"].get("event"))


async def test_events_reach_the_sockets_of_every_engine(prefix: str) -> None:
    config = NodeConfig.model_validate({"engine": {"port": 0}, "workers": [{"name": "iii-stream", "config": {
        "port": 0, "adapter": {"name": "redis", "config": {"url": REDIS_URL, "prefix": prefix}}}}]})
    async with Node(config) as a, Node(config) as b, AsyncExitStack() as stack:
        on_a = await stack.enter_async_context(connect(f"ws://127.0.0.1:{a.ports['stream']}/"))
        on_b = await stack.enter_async_context(connect(f"ws://127.0.0.1:{b.ports['stream']}/"))
        await a.router.invoke("stream::set", {"stream_name": "chat", "group_id": "room", "item_id": "m0", "data": 0})
        assert event_of(await join(on_b, "s")) == ("sync", None, [0])  # one store for both engines
        assert event_of(await join(on_a, "s")) == ("sync", None, [0])

        await a.router.invoke("stream::set", {"stream_name": "chat", "group_id": "room", "item_id": "m1", "data": 1})
        assert event_of(await recv(on_b)) == ("create", "m1", 1)
        assert event_of(await recv(on_a)) == ("create", "m1", 1)

        # Another realm's change, then a barrier: neither socket sees the first, each sees the
        # barrier exactly once (an engine ignores its own events coming back from Redis).
        await a.router.invoke("stream::set", {"stream_name": "chat", "group_id": "room", "item_id": "m1", "data": "x"},
                              call=Call("t", role="client", realm="acme"))
        await b.router.invoke("stream::send", {"stream_name": "chat", "group_id": "room", "type": "ping", "data": 2})
        await a.router.invoke("stream::delete", {"stream_name": "chat", "group_id": "room", "item_id": "m0"})
        for ws in (on_a, on_b):
            assert event_of(await recv(ws)) == ("event", None, {"type": "ping", "data": 2})
            assert event_of(await recv(ws)) == ("delete", "m0", 0)
        assert await b.router.invoke("stream::list_all", {}) == {"stream": [{"id": "chat", "groups": ["room"]}], "count": 1}
        assert (a.modules["stream"].relay.received, b.modules["stream"].relay.received) == (1, 4)  # sends, sets, deletes
