"""The stream socket (:3112) through a real node and real WebSocket clients.

No test sleeps: a client proves the server has applied its earlier frames by waiting for the
answer to a later one (frames of one socket are served in order), and a "nothing arrived" check
is a barrier event sent after the one that must not arrive.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import anyio
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidStatus

from engine.config import NodeConfig
from engine.errors import Forbidden
from engine.node import Node
from engine.types import Call

pytestmark = pytest.mark.anyio

ACME = Call("test", role="client", realm="acme")
TOKENS = [{"token": "t-acme", "role": "client", "realm": "acme"}, {"token": "t-root", "role": "system"}]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def stream_config(*, tokens: list[dict[str, Any]] | None = None, **stream: Any) -> NodeConfig:
    engine: dict[str, Any] = {"port": 0}
    if tokens:
        engine["auth"] = {"tokens": tokens}
    return NodeConfig.model_validate({"engine": engine, "workers": [{"name": "iii-stream", "config": {"port": 0, **stream}}]})


class Peer:
    """A stream client with short helpers; every wait has a deadline."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, message: Any) -> None:
        await self.ws.send(message if isinstance(message, (str, bytes)) else json.dumps(message))

    async def join(self, sub: str, stream: str = "chat", group: str = "room", item: str | None = None) -> dict[str, Any]:
        """Join and return the ``sync`` (or whatever answered the join)."""
        data = {"subscriptionId": sub, "streamName": stream, "groupId": group}
        if item is not None:
            data["id"] = item
        await self.send({"type": "join", "data": data})
        return await self.next()

    async def leave(self, sub: str) -> None:
        await self.send({"type": "leave", "data": {"subscriptionId": sub}})

    async def next(self) -> dict[str, Any]:
        with anyio.fail_after(5):
            return json.loads(await self.ws.recv())  # type: ignore[no-any-return]

    async def closed(self) -> tuple[int, str]:
        """Read until the server closes; the close code and reason it sent."""
        with anyio.fail_after(10):
            try:
                while True:
                    await self.ws.recv()
            except ConnectionClosed as exc:
                assert exc.rcvd is not None, f"no close frame received: {exc!r}"
                return exc.rcvd.code, exc.rcvd.reason


class Clients:
    def __init__(self, node: Node, stack: AsyncExitStack) -> None:
        self.node, self.stack = node, stack

    async def __call__(self, query: str = "", **kwargs: Any) -> Peer:
        url = f"ws://127.0.0.1:{self.node.ports['stream']}/{query}"
        return Peer(await self.stack.enter_async_context(connect(url, **kwargs)))


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    async with Node(stream_config()) as n:
        yield n


@pytest.fixture
async def clients(node: Node) -> AsyncIterator[Clients]:
    async with AsyncExitStack() as stack:
        yield Clients(node, stack)


def item(item_id: str = "m1", group: str = "room", **extra: Any) -> dict[str, Any]:
    return {"stream_name": "chat", "group_id": group, "item_id": item_id, **extra}


def event_of(msg: dict[str, Any]) -> tuple[str, Any, Any]:
    assert msg["type"] == "stream" and msg["streamName"] == "chat" and isinstance(msg["timestamp"], int), msg
    return msg["event"]["type"], msg["id"], msg["event"].get("data")


async def test_join_gets_a_sync_then_every_change_in_order(node: Node, clients: Clients) -> None:
    invoke = node.router.invoke
    await invoke("stream::set", item("m0", data={"text": "before"}))
    peer = await clients()
    sync = await peer.join("s1")
    assert (sync["groupId"], event_of(sync)) == ("room", ("sync", None, [{"text": "before"}]))
    await invoke("stream::set", item("m1", data={"text": "hi"}))
    await invoke("stream::set", item("m1", data={"text": "ho"}))
    await invoke("stream::update", item("m1", ops=[{"type": "set", "path": "n", "value": 1}]))
    await invoke("stream::delete", item("m0"))
    await invoke("stream::delete", item("absent"))  # deleting nothing is no event
    await invoke("stream::set", item("m1", group="elsewhere", data=0))  # another group
    await invoke("stream::send", {"stream_name": "chat", "group_id": "room", "type": "typing", "data": {"u": 1}})
    assert [event_of(await peer.next()) for _ in range(5)] == [
        ("create", "m1", {"text": "hi"}), ("update", "m1", {"text": "ho"}), ("update", "m1", {"text": "ho", "n": 1}),
        ("delete", "m0", {"text": "before"}), ("event", None, None)]


async def test_joining_one_item_gets_only_that_item(node: Node, clients: Clients) -> None:
    invoke = node.router.invoke
    peer = await clients()
    assert event_of(await peer.join("one", item="m1")) == ("sync", "m1", None)
    await invoke("stream::set", item("m2", data=2))
    await invoke("stream::set", item("m1", data=1))
    assert event_of(await peer.next()) == ("create", "m1", 1)
    assert event_of(await peer.join("again", item="m1")) == ("sync", "m1", 1)
    await invoke("stream::send", {"stream_name": "chat", "group_id": "room", "id": "m2", "type": "t", "data": 2})
    await invoke("stream::send", {"stream_name": "chat", "group_id": "room", "id": "m1", "type": "t", "data": 1})
    custom = await peer.next()
    assert custom["id"] == "m1" and custom["event"] == {"type": "event", "event": {"type": "t", "data": 1}}


async def test_leave_stops_the_events(node: Node, clients: Clients) -> None:
    invoke = node.router.invoke
    peer = await clients()
    await peer.join("a", group="a")
    await peer.leave("a")
    await peer.leave("never-joined")  # harmless
    await peer.join("b", group="b")  # served after the leave: a barrier
    await invoke("stream::set", item("x", group="a", data="must not arrive"))
    await invoke("stream::set", item("y", group="b", data="barrier"))
    assert event_of(await peer.next()) == ("create", "y", "barrier")
    assert node.modules["stream"].hub.statistics().subscriptions == 1


async def test_sockets_see_only_their_realm() -> None:
    async with Node(stream_config(tokens=TOKENS)) as node:
        async with AsyncExitStack() as stack:
            connect_ = Clients(node, stack)
            by_header = await connect_(additional_headers={"Authorization": "Bearer t-acme"})
            by_query = await connect_("?token=t-acme")
            root = await connect_(additional_headers={"Authorization": "Bearer t-root"})
            for peer in (by_header, by_query, root):
                await peer.join("s")
            await node.router.invoke("stream::set", item(data="default realm"))
            await node.router.invoke("stream::set", item("m2", data="acme realm"), call=ACME)
            for peer in (by_header, by_query):
                assert event_of(await peer.next()) == ("create", "m2", "acme realm")
            assert event_of(await root.next()) == ("create", "m1", "default realm")
            assert event_of(await by_query.join("t")) == ("sync", None, ["acme realm"])


@pytest.mark.parametrize("credentials", [{}, {"additional_headers": {"Authorization": "Bearer wrong"}}, {"query": "?token=wrong"}])
async def test_sockets_without_a_valid_token_are_closed(credentials: dict[str, Any]) -> None:
    async with Node(stream_config(tokens=TOKENS)) as node:
        async with AsyncExitStack() as stack:
            peer = await Clients(node, stack)(**credentials)
            code, reason = await peer.closed()
    assert code == 1008 and reason.startswith("unauthorized")


async def test_auth_function_decides_the_realm_and_the_context() -> None:
    seen: list[dict[str, Any]] = []

    async def authenticate(data: Any, call: Call) -> Any:
        seen.append(data)
        token = data["query_params"].get("token", [""])[0]
        if token == "acme-user":
            return {"context": {"realm": "acme", "user": "u1"}}
        if token == "odd":
            return "not an object"
        raise Forbidden("who are you?")

    async with Node(stream_config(auth_function="auth::stream")) as node:
        node.router.register_local("auth::stream", authenticate)
        async with AsyncExitStack() as stack:
            connect_ = Clients(node, stack)
            peer = await connect_("?token=acme-user&x=1&x=2", additional_headers={"X-Custom": "yes"})
            await peer.join("s")
            await node.router.invoke("stream::set", item(data="default"))
            await node.router.invoke("stream::set", item("m2", data="acme"), call=ACME)
            assert event_of(await peer.next()) == ("create", "m2", "acme")
            refused = await connect_("?token=nope")
            assert await refused.closed() == (1008, "unauthorized: who are you?")
            odd = await connect_("?token=odd")
            code, reason = await odd.closed()
            assert code == 1008 and "did not answer {context}" in reason
    request = seen[0]
    assert request["path"] == "/"
    assert request["query_params"] == {"token": ["acme-user"], "x": ["1", "2"]}
    assert request["headers"]["x-custom"] == "yes"
    assert request["addr"].startswith("127.0.0.1:")


async def test_hostile_frames_are_answered_and_the_socket_goes_on(node: Node, clients: Clients) -> None:
    peer, other = await clients(), await clients()
    await other.join("o")
    for frame in ["{{{", b"\xff\xfe", json.dumps({"type": "hello"}), json.dumps([1]),
                  json.dumps({"type": "join", "data": {"subscriptionId": "s", "groupId": "g"}})]:
        await peer.send(frame)
        answer = await peer.next()
        assert answer["type"] == "error" and answer["error"]["code"] == "invalid_message", answer
    await peer.send("   ")  # blank: ignored
    assert event_of(await peer.join("ok")) == ("sync", None, [])
    await peer.send("x" * 100_000)  # over the frame limit: this socket only is closed
    assert (await peer.closed())[0] == 1009
    await node.router.invoke("stream::set", item(data=1))
    assert event_of(await other.next()) == ("create", "m1", 1)


async def test_a_join_whose_read_fails_is_answered_with_an_error(node: Node, clients: Clients) -> None:
    async def broken(data: Any, call: Call) -> Any:
        raise Forbidden("no listing today")

    node.router.register_local("stream::list(chat)", broken)
    peer = await clients()
    answer = await peer.join("s")
    assert answer == {"type": "error", "error": {"code": "forbidden", "message": "join chat/room: no listing today"}}
    assert node.modules["stream"].hub.statistics().subscriptions == 0


async def test_a_slow_client_is_disconnected_and_the_others_keep_going(node: Node, clients: Clients) -> None:
    hub = node.modules["stream"].hub
    hub.max_pending = 8
    port = node.ports["stream"]
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window fills fast
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    slow = await clients(sock=sock, max_queue=1)  # stops reading once one frame is queued
    fast = await clients()
    await slow.join("s")
    await fast.join("f")
    pad = "x" * 65536
    for i in range(2000):
        await node.router.invoke("stream::send", {"stream_name": "chat", "group_id": "room", "type": "bulk",
                                                  "data": {"i": i, "pad": pad}})
        assert (await fast.next())["event"]["event"]["data"]["i"] == i
        if hub.statistics().slow_disconnects:
            break
    else:
        pytest.fail("the slow client was never disconnected")
    code, reason = await slow.closed()
    assert code == 1008 and reason == "slow consumer: fell 8 events behind; reconnect and join again"
    await node.router.invoke("stream::set", item(data="still flowing"))
    assert event_of(await fast.next()) == ("create", "m1", "still flowing")
    stats = hub.statistics()
    assert (stats.clients, stats.subscriptions, stats.slow_disconnects) == (1, 1, 1)


async def test_only_the_root_path_is_served(node: Node) -> None:
    with pytest.raises(InvalidStatus) as info:
        async with connect(f"ws://127.0.0.1:{node.ports['stream']}/other"):
            pass
    assert info.value.response.status_code == 404


async def test_shutdown_closes_the_sockets_going_away() -> None:
    async with AsyncExitStack() as stack:
        async with Node(stream_config()) as node:
            peer = await Clients(node, stack)()
            await peer.join("s")
        with pytest.raises(ConnectionClosedOK):
            await peer.ws.recv()
        assert peer.ws.close_code == 1001


async def test_a_socket_that_closes_is_forgotten(node: Node, clients: Clients) -> None:
    peer = await clients()
    await peer.join("s")
    await peer.ws.close()
    hub = node.modules["stream"].hub
    barrier = await clients()
    await barrier.join("b")
    with anyio.fail_after(5):
        while hub.statistics().clients != 1:  # the server notices the close on its own task
            await anyio.wait_all_tasks_blocked()
    assert hub.statistics().subscriptions == 1
