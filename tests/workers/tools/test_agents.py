"""agent_spawn / agent_send against a fake agent-core: depth, rates, no capability escalation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from workers.sdk import FunctionNotFound, InvocationError
from workers.sdk.testing import FunctionEnvironment
from workers.tools.agents import depth_of

from .conftest import Harness

pytestmark = pytest.mark.anyio

PARENT = {"agent_id": "alice", "tags": ["team"],
          "capabilities": {"tools": ["tool::file_*", "tool::web_fetch", "tool::agent_*"],
                           "memory_scopes": [],
                           "network_hosts": ["*.example.org"], "allow_agent_chat": False}}
TEMPLATE = {"name": "researcher", "spec": {"tags": ["research", "depth:0"], "capabilities": {
    "tools": ["*"], "network_hosts": ["docs.example.org", "*"], "allow_agent_chat": True}}}


class FakeCore:
    """agent::create / agent::templates::get / agent::chat, recording what they got."""

    def __init__(self, parent: dict[str, Any] | None = PARENT) -> None:
        self.parent = parent
        self.created: list[Any] = []
        self.chats: list[Any] = []

    def functions(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "state::get": lambda d: self.parent if d["key"] == "alice" else None,
            "agent::templates::get": lambda d: TEMPLATE,
            "agent::create": self.create,
            "agent::chat": self.chat,
        }

    def create(self, data: Any) -> Any:
        self.created.append(data)
        return {"agent_id": data["name"]}

    def chat(self, data: Any) -> Any:
        self.chats.append(data)
        return {"content": f"reply to {data['message'][-5:]}", "agent_id": data["agent_id"]}


def env(h: Harness, core: FakeCore, depth: int | None = None) -> FunctionEnvironment:
    return h.env(functions=core.functions(), depth=depth)


async def fails(h: Harness, code: str, function_id: str, data: Any, e: FunctionEnvironment) -> str:
    with pytest.raises(InvocationError) as caught:
        await h.call(function_id, data, e)
    assert caught.value.code == code, caught.value
    return caught.value.message


async def test_spawn_narrows_the_template_to_the_parent(harness: Harness) -> None:
    core = FakeCore()
    out = await harness.call("tool::agent_spawn", {"name": "helper", "template": "researcher"},
                             env(harness, core))
    assert out["capabilities"] == {"tools": [], "memory_scopes": [],
                                   "network_hosts": ["docs.example.org"], "allow_agent_chat": False}
    assert out["dropped"] == {"tools": ["*"], "network_hosts": ["*"]}
    assert out["depth"] == 1
    sent = core.created[0]
    assert sent["name"] == "helper" and sent["template"] == "researcher"
    assert sent["overrides"]["capabilities"] == out["capabilities"]
    assert sent["overrides"]["tags"] == ["research", "spawned", "depth:1", "parent:alice"]


async def test_spawn_with_explicit_capabilities(harness: Harness) -> None:
    core = FakeCore()
    out = await harness.call("tool::agent_spawn", {
        "name": "reader", "system_prompt": "Read.", "capabilities": {
            "tools": ["tool::file_read", "tool::shell_exec"], "allow_agent_chat": True}},
        env(harness, core))
    assert out["capabilities"]["tools"] == ["tool::file_read"]
    assert out["capabilities"]["allow_agent_chat"] is False
    assert core.created[0]["system_prompt"] == "Read." and "template" not in core.created[0]


async def test_without_a_parent_record_a_child_gets_nothing(harness: Harness) -> None:
    out = await harness.call("tool::agent_spawn", {"name": "orphan", "template": "researcher"},
                             env(harness, FakeCore(parent=None)))
    assert out["capabilities"] == {"tools": [], "memory_scopes": [], "network_hosts": [],
                                   "allow_agent_chat": False}


async def test_depth_comes_from_metadata_or_the_record_whichever_is_deeper(harness: Harness) -> None:
    assert depth_of({"tags": ["depth:3", "depth:x", "other"]}) == 3 and depth_of(None) == 0
    core = FakeCore()
    assert (await harness.call("tool::agent_spawn", {"name": "a1"}, env(harness, core, 3)))["depth"] == 4
    deep = FakeCore(parent={**PARENT, "tags": ["depth:4"]})
    assert (await harness.call("tool::agent_spawn", {"name": "a2"}, env(harness, deep, 1)))["depth"] == 5
    await fails(harness, "depth_exceeded", "tool::agent_spawn", {"name": "a3"}, env(harness, core, 5))
    deeper = FakeCore(parent={**PARENT, "tags": ["depth:5"]})
    await fails(harness, "depth_exceeded", "tool::agent_spawn", {"name": "a4"}, env(harness, deeper))
    await fails(harness, "depth_exceeded", "tool::agent_send",
                {"agent_id": "bob", "message": "hi"}, env(harness, deeper))


async def test_spawn_quota_per_agent(make: Callable[..., Harness]) -> None:
    h = make(agents={"spawn_per_hour": 2})
    core = FakeCore()
    for name in ("c1", "c2"):
        await h.call("tool::agent_spawn", {"name": name}, env(h, core))
    message = await fails(h, "rate_limited", "tool::agent_spawn", {"name": "c3"}, env(h, core))
    assert "2 agents per hour" in message
    other = h.env("bob", functions=core.functions())
    await h.call("tool::agent_spawn", {"name": "c4"}, other)  # bob has his own quota


async def test_send_waits_for_the_reply_and_marks_its_origin(harness: Harness) -> None:
    core = FakeCore()
    e = env(harness, core, 2)
    out = await harness.call("tool::agent_send", {"agent_id": "bob", "message": "hello"}, e)
    assert out == {"agent_id": "bob", "queued": False, "reply": "reply to hello"}
    assert core.chats == [{"agent_id": "bob", "message": "[message from agent alice]\nhello"}]
    assert e.calls[-1].metadata == {"agent_depth": 3, "from_agent": "alice", "taint": []}


async def test_send_can_queue_on_the_inbox(harness: Harness) -> None:
    e = env(harness, FakeCore())
    out = await harness.call("tool::agent_send", {"agent_id": "bob", "message": "later",
                                                  "wait": False}, e)
    assert out["queued"] is True and out["receipt"]
    assert (e.calls[-1].kind, e.calls[-1].queue) == ("enqueue", "agent.inbox")


async def test_send_limits(make: Callable[..., Harness]) -> None:
    h = make(agents={"messages_per_minute": 2, "max_message_bytes": 10})
    core = FakeCore()
    e = env(h, core)
    await fails(h, "invalid_arguments", "tool::agent_send", {"agent_id": "alice", "message": "me"}, e)
    await fails(h, "too_large", "tool::agent_send", {"agent_id": "bob", "message": "x" * 11}, e)
    for _ in range(2):
        await h.call("tool::agent_send", {"agent_id": "bob", "message": "hi"}, e)
    await fails(h, "rate_limited", "tool::agent_send", {"agent_id": "bob", "message": "hi"}, e)
    await h.call("tool::agent_send", {"agent_id": "carol", "message": "hi"}, e)  # another pair


async def test_without_agent_core_the_tools_are_not_available(harness: Harness) -> None:
    bare = harness.env()
    await fails(harness, "not_available", "tool::agent_send", {"agent_id": "bob", "message": "x"}, bare)
    await fails(harness, "not_available", "tool::agent_spawn", {"name": "x"}, bare)

    def missing(data: Any) -> Any:
        raise FunctionNotFound("no", function_id="agent::templates::get")

    await fails(harness, "not_available", "tool::agent_spawn", {"name": "x", "template": "t"},
                harness.env(functions={"agent::templates::get": missing}))


async def test_agent_core_errors_pass_through(harness: Harness) -> None:
    def exists(data: Any) -> Any:
        raise InvocationError("agent_exists", "taken")

    await fails(harness, "agent_exists", "tool::agent_spawn", {"name": "dup"},
                harness.env(functions={"agent::create": exists}))
