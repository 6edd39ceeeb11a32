"""Subscriptions and bounded outboxes of stream sockets, without sockets."""

from __future__ import annotations

import anyio
import pytest

from engine.modules.stream_hub import Client, Hub, SlowClientError, Subscription


def drain(client: Client) -> list[str]:
    out = []
    while True:
        try:
            out.append(client.receive_nowait())
        except anyio.WouldBlock:
            return out


def live(hub: Hub, client: Client, sub: Subscription) -> None:
    hub.subscribe(client, sub)
    hub.release(client, sub, f"sync:{sub.id}")


def test_delivery_follows_realm_stream_group_and_item() -> None:
    hub = Hub()
    default, acme = Client(None), Client("acme")
    for c in (default, acme):
        hub.attach(c)
    live(hub, default, Subscription("group", "chat", "room"))
    live(hub, default, Subscription("item", "chat", "room", "m1"))
    live(hub, acme, Subscription("group", "chat", "room"))
    assert drain(default) == ["sync:group", "sync:item"]
    assert drain(acme) == ["sync:group"]

    assert hub.deliver(None, "chat", "room", "m1", "e1") == 2  # the group and the item subscription
    assert hub.deliver(None, "chat", "room", "m2", "e2") == 1
    assert hub.deliver(None, "chat", "other", "m1", "e3") == 0
    assert hub.deliver(None, "news", "room", "m1", "e4") == 0
    assert drain(default) == ["e1", "e1", "e2"]
    assert drain(acme) == []
    assert hub.deliver("acme", "chat", "room", None, "e5") == 1
    assert drain(acme) == ["e5"]
    assert hub.statistics().delivered == 4


def test_events_during_sync_are_held_then_follow_the_sync() -> None:
    hub = Hub()
    client = Client(None)
    hub.attach(client)
    sub = Subscription("s", "chat", "room")
    hub.subscribe(client, sub)
    hub.deliver(None, "chat", "room", "m1", "while-reading")
    assert drain(client) == []
    hub.release(client, sub, "sync")
    hub.deliver(None, "chat", "room", "m1", "after")
    assert drain(client) == ["sync", "while-reading", "after"]


def test_release_after_leave_sends_nothing() -> None:
    hub = Hub()
    client = Client(None)
    hub.attach(client)
    sub = Subscription("s", "chat", "room")
    hub.subscribe(client, sub)
    assert hub.unsubscribe(client, "s") is sub
    hub.release(client, sub, "sync")
    assert drain(client) == []
    assert hub.deliver(None, "chat", "room", None, "e") == 0
    assert hub.unsubscribe(client, "s") is None


def test_joining_again_with_the_same_id_replaces_the_subscription() -> None:
    hub = Hub()
    client = Client(None)
    hub.attach(client)
    first = Subscription("s", "chat", "a")
    live(hub, client, first)
    assert hub.subscribe(client, Subscription("s", "chat", "b")) is first
    hub.release(client, client.subscriptions["s"], "sync-b")
    assert hub.deliver(None, "chat", "a", None, "old") == 0
    assert hub.deliver(None, "chat", "b", None, "new") == 1
    assert drain(client) == ["sync:s", "sync-b", "new"]


def test_subscription_limit() -> None:
    hub = Hub(max_subscriptions=2)
    client = Client(None)
    live(hub, client, Subscription("a", "s", "g"))
    live(hub, client, Subscription("b", "s", "g"))
    with pytest.raises(ValueError, match="too many subscriptions"):
        hub.subscribe(client, Subscription("c", "s", "g"))
    hub.subscribe(client, Subscription("a", "s", "h"))  # a replacement is not one more


def test_a_client_that_falls_behind_is_failed_and_the_others_are_not() -> None:
    hub = Hub()
    failed: list[int] = []
    slow = Client(None, max_pending=3, on_fail=lambda: failed.append(1))
    fast = Client(None, max_pending=3)
    for c in (slow, fast):
        hub.attach(c)
        live(hub, c, Subscription("s", "chat", "room"))
    drain(slow), drain(fast)
    for i in range(5):
        hub.deliver(None, "chat", "room", None, f"e{i}")
        assert drain(fast) == [f"e{i}"]
    assert failed == [1]
    assert slow.statistics().pending == 0  # its outbox was dropped
    with pytest.raises(SlowClientError, match="slow consumer: fell 3 events behind"):
        slow.receive_nowait()
    assert not slow.offer_nowait("late")
    assert hub.statistics().slow_disconnects == 1
    assert [s.id for s in hub.detach(slow)] == ["s"]
    assert hub.statistics() == (1, 1, 8, 1)  # clients, subscriptions, delivered, slow_disconnects


def test_a_client_held_too_long_during_its_sync_is_failed() -> None:
    hub = Hub()
    client = Client(None, max_pending=2)
    hub.attach(client)
    sub = Subscription("s", "chat", "room")
    hub.subscribe(client, sub)
    for i in range(3):
        hub.deliver(None, "chat", "room", None, f"e{i}")
    assert isinstance(client.failure, SlowClientError)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_receive_waits_for_a_frame_and_ends_after_close() -> None:
    client = Client(None)
    got: list[str] = []

    async def reader() -> None:
        while True:
            try:
                got.append(await client.receive())
            except anyio.EndOfStream:
                return

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            await anyio.wait_all_tasks_blocked()
            client.offer_nowait("a")
            client.offer_nowait("b")
            client.close_nowait()
    assert got == ["a", "b"]
    assert client.statistics().sent == 2
    assert not client.offer_nowait("after close")
