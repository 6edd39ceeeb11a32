"""``iii-stream`` functions through a real node: results as iii's, realms, delegation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from engine.config import NodeConfig
from engine.errors import Forbidden, WireError
from engine.node import Node
from engine.types import Call

pytestmark = pytest.mark.anyio

ACME = Call("test", role="client", realm="acme")
DEFAULT = Call("test", role="client", realm=None)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def stream_config(**stream: Any) -> NodeConfig:
    return NodeConfig.model_validate({"engine": {"port": 0},
                                      "workers": [{"name": "iii-stream", "config": {"port": 0, **stream}}]})


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    async with Node(stream_config()) as n:
        yield n


def item(stream: str = "chat", group: str = "room", item_id: str = "m1", **extra: Any) -> dict[str, Any]:
    return {"stream_name": stream, "group_id": group, "item_id": item_id, **extra}


async def test_item_functions_answer_as_iii(node: Node) -> None:
    invoke = node.router.invoke
    assert await invoke("stream::get", item()) is None
    assert await invoke("stream::set", item(data={"text": "hi"})) == {"old_value": None, "new_value": {"text": "hi"}}
    assert await invoke("stream::set", item(data={"text": "ho"})) == {"old_value": {"text": "hi"}, "new_value": {"text": "ho"}}
    assert await invoke("stream::get", item()) == {"text": "ho"}
    await invoke("stream::set", item(item_id="m0", data=1))
    await invoke("stream::set", item(group="lobby", item_id="x", data=2))
    await invoke("stream::set", item(stream="news", group="today", item_id="y", data=3))
    assert await invoke("stream::list", {"stream_name": "chat", "group_id": "room"}) == [1, {"text": "ho"}]
    assert await invoke("stream::list", {"stream_name": "chat", "group_id": "nobody"}) == []
    assert await invoke("stream::list_groups", {"stream_name": "chat"}) == ["lobby", "room"]
    assert await invoke("stream::list_all", {}) == {
        "stream": [{"id": "chat", "groups": ["lobby", "room"]}, {"id": "news", "groups": ["today"]}], "count": 2}
    assert await invoke("stream::delete", item()) == {"old_value": {"text": "ho"}}
    assert await invoke("stream::delete", item()) == {"old_value": None}
    assert await invoke("stream::get", item()) is None
    assert await invoke("stream::send", {"stream_name": "chat", "group_id": "room", "type": "typing", "data": {}}) is None


async def test_update_applies_state_ops_atomically(node: Node) -> None:
    invoke = node.router.invoke
    first = await invoke("stream::update", item(ops=[{"type": "set", "path": "n", "value": 1},
                                                     {"type": "append", "path": "tags", "value": "a"}]))
    assert first == {"old_value": None, "new_value": {"n": 1, "tags": ["a"]}}
    second = await invoke("stream::update", item(ops=[{"type": "increment", "path": "n", "by": 4},
                                                      {"type": "merge", "value": {"k": True}},
                                                      {"type": "remove", "path": "tags"}]))
    assert second == {"old_value": {"n": 1, "tags": ["a"]}, "new_value": {"n": 5, "k": True}}
    with pytest.raises(WireError) as misfit:
        await invoke("stream::update", item(ops=[{"type": "increment", "path": "k"}]))
    assert misfit.value.code == "UPDATE_ERROR"
    with pytest.raises(WireError) as bad:
        await invoke("stream::update", item(ops=[{"type": "explode"}]))
    assert bad.value.code == "invalid_arguments"
    assert await invoke("stream::get", item()) == {"n": 5, "k": True}  # nothing was written


@pytest.mark.parametrize(("function_id", "payload", "field"), [
    ("stream::set", {"stream_name": "s", "group_id": "g"}, "item_id"),
    ("stream::set", {"stream_name": "", "group_id": "g", "item_id": "i"}, "stream_name"),
    ("stream::get", None, "stream_name"),
    ("stream::list", {"stream_name": "s"}, "group_id"),
    ("stream::list_groups", "chat", "payload"),
    ("stream::update", item(ops="increment"), "ops"),
    ("stream::send", {"stream_name": "s", "group_id": "g"}, "type"),
])
async def test_bad_arguments_are_invalid_arguments(node: Node, function_id: str, payload: Any, field: str) -> None:
    with pytest.raises(WireError) as info:
        await node.router.invoke(function_id, payload)
    assert info.value.code == "invalid_arguments"
    assert field in info.value.message


async def test_realms_never_see_each_others_streams(node: Node) -> None:
    invoke = node.router.invoke
    await invoke("stream::set", item(data="acme's"), call=ACME)
    await invoke("stream::set", item(data="default's"), call=DEFAULT)
    await invoke("stream::set", item(stream="secret", data=1), call=ACME)
    assert await invoke("stream::get", item(), call=ACME) == "acme's"
    assert await invoke("stream::get", item(), call=DEFAULT) == "default's"
    assert await invoke("stream::get", item(), call=Call("t", role="client", realm="other")) is None
    assert await invoke("stream::list_all", {}, call=ACME) == {
        "stream": [{"id": "chat", "groups": ["room"]}, {"id": "secret", "groups": ["room"]}], "count": 2}
    assert await invoke("stream::list_all", {}, call=DEFAULT) == {"stream": [{"id": "chat", "groups": ["room"]}], "count": 1}
    assert await invoke("stream::list_groups", {"stream_name": "secret"}, call=DEFAULT) == []
    assert await invoke("stream::delete", item(), call=DEFAULT) == {"old_value": "default's"}
    assert await invoke("stream::get", item(), call=ACME) == "acme's"


async def test_names_cannot_alias_each_other(node: Node) -> None:
    invoke = node.router.invoke
    await invoke("stream::set", item(stream="a/b", group="c", data=1))
    await invoke("stream::set", item(stream="a", group="b/c", data=2))
    await invoke("stream::set", item(stream="a%2Fb", group="c", data=3))
    await invoke("stream::set", item(stream="x\x1fy", group="z", data=4))
    assert await invoke("stream::list", {"stream_name": "a/b", "group_id": "c"}) == [1]
    assert await invoke("stream::list", {"stream_name": "a", "group_id": "b/c"}) == [2]
    assert await invoke("stream::list_groups", {"stream_name": "a"}) == ["b/c"]
    listed = (await invoke("stream::list_all", {}))["stream"]
    assert listed == [{"id": "a", "groups": ["b/c"]}, {"id": "a%2Fb", "groups": ["c"]},
                      {"id": "a/b", "groups": ["c"]}, {"id": "x\x1fy", "groups": ["z"]}]


async def test_a_stream_with_its_own_functions_is_delegated_to(node: Node) -> None:
    """iii SDK ``create_stream`` registers ``stream::<op>(<name>)``; the built-ins call those."""
    calls: list[tuple[str, Any, str | None]] = []
    store: dict[str, Any] = {}

    def op(name: str, answer: Any) -> Any:
        async def handler(data: Any, call: Call) -> Any:
            calls.append((name, dict(data), call.realm))
            return answer(data)
        return handler

    reg = node.router.register_local
    reg("stream::get(custom)", op("get", lambda d: store.get(d["item_id"])))
    reg("stream::set(custom)", op("set", lambda d: {"old_value": store.get(d["item_id"]),
                                                     "new_value": store.setdefault(d["item_id"], d["data"])}))
    reg("stream::delete(custom)", op("delete", lambda d: {"old_value": store.pop(d["item_id"], None)}))
    reg("stream::list(custom)", op("list", lambda d: list(store.values())))
    reg("stream::list_groups(custom)", op("list_groups", lambda d: ["g1"]))
    invoke = node.router.invoke
    assert await invoke("stream::set", item(stream="custom", data=7), call=ACME) == {"old_value": None, "new_value": 7}
    assert await invoke("stream::get", item(stream="custom"), call=ACME) == 7
    assert await invoke("stream::list", {"stream_name": "custom", "group_id": "room"}) == [7]
    assert await invoke("stream::list_groups", {"stream_name": "custom"}) == ["g1"]
    assert await invoke("stream::delete", item(stream="custom")) == {"old_value": 7}
    assert calls[0] == ("set", item(stream="custom", data=7), "acme")
    assert [c[0] for c in calls] == ["set", "get", "list", "list_groups", "delete"]
    assert await invoke("stream::list_all", {}) == {"stream": [], "count": 0}  # nothing went to the adapter
    assert await invoke("stream::get", item()) is None  # other streams still use the adapter


async def test_a_delegate_with_a_wrong_answer_fails_the_call(node: Node) -> None:
    async def broken(data: Any, call: Call) -> Any:
        return "not an object"

    node.router.register_local("stream::set(broken)", broken)
    with pytest.raises(WireError) as info:
        await node.router.invoke("stream::set", item(stream="broken", data=1))
    assert info.value.code == "invocation_failed"


async def test_a_delegate_private_to_another_realm_is_not_used(node: Node) -> None:
    async def private(data: Any, call: Call) -> Any:
        raise Forbidden("must not be called")

    node.router.register_local("stream::get(chat)", private)
    node.router.registry.resolve("default", "stream::get(chat)").realm = "other"  # type: ignore[union-attr]
    await node.router.invoke("stream::set", item(data=1), call=ACME)
    assert await node.router.invoke("stream::get", item(), call=ACME) == 1


async def test_leaving_the_node_unregisters_the_module() -> None:
    async with Node(stream_config()) as node:
        router = node.router
        assert router.registry.resolve("default", "stream::set") is not None
        assert ("default", "stream:join") in router.registry.types
        assert node.ports["stream"] > 0
    assert router.registry.resolve("default", "stream::set") is None
    assert ("default", "stream") not in router.registry.types
