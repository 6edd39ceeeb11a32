"""``iii-pubsub`` through a real Node: publish, subscribe fan-out, realms, several engines on Redis."""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest
import redis
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from redis.asyncio import Redis

from engine.config import NodeConfig
from engine.errors import WireError
from engine.modules.pubsub import realm_key
from engine.node import Node
from engine.types import Call
from workers.sdk import Context, TriggerBinding, Worker, connect, function

pytestmark = pytest.mark.anyio

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")
DEFAULT = Call("test", role="system")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@functools.cache
def redis_unavailable() -> str | None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"no Redis answering at {REDIS_URL}: {exc}"
    finally:
        client.close()
    return None


def node_config(adapter: dict[str, Any] | None = None, **engine: Any) -> NodeConfig:
    config = {"adapter": adapter} if adapter else {}
    return NodeConfig.model_validate({
        "engine": {"host": "127.0.0.1", "port": 0, "registration_namespace_grace_ms": 0, **engine},
        "workers": [{"name": "iii-pubsub", "config": config}],
    })


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    async with Node(node_config()) as n:
        yield n


class Inbox:
    def __init__(self) -> None:
        self.tx: MemoryObjectSendStream[Any]
        self.rx: MemoryObjectReceiveStream[Any]
        self.tx, self.rx = anyio.create_memory_object_stream[Any](1000)

    async def next(self) -> Any:
        with anyio.fail_after(5):
            return await self.rx.receive()

    def empty(self) -> bool:
        return self.rx.statistics().current_buffer_used == 0


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox()
    yield box
    box.tx.close()
    box.rx.close()


def recorder(function_id: str, inbox: Inbox) -> Any:
    @function(function_id)
    async def handler(data: Any, ctx: Context) -> None:
        await inbox.tx.send((function_id, data, ctx.realm))

    return handler


async def publish(node: Node, topic: Any, data: Any = None, who: Call = DEFAULT) -> Any:
    return await node.router.invoke("publish", {"topic": topic, "data": data}, call=who)


async def collect(inbox: Inbox, n: int) -> dict[str, list[Any]]:
    got: dict[str, list[Any]] = {}
    for _ in range(n):
        fid, data, _ = await inbox.next()
        got.setdefault(fid, []).append(data)
    return got


async def test_every_subscriber_gets_each_publish_once(node: Node, inbox: Inbox) -> None:
    worker = Worker("subs", functions=[recorder("sub::a", inbox), recorder("sub::b", inbox), recorder("sub::c", inbox)],
                    triggers=[TriggerBinding("subscribe", "sub::a", {"topic": "t"}),
                              TriggerBinding("subscribe", "sub::b", {"topic": "t"}),
                              TriggerBinding("subscribe", "sub::c", {"topic": "other"})])
    async with connect(node.url, workers=[worker]):
        assert await publish(node, "t", {"x": 1}) is None
        assert await publish(node, "nobody-listens", {"x": 0}) is None
        assert await publish(node, "t", {"x": 2}) is None
        # Per-subscriber order is publish order, so a duplicate of x:1 would come before x:2.
        assert await collect(inbox, 4) == {"sub::a": [{"x": 1}, {"x": 2}], "sub::b": [{"x": 1}, {"x": 2}]}
        assert await publish(node, "other", [1, "raw"]) is None
        assert await inbox.next() == ("sub::c", [1, "raw"], None)
        assert inbox.empty()


async def test_unbinding_stops_delivery(node: Node, inbox: Inbox) -> None:
    worker = Worker("subs", functions=[recorder("sub::stay", inbox), recorder("sub::leave", inbox)],
                    triggers=[TriggerBinding("subscribe", "sub::stay", {"topic": "t"})])
    async with connect(node.url, workers=[worker]) as conn:
        leaving = await conn.bind("subscribe", "sub::leave", {"topic": "t"})
        await conn.trigger("engine::health::check")  # the binding is applied
        await publish(node, "t", 1)
        assert await collect(inbox, 2) == {"sub::stay": [1], "sub::leave": [1]}
        await leaving.unregister()
        await conn.trigger("engine::health::check")
        assert node.modules["pubsub"].statistics().subscriptions == 1
        await publish(node, "t", 2)
        await publish(node, "t", 3)
        assert await collect(inbox, 2) == {"sub::stay": [2, 3]}
        assert inbox.empty()


async def test_publish_is_realm_scoped(inbox: Inbox) -> None:
    tokens = [{"token": "acme-worker", "role": "worker", "realm": "acme"}]
    async with Node(node_config(auth={"tokens": tokens})) as node:
        worker = Worker("acme", functions=[recorder("sub::acme", inbox)],
                        triggers=[TriggerBinding("subscribe", "sub::acme", {"topic": "t"})])
        async with connect(node.url, workers=[worker], token="acme-worker"):
            await publish(node, "t", "globex", Call("x", role="client", realm="globex"))
            await publish(node, "t", "default")
            await publish(node, "t", "acme", Call("x", role="client", realm="acme"))
            assert await inbox.next() == ("sub::acme", "acme", "acme")  # in order: nothing came before it
            assert inbox.empty()


@pytest.mark.parametrize("topic", [None, "", 5, ["t"]])
async def test_publish_without_a_topic_is_topic_not_set(node: Node, topic: Any) -> None:
    with pytest.raises(WireError) as info:
        await publish(node, topic, {"x": 1})
    assert info.value.code == "topic_not_set"
    with pytest.raises(WireError) as info:
        await node.router.invoke("publish", None, call=DEFAULT)
    assert info.value.code == "topic_not_set"


async def test_bad_input_is_refused_cleanly(node: Node, inbox: Inbox) -> None:
    with pytest.raises(WireError) as info:
        await publish(node, "t", float("inf"))
    assert info.value.code == "invalid_arguments"
    worker = Worker("bad", functions=[recorder("sub::bad", inbox)])
    async with connect(node.url, workers=[worker]) as conn:
        for config in ({"topic": ""}, {"topic": 3}, None, "t"):
            await conn.bind("subscribe", "sub::bad", config)
        good = await conn.bind("subscribe", "sub::bad", {"topic": "ok"})
        await conn.trigger("engine::health::check")
        assert [t.id for t in node.router.registry.triggers.values()] == [good.id]
        await publish(node, "ok", "still works")
        assert (await inbox.next())[1] == "still works"


def test_realm_keys_are_one_to_one() -> None:
    names = [(None, "t"), ("a", "t"), ("a\x1fb", "c"), ("a", "b\x1fc"), ("%", "t"), ("%25", "t"), ("", "x\x1fy")]
    keys = {realm_key(realm, name) for realm, name in names}
    assert len(keys) == len(names)
    assert realm_key(None, "t") == realm_key("", "t")  # both are the default realm


@pytest.mark.redis
async def test_publish_reaches_subscribers_on_every_engine(inbox: Inbox) -> None:
    if (reason := redis_unavailable()) is not None:
        pytest.skip(reason)
    prefix = f"agentos-test:{uuid.uuid4().hex}:"
    shared = {"name": "redis", "config": {"url": REDIS_URL, "prefix": prefix}}
    try:
        async with Node(node_config(shared)) as one, Node(node_config(shared)) as two:
            near = Worker("near", functions=[recorder("sub::near", inbox)],
                          triggers=[TriggerBinding("subscribe", "sub::near", {"topic": "t"})])
            far = Worker("far", functions=[recorder("sub::far", inbox)],
                         triggers=[TriggerBinding("subscribe", "sub::far", {"topic": "t"})])
            async with connect(one.url, workers=[near]), connect(two.url, workers=[far]):
                await publish(one, "t", {"n": 1})
                await publish(two, "t", {"n": 2})
                assert await collect(inbox, 4) == {"sub::near": [{"n": 1}, {"n": 2}], "sub::far": [{"n": 1}, {"n": 2}]}
                assert inbox.empty()
    finally:
        client = Redis.from_url(REDIS_URL)
        try:
            keys = [key async for key in client.scan_iter(match=prefix + "*")]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()
