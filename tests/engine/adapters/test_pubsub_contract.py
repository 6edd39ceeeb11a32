"""The ``PubSub`` contract, run against every backend.

Nothing here sleeps: a subscription is live once ``async with`` has entered it, and "no further
message" is checked by publishing a sentinel and seeing it arrive next. With redis, messages to
one adapter's subscriptions are dispatched in order by one reader, so once a big-buffer
subscription has seen message N, every subscription of that adapter has been offered message N.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import anyio
import pytest
from redis.asyncio import Redis

from engine.adapters import (
    AdapterClosedError,
    AdapterUnavailableError,
    RedisPubSub,
    SerializationError,
    SlowConsumerError,
    Subscription,
    SubscriptionStatistics,
)

if TYPE_CHECKING:
    from conftest import Backend

pytestmark = pytest.mark.anyio

END = "end-of-test"
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")


async def take(sub: Subscription, n: int) -> list[object]:
    with anyio.fail_after(10):
        return [await sub.receive() for _ in range(n)]


async def test_two_subscribers_get_every_message_once_in_order(backend: Backend) -> None:
    pubsub = await backend.open_pubsub()
    async with pubsub.subscribe("t") as one, pubsub.subscribe("t") as two:
        for i in range(20):
            await pubsub.publish("t", {"i": i})
        await pubsub.publish("t", END)
        expected = [{"i": i} for i in range(20)] + [END]
        assert await take(one, 21) == expected
        assert await take(two, 21) == expected
        with pytest.raises(anyio.WouldBlock):
            one.receive_nowait()
        assert one.statistics() == SubscriptionStatistics("t", 0, 1000, 21, 0)


async def test_topics_are_isolated(backend: Backend) -> None:
    pubsub = await backend.open_pubsub()
    async with pubsub.subscribe("a") as a, pubsub.subscribe("b") as b:
        await pubsub.publish("a", 1)
        await pubsub.publish("b", 2)
        await pubsub.publish("nobody", 3)
        await pubsub.publish("a", END)
        await pubsub.publish("b", END)
        assert await take(a, 2) == [1, END]
        assert await take(b, 2) == [2, END]


async def test_another_engine_on_the_same_bus_receives(backend: Backend) -> None:
    """Redis: two adapters are two engines. Memory/sqlite: in-process only, one bus."""
    here, there = await backend.open_pubsub(), await backend.open_pubsub()
    async with here.subscribe("t") as sub:
        await there.publish("t", {"from": "there"})
        await here.publish("t", {"from": "here"})
        assert await take(sub, 2) == [{"from": "there"}, {"from": "here"}]


async def test_messages_are_json_copies(backend: Backend) -> None:
    pubsub = await backend.open_pubsub()
    async with pubsub.subscribe("t") as one, pubsub.subscribe("t") as two:
        await pubsub.publish("t", {"tuple": (1, 2)})
        (got,) = await take(one, 1)
        assert got == {"tuple": [1, 2]}
        got["tuple"].append(3)  # type: ignore[index]
        assert await take(two, 1) == [{"tuple": [1, 2]}]
        with pytest.raises(SerializationError):
            await pubsub.publish("t", {1, 2})


async def test_bounded_buffer_drops_and_counts(backend: Backend) -> None:
    pubsub = await backend.open_pubsub()
    async with pubsub.subscribe("t", max_buffer_size=3) as small, pubsub.subscribe("t") as big:
        for i in range(10):
            await pubsub.publish("t", i)
        assert await take(big, 10) == list(range(10))
        assert small.statistics() == SubscriptionStatistics("t", 3, 3, 0, 7)
        assert await take(small, 3) == [0, 1, 2]
        await pubsub.publish("t", END)  # room again: delivery resumes
        assert await take(small, 1) == [END]
        assert small.statistics() == SubscriptionStatistics("t", 0, 3, 4, 7)


async def test_overflow_error_fails_a_slow_consumer(backend: Backend) -> None:
    pubsub = await backend.open_pubsub()
    async with (
        pubsub.subscribe("t", max_buffer_size=2, overflow="error") as small,
        pubsub.subscribe("t") as big,
    ):
        for i in range(5):
            await pubsub.publish("t", i)
        await take(big, 5)
        assert await take(small, 2) == [0, 1]
        with pytest.raises(SlowConsumerError) as info:
            await small.receive()
        assert (info.value.topic, info.value.dropped) == ("t", 3)


async def test_iteration_ends_when_the_subscription_closes(backend: Backend) -> None:
    pubsub = await backend.open_pubsub()
    received: list[object] = []
    async with pubsub.subscribe("t") as sub:
        await pubsub.publish("t", 1)
        await pubsub.publish("t", END)
        async for message in sub:
            received.append(message)
            if message == END:
                await sub.aclose()
    assert received == [1, END]
    with pytest.raises(anyio.EndOfStream):
        sub.receive_nowait()


async def test_closing_the_adapter_ends_subscriptions(backend: Backend) -> None:
    pubsub = await backend.open_pubsub()
    async with pubsub.subscribe("t") as sub:
        await pubsub.close()
        with pytest.raises(anyio.EndOfStream):
            await sub.receive()
        with pytest.raises(AdapterClosedError):
            await pubsub.publish("t", 1)


@pytest.mark.parametrize("bad", [{"max_buffer_size": 0}, {"overflow": "block"}])
async def test_subscribe_validates_arguments(backend: Backend, bad: dict[str, object]) -> None:
    pubsub = await backend.open_pubsub()
    with pytest.raises(ValueError):
        pubsub.subscribe("t", **bad)  # type: ignore[arg-type]


async def test_redis_pubsub_must_be_entered(backend: Backend) -> None:
    if backend.kind != "redis":
        pytest.skip("only the redis pub/sub runs a reader task")
    pubsub = RedisPubSub(REDIS_URL, prefix=backend.prefix)
    try:
        with pytest.raises(AdapterClosedError):
            async with pubsub.subscribe("t"):
                pass
    finally:
        await pubsub.close()


async def test_redis_connection_loss_fails_subscriptions_then_recovers(backend: Backend) -> None:
    if backend.kind != "redis":
        pytest.skip("only the redis pub/sub has a connection to lose")
    name = "agentos-test-" + backend.prefix.split(":")[1]
    async with Redis.from_url(REDIS_URL, client_name=name) as client:
        pubsub = RedisPubSub(prefix=backend.prefix, client=client)
        async with pubsub:
            async with pubsub.subscribe("t") as sub:
                killed = 0
                for info in await client.client_list(_type="pubsub"):
                    if info["name"] == name:
                        killed += await client.client_kill_filter(_id=info["id"])
                assert killed == 1
                with anyio.fail_after(10), pytest.raises(AdapterUnavailableError):
                    await sub.receive()
            async with pubsub.subscribe("t") as again:
                await pubsub.publish("t", END)
                assert await take(again, 1) == [END]
