"""Agent records and their lifecycle, through the engine (state and pubsub are the real modules)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from tests.fakes import FakeUpstream
from workers.agent_core import TemplateLibrary
from workers.agent_core.agents import TRANSITIONS, Action, action_towards, next_status
from workers.agent_core.spec import Status
from workers.agent_core.worker import DEFAULT_AGENTS_DIR
from workers.sdk import Context, InvocationError, Worker, connect, function

from .conftest import Stack, running


async def code_of(stack: Stack, function_id: str, payload: dict[str, Any]) -> str:
    with pytest.raises(InvocationError) as err:
        await stack.client.trigger(function_id, payload, timeout=10)
    return err.value.code


async def test_create_get_list_update_delete(stack: Stack) -> None:
    created = await stack.create(name="helper", description="helps", tags=["a"],
                                 capabilities={"tools": ["math::*"]})
    assert created["agent_id"] == created["name"] == "helper"
    assert created["status"] == "deployed" and created["model"] == "default"
    assert await stack.client.trigger("agent::get", {"agent_id": "helper"}) == created
    assert await code_of(stack, "agent::create", {"name": "helper"}) == "agent_exists"
    await stack.create(name="other", tags=["b"])

    listed = await stack.client.trigger("agent::list", {})
    assert [a["agent_id"] for a in listed["agents"]] == ["helper", "other"]
    tagged = await stack.client.trigger("agent::list", {"tag": "b"})
    assert [a["agent_id"] for a in tagged["agents"]] == ["other"]

    updated = await stack.client.trigger("agent::update", {
        "agent_id": "helper", "description": "helps more", "capabilities": {"memory_scopes": ["x"]}})
    assert updated["description"] == "helps more"
    assert updated["capabilities"]["tools"] == ["math::*"]  # merged, not replaced
    assert updated["capabilities"]["memory_scopes"] == ["x"]
    assert updated["created_at"] == created["created_at"]

    assert await code_of(stack, "agent::update", {"agent_id": "helper", "name": "renamed"}) \
        == "invalid_arguments"
    assert await code_of(stack, "agent::update", {"agent_id": "helper", "temperature": 9}) \
        == "invalid_arguments"
    assert await code_of(stack, "agent::update", {"agent_id": "ghost", "description": "x"}) \
        == "agent_not_found"

    assert await stack.client.trigger("agent::delete", {"agent_id": "helper"}) == {
        "deleted": True, "agent_id": "helper"}
    assert await code_of(stack, "agent::get", {"agent_id": "helper"}) == "agent_not_found"
    assert await code_of(stack, "agent::delete", {"agent_id": "helper"}) == "agent_not_found"


@pytest.mark.parametrize("spec", [
    {"name": "Bad"}, {"name": "-x"}, {"name": "a" * 65}, {"name": "ok", "capabilities": {"tool": []}},
    {"name": "ok", "variables": {"realm": "acme"}}, {"name": "ok", "variables": {"1x": "y"}},
    {"name": "ok", "max_iterations": 0}, {"name": "ok", "unknown_field": 1},
])
async def test_invalid_specs_are_refused(stack: Stack, spec: dict[str, Any]) -> None:
    assert await code_of(stack, "agent::create", spec) == "invalid_arguments"


async def test_paused_agents_refuse_runs_and_resume(stack: Stack) -> None:
    await stack.create(name="helper")
    paused = await stack.client.trigger("agent::pause", {"agent_id": "helper"})
    assert paused["status"] == "paused"
    assert await code_of(stack, "agent::chat", {"agent_id": "helper", "message": "hi"}) == "agent_paused"
    assert stack.fake.chat_requests == []
    # a paused agent can still be edited
    await stack.client.trigger("agent::update", {"agent_id": "helper", "description": "zzz"})
    assert await code_of(stack, "agent::pause", {"agent_id": "helper"}) == "invalid_transition"
    await stack.client.trigger("agent::resume", {"agent_id": "helper"})
    result = await stack.chat({"agent_id": "helper", "message": "hi"})
    assert result["content"] == FakeUpstream.DEFAULT_TEXT


async def test_archived_agents_are_read_only(stack: Stack) -> None:
    await stack.create(name="helper")
    archived = await stack.client.trigger("agent::update", {"agent_id": "helper", "status": "archived"})
    assert archived["status"] == "archived"
    assert await code_of(stack, "agent::chat", {"agent_id": "helper", "message": "hi"}) == "agent_archived"
    assert await code_of(stack, "agent::update", {"agent_id": "helper", "description": "x"}) \
        == "agent_archived"
    assert await code_of(stack, "agent::update", {"agent_id": "helper", "status": "deployed"}) \
        == "agent_archived"
    assert await code_of(stack, "agent::resume", {"agent_id": "helper"}) == "invalid_transition"
    assert (await stack.client.trigger("agent::get", {"agent_id": "helper"}))["status"] == "archived"
    await stack.client.trigger("agent::delete", {"agent_id": "helper"})


async def test_lifecycle_events_are_published(fake: FakeUpstream) -> None:
    events: list[dict[str, Any]] = []
    seen = anyio.Event()

    @function("test::on_lifecycle")
    async def on_lifecycle(data: Any, ctx: Context) -> None:
        events.append(data)
        if data.get("event") == "deleted":
            seen.set()

    async with running(fake, extra=[Worker("listener", functions=[on_lifecycle])]) as stack:
        await stack.client.bind("subscribe", "test::on_lifecycle", {"topic": "agent.lifecycle"})
        await stack.create(name="helper")
        await stack.client.trigger("agent::pause", {"agent_id": "helper"})
        await stack.client.trigger("agent::update", {"agent_id": "helper", "status": "deployed",
                                                     "description": "d"})
        await stack.client.trigger("agent::archive", {"agent_id": "helper"})
        await stack.client.trigger("agent::delete", {"agent_id": "helper"})
        with anyio.fail_after(10):
            await seen.wait()
    assert [(e["event"], e["status"]) for e in events] == [
        ("created", "deployed"), ("paused", "paused"), ("updated", "deployed"),
        ("resumed", "deployed"), ("archived", "archived"), ("deleted", "archived")]
    assert all(e["agent_id"] == "helper" for e in events)


async def test_create_from_a_template_with_overrides(fake: FakeUpstream) -> None:
    async with running(fake, templates=TemplateLibrary.load(DEFAULT_AGENTS_DIR)) as stack:
        listed = await stack.client.trigger("agent::templates::list", {})
        names = [t["name"] for t in listed["templates"]]
        assert {"default", "coder", "researcher", "writer", "analyst", "ops"} <= set(names)

        agent = await stack.client.trigger("agent::create", {
            "template": "coder", "name": "my-coder",
            "overrides": {"model": "fast", "variables": {"language": "Rust"},
                          "capabilities": {"network_hosts": ["github.com"]}}})
        assert agent["template"] == "coder"
        assert agent["model"] == "fast"
        assert agent["variables"] == {"language": "Rust"}
        assert agent["capabilities"]["tools"] == ["tool::*", "memory::*", "kb::search"]
        assert agent["capabilities"]["network_hosts"] == ["github.com"]
        assert "senior software engineer" in agent["system_prompt"]
        assert agent["tags"] == ["engineering", "code"]

        assert await code_of(stack, "agent::create", {"template": "nope", "name": "x"}) \
            == "template_not_found"
        assert await code_of(stack, "agent::create", {"template": "coder", "name": "y",
                                                      "overrides": {"name": "z"}}) \
            == "invalid_arguments"
        assert await code_of(stack, "agent::create", {"template": "coder", "name": "y",
                                                      "overrides": {"variables": {"tools": "*"}}}) \
            == "invalid_arguments"


async def test_list_tools_shows_what_a_run_is_offered(stack: Stack) -> None:
    await stack.create(name="helper", capabilities={"tools": ["math::*", "tools::get_*"]})
    tools = (await stack.client.trigger("agent::list_tools", {"agent_id": "helper"}))["tools"]
    assert [(t["function_id"], t["function"]["name"]) for t in tools] == [
        ("math::add_numbers", "math__add_numbers"), ("tools::get_weather", "tools__get_weather")]


def test_the_transition_table() -> None:
    assert next_status(Status.DEPLOYED, Action.PAUSE) is Status.PAUSED
    assert next_status(Status.PAUSED, Action.RESUME) is Status.DEPLOYED
    assert next_status(Status.PAUSED, Action.ARCHIVE) is Status.ARCHIVED
    assert TRANSITIONS[Status.ARCHIVED] == {}
    for status in Status:
        for action in Action:
            if action not in TRANSITIONS[status]:
                with pytest.raises(InvocationError) as err:
                    next_status(status, action)
                assert err.value.code == "invalid_transition"
    assert action_towards(Status.DEPLOYED, Status.DEPLOYED) is None
    assert action_towards(Status.DEPLOYED, Status.ARCHIVED) is Action.ARCHIVE
    with pytest.raises(InvocationError):
        action_towards(Status.ARCHIVED, Status.PAUSED)


async def test_agents_and_sessions_live_in_the_callers_realm(fake: FakeUpstream) -> None:
    async with running(fake, auth=True) as stack:  # stack.client is bound to realm acme
        await stack.create(name="helper", system_prompt="realm={{realm}}")
        await stack.chat({"agent_id": "helper", "message": "hi", "session_id": "s"})
        assert fake.chat_requests[0].body["messages"][0]["content"] == "realm=acme"
        async with connect(stack.node.url, workers=[], name="beta", token="t-beta") as beta:
            assert (await beta.trigger("agent::list", {}))["agents"] == []
            with pytest.raises(InvocationError) as err:
                await beta.trigger("agent::chat", {"agent_id": "helper", "message": "hi"})
            assert err.value.code == "agent_not_found"
            assert await beta.trigger("state::get", {"scope": "sessions:helper", "key": "s"}) is None
            await beta.trigger("agent::create", {"name": "helper", "description": "beta's own"})
        mine = await stack.client.trigger("agent::get", {"agent_id": "helper"})
        assert mine["description"] == ""
        session = await stack.client.trigger("state::get", {"scope": "sessions:helper", "key": "s"})
        assert len(session["messages"]) == 2
