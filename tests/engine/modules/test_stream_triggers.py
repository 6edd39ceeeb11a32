"""The ``stream``, ``stream:join`` and ``stream:leave`` trigger types, served to our worker SDK."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import anyio
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosedOK

from engine.config import NodeConfig
from engine.errors import WireError
from engine.node import Node
from engine.types import Call
from workers.sdk import Context, TriggerBinding, Worker, connect, function

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    config = NodeConfig.model_validate({"engine": {"port": 0}, "workers": [{"name": "iii-stream", "config": {"port": 0}}]})
    async with Node(config) as n:
        yield n


class Recorder:
    """What handlers saw, in arrival order; ``next()`` waits with a deadline."""

    def __init__(self) -> None:
        self._send, self._recv = anyio.create_memory_object_stream[tuple[str, Any]](1000)

    def record(self, kind: str, data: Any) -> None:
        self._send.send_nowait((kind, data))

    async def next(self) -> tuple[str, Any]:
        with anyio.fail_after(5):
            return await self._recv.receive()

    async def take(self, n: int) -> list[tuple[str, Any]]:
        return [await self.next() for _ in range(n)]

    def close(self) -> None:
        self._send.close()
        self._recv.close()


@pytest.fixture
def seen() -> Any:
    recorder = Recorder()
    yield recorder
    recorder.close()


async def socket(node: Node, stack: AsyncExitStack) -> ClientConnection:
    return await stack.enter_async_context(ws_connect(f"ws://127.0.0.1:{node.ports['stream']}/"))


async def join(ws: ClientConnection, sub: str, group: str = "room", item: str | None = None) -> dict[str, Any]:
    data = {"subscriptionId": sub, "streamName": "chat", "groupId": group, "id": item}
    await ws.send(json.dumps({"type": "join", "data": data}))
    with anyio.fail_after(5):
        return json.loads(await ws.recv())  # type: ignore[no-any-return]


def strip(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in ("_caller_worker_id", "timestamp")}


async def test_stream_triggers_fire_on_changes_with_iii_and_flat_fields(node: Node, seen: Recorder) -> None:
    @function("t::any")
    async def on_any(data: dict[str, Any], ctx: Context) -> None:
        seen.record("any", data)

    @function("t::one")
    async def on_one(data: dict[str, Any]) -> None:
        seen.record("one", data)

    @function("t::when")
    async def when(data: dict[str, Any]) -> bool:
        return bool(data["new_value"] != "skip me")

    @function("t::checked")
    async def on_checked(data: dict[str, Any]) -> None:
        seen.record("checked", data["new_value"])

    worker = Worker("observer", functions=[on_any, on_one, when, on_checked], triggers=[
        TriggerBinding("stream", "t::any", {"stream_name": "chat"}),
        TriggerBinding("stream", "t::one", {"stream_name": "chat", "group_id": "room", "item_id": "m1"}),
        TriggerBinding("stream", "t::checked", {"stream_name": "chat", "group_id": "other",
                                                "condition_function_id": "t::when"}),
    ])
    invoke = node.router.invoke
    async with connect(node.url, workers=[worker]):
        await invoke("stream::set", {"stream_name": "chat", "group_id": "room", "item_id": "m1", "data": {"n": 1}})
        first = sorted(await seen.take(2), key=lambda e: e[0])
        assert [kind for kind, _ in first] == ["any", "one"]
        assert strip(first[0][1]) == {
            "type": "stream", "streamName": "chat", "groupId": "room", "id": "m1",
            "event": {"type": "create", "data": {"n": 1}},
            "event_type": "create", "stream_name": "chat", "group_id": "room", "item_id": "m1",
            "old_value": None, "new_value": {"n": 1}}
        await invoke("stream::update", {"stream_name": "chat", "group_id": "room", "item_id": "m2",
                                        "ops": [{"type": "increment", "path": "n"}]})
        kind, data = await seen.next()  # t::one filters m2 out
        assert (kind, data["event_type"], data["item_id"], data["new_value"]) == ("any", "create", "m2", {"n": 1})
        await invoke("stream::delete", {"stream_name": "chat", "group_id": "room", "item_id": "m1"})
        deleted = sorted(await seen.take(2), key=lambda e: e[0])
        assert [(k, d["event_type"], d["old_value"], d["new_value"]) for k, d in deleted] == [
            ("any", "delete", {"n": 1}, None), ("one", "delete", {"n": 1}, None)]
        await invoke("stream::set", {"stream_name": "chat", "group_id": "other", "item_id": "x", "data": "skip me"})
        await invoke("stream::set", {"stream_name": "chat", "group_id": "other", "item_id": "x", "data": "keep"})
        rest = sorted([await seen.next() for _ in range(3)], key=lambda e: (e[0], str(e[1])))
        assert [(k, d if k == "checked" else d["event_type"]) for k, d in rest] == [
            ("any", "create"), ("any", "update"), ("checked", "keep")]
        await invoke("stream::set", {"stream_name": "news", "group_id": "room", "item_id": "m1", "data": 0})
        await invoke("stream::send", {"stream_name": "chat", "group_id": "room", "type": "t", "data": 0})
        await invoke("stream::set", {"stream_name": "chat", "group_id": "z", "item_id": "barrier", "data": 0})
        kind, data = await seen.next()  # neither another stream nor a custom event fires
        assert (kind, data["item_id"]) == ("any", "barrier")


async def test_join_and_leave_triggers_fire_and_a_join_can_be_refused(node: Node, seen: Recorder) -> None:
    @function("t::join")
    async def on_join(data: dict[str, Any]) -> dict[str, Any]:
        seen.record("join", strip(data))
        return {"unauthorized": data["group_id"] == "secret"}

    @function("t::leave")
    async def on_leave(data: dict[str, Any]) -> None:
        seen.record("leave", strip(data))

    worker = Worker("presence", functions=[on_join, on_leave], triggers=[
        TriggerBinding("stream:join", "t::join", {}), TriggerBinding("stream:leave", "t::leave", None)])
    async with connect(node.url, workers=[worker]), AsyncExitStack() as stack:
        ws = await socket(node, stack)
        assert (await join(ws, "s1", item="m1"))["event"]["type"] == "sync"
        assert await seen.next() == ("join", {"subscription_id": "s1", "stream_name": "chat", "group_id": "room",
                                              "id": "m1", "context": None})
        refused = await join(ws, "s2", group="secret")
        assert (refused["groupId"], refused["event"]) == ("secret", {"type": "unauthorized"})
        assert (await seen.next())[1]["group_id"] == "secret"
        await ws.send(json.dumps({"type": "leave", "data": {"subscriptionId": "s1"}}))
        assert await seen.next() == ("leave", {"subscription_id": "s1", "stream_name": "chat", "group_id": "room",
                                               "id": "m1", "context": None})
        await join(ws, "s3", group="lobby")
        await seen.next()
        await node.router.invoke("stream::set", {"stream_name": "chat", "group_id": "secret", "item_id": "x", "data": 1})
        await node.router.invoke("stream::set", {"stream_name": "chat", "group_id": "lobby", "item_id": "y", "data": 2})
        with anyio.fail_after(5):
            assert json.loads(await ws.recv())["groupId"] == "lobby"  # the refused join got nothing
        await ws.close()
        assert await seen.next() == ("leave", {"subscription_id": "s3", "stream_name": "chat", "group_id": "lobby",
                                               "id": None, "context": None})


async def test_a_failing_join_handler_does_not_refuse(node: Node) -> None:
    @function("t::broken")
    async def broken(data: dict[str, Any]) -> None:
        raise RuntimeError("presence service is down")

    worker = Worker("broken", functions=[broken], triggers=[TriggerBinding("stream:join", "t::broken", {})])
    async with connect(node.url, workers=[worker]), AsyncExitStack() as stack:
        ws = await socket(node, stack)
        assert (await join(ws, "s"))["event"]["type"] == "sync"


@pytest.mark.parametrize(("trigger_type", "config", "field"), [
    ("stream", {}, "stream_name"), ("stream", "chat", "config"), ("stream", {"stream_name": ""}, "stream_name"),
    ("stream:join", {"condition_function_id": 3}, "condition_function_id"),
])
async def test_bad_trigger_configs_are_refused(node: Node, trigger_type: str, config: Any, field: str) -> None:
    with pytest.raises(WireError) as info:
        await node.router.invoke("engine::register_trigger", {"trigger_type": trigger_type, "function_id": "t::x",
                                                              "config": config})
    assert info.value.code == "invalid_arguments"
    assert not node.modules["stream"].triggers.change.bound


async def test_triggers_fire_only_for_their_realm(node: Node, seen: Recorder) -> None:
    async def seen_by(data: Any, call: Call) -> None:
        seen.record(call.realm or "-", data["new_value"])

    router = node.router
    router.register_local("t::seen", seen_by)
    for realm in ("acme", None):
        await router.invoke("engine::register_trigger", {"trigger_type": "stream", "function_id": "t::seen",
                                                         "config": {"stream_name": "chat"}},
                            call=Call("t", role="worker", realm=realm))
    for realm in ("other", "acme", None):
        await router.invoke("stream::set", {"stream_name": "chat", "group_id": "g", "item_id": "i", "data": realm or "-"},
                            call=Call("t", role="client", realm=realm))
    assert sorted(await seen.take(2)) == [("-", "-"), ("acme", "acme")]
    assert node.modules["stream"].statistics()["stream_triggers"] == 2


async def test_join_triggers_see_only_their_realm_and_the_auth_context() -> None:
    """A join in realm ``acme`` (decided by the auth function) reaches acme's join triggers only."""
    seen: list[tuple[str | None, Any]] = []

    async def authenticate(data: Any, call: Call) -> Any:
        return {"context": {"realm": "acme", "user": "u1"}}

    async def on_join(data: Any, call: Call) -> Any:
        seen.append((call.realm, data["context"]))
        return None

    config = NodeConfig.model_validate({"engine": {"port": 0}, "workers": [
        {"name": "iii-stream", "config": {"port": 0, "auth_function": "auth::stream"}}]})
    async with Node(config) as node, AsyncExitStack() as stack:
        node.router.register_local("auth::stream", authenticate)
        node.router.register_local("t::join", on_join)
        for realm in ("acme", None, "other"):
            await node.router.invoke("engine::register_trigger", {"trigger_type": "stream:join", "function_id": "t::join"},
                                     call=Call("t", role="worker", realm=realm))
        ws = await socket(node, stack)
        assert (await join(ws, "s"))["event"]["type"] == "sync"
    assert seen == [("acme", {"realm": "acme", "user": "u1"})]


async def test_shutdown_does_not_wait_for_a_join_handler_that_hangs() -> None:
    started = anyio.Event()

    async def hangs(data: Any, call: Call) -> Any:
        started.set()
        await anyio.sleep_forever()

    config = NodeConfig.model_validate({"engine": {"port": 0}, "workers": [{"name": "iii-stream", "config": {"port": 0}}]})
    with anyio.fail_after(5):
        async with AsyncExitStack() as stack:
            async with Node(config) as node:
                node.router.register_local("t::hangs", hangs)
                await node.router.invoke("engine::register_trigger", {"trigger_type": "stream:join", "function_id": "t::hangs"})
                ws = await socket(node, stack)
                await ws.send(json.dumps({"type": "join", "data": {"subscriptionId": "s", "streamName": "c", "groupId": "g"}}))
                await started.wait()
            with pytest.raises(ConnectionClosedOK):
                await ws.recv()
            assert ws.close_code == 1001
