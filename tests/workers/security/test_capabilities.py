"""Capabilities through the engine: explicit sets, agents' own records, every kind of resource."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from workers.agent_core import AgentCore, AgentCoreConfig, TemplateLibrary
from workers.agent_core.templates import Template, parse_template

from .conftest import Stack, running


def library(**tools: list[str]) -> TemplateLibrary:
    """Templates named after the keywords, each with those tool globs (and a small budget)."""
    templates = []
    for name, globs in tools.items():
        spec = parse_template({"agent": {
            "name": name, "capabilities": {"tools": globs, "memory_scopes": ["self.*", "shared.docs"],
                                           "network_hosts": ["api.example.com", "*.wiki.example"]},
            "resources": {"max_tokens_per_hour": 1000}}})
        templates.append(Template(name=name, path=f"<test>/{name}", spec=spec))
    return TemplateLibrary(templates)


def agent_core(templates: TemplateLibrary) -> Any:
    return AgentCore(AgentCoreConfig(agents_dir=None), templates=templates).worker()


async def check(stack: Stack, agent: str, capability: str, resource: str = "", **extra: Any) -> dict[str, Any]:
    answer: dict[str, Any] = await stack.call("security::check_capability", {
        "agent_id": agent, "capability": capability, "resource": resource, **extra})
    return answer


async def allowed(stack: Stack, agent: str, capability: str, resource: str = "", **extra: Any) -> bool:
    answer = await check(stack, agent, capability, resource, **extra)
    assert isinstance(answer["reason"], str) and answer["reason"]
    return bool(answer["allowed"])


async def denials(stack: Stack) -> list[dict[str, Any]]:
    listed = await stack.call("security::audit_list", {"type": "capability.denied", "limit": 1000})
    return list(listed["entries"])


async def test_an_agent_created_from_a_template_uses_exactly_its_tools(tmp_path: Path) -> None:
    templates = library(researcher=["tools::get_weather", "kb::*"])
    async with running(tmp_path, extra=[agent_core(templates)]) as stack:
        created = await stack.call("agent::create", {"template": "researcher", "name": "r1"})
        assert created["capabilities"]["tools"] == ["tools::get_weather", "kb::*"]
        caps = await stack.call("security::get_capabilities", {"agent_id": "r1"})
        assert caps["source"] == "agent" and caps["capabilities"]["tools"] == ["tools::get_weather", "kb::*"]
        assert caps["capabilities"]["max_tokens_per_hour"] == 1000
        for tool in ("tools::get_weather", "kb::search", "kb::docs::fetch"):
            assert await allowed(stack, "r1", "tool", tool), tool
        for tool in ("tools::get_weather_v2", "tools::shell", "math::add", "kb", "agent::chat",
                     "security::set_capabilities", "vault::get", ""):
            assert not await allowed(stack, "r1", "tool", tool), tool
        assert len(await denials(stack)) == 8


async def test_explicit_capabilities_win_over_the_agent_record(tmp_path: Path) -> None:
    async with running(tmp_path, extra=[agent_core(library(writer=["tools::*"]))]) as stack:
        await stack.call("agent::create", {"template": "writer", "name": "w1"})
        assert await allowed(stack, "w1", "tool", "tools::spellcheck")
        stored = await stack.call("security::set_capabilities", {
            "agent_id": "w1", "capabilities": {"tools": ["docs::read"]}})
        assert stored["source"] == "explicit" and stored["capabilities"]["tools"] == ["docs::read"]
        assert not await allowed(stack, "w1", "tool", "tools::spellcheck")
        assert await allowed(stack, "w1", "tool", "docs::read")
        caps = await stack.call("security::get_capabilities", {"agent_id": "w1"})
        assert caps["source"] == "explicit"
        sets = await stack.call("security::audit_list", {"type": "capability.set"})
        assert [e["agent_id"] for e in sets["entries"]] == ["w1"]


async def test_archived_and_unknown_agents_are_denied(tmp_path: Path) -> None:
    async with running(tmp_path, extra=[agent_core(library(ops=["*"]))]) as stack:
        await stack.call("agent::create", {"template": "ops", "name": "o1"})
        assert await allowed(stack, "o1", "tool", "tools::anything")
        await stack.call("agent::archive", {"agent_id": "o1"})
        answer = await check(stack, "o1", "tool", "tools::anything")
        assert answer == {"allowed": False, "reason": "agent o1 is archived"}
        answer = await check(stack, "ghost", "tool", "tools::anything")
        assert answer == {"allowed": False, "reason": "unknown agent ghost"}
        assert (await stack.call("security::get_capabilities", {"agent_id": "ghost"}))["capabilities"] is None


async def test_without_agent_core_unknown_agents_are_denied(stack: Stack) -> None:
    answer = await check(stack, "nobody", "tool", "tools::x")
    assert answer == {"allowed": False, "reason": "unknown agent nobody"}
    [denial] = await denials(stack)
    assert denial["agent_id"] == "nobody"
    assert denial["detail"] == {"capability": "tool", "resource": "tools::x",
                                "reason": "unknown agent nobody"}


async def test_tool_globs_and_reserved_functions(stack: Stack) -> None:
    await stack.call("security::set_capabilities", {"agent_id": "star", "capabilities": {
        "tools": ["*", "vault::get"]}})
    assert await allowed(stack, "star", "tool", "tools::search")
    assert await allowed(stack, "star", "tool", "vault::get")  # listed exactly
    for reserved in ("security::set_capabilities", "security::audit", "vault::set", "state::set",
                     "engine::functions::list", "agent::update", "approval::decide",
                     "taint::declassify", "agent::chat"):
        answer = await check(stack, "star", "tool", reserved)
        assert answer["allowed"] is False, reserved
    await stack.call("security::set_capabilities", {"agent_id": "chat", "capabilities": {
        "tools": ["agent::*"], "allow_agent_chat": True}})
    assert await allowed(stack, "chat", "tool", "agent::chat")
    assert not await allowed(stack, "chat", "tool", "agent::update")


async def test_memory_scopes_and_network_hosts(stack: Stack) -> None:
    await stack.call("security::set_capabilities", {"agent_id": "m1", "capabilities": {
        "memory_scopes": ["self.*", "shared.docs"],
        "network_hosts": ["api.example.com", "*.wiki.example", "10.0.0.0/8"]}})
    assert await allowed(stack, "m1", "memory", "self.notes")
    assert await allowed(stack, "m1", "memory", "shared.docs")
    assert not await allowed(stack, "m1", "memory", "shared.secrets")
    assert not await allowed(stack, "m1", "memory", "")
    assert await allowed(stack, "m1", "network", "https://api.example.com/v1")
    assert await allowed(stack, "m1", "network", "en.wiki.example")
    assert await allowed(stack, "m1", "network", "10.2.3.4:8080")
    assert not await allowed(stack, "m1", "network", "wiki.example")
    assert not await allowed(stack, "m1", "network", "169.254.169.254")
    assert not await allowed(stack, "m1", "network", "")
    assert [d["detail"]["capability"] for d in await denials(stack)] == [
        "memory", "memory", "network", "network", "network"]


async def test_token_budget_over_a_sliding_hour(stack: Stack) -> None:
    await stack.call("security::set_capabilities", {"agent_id": "t1", "capabilities": {
        "max_tokens_per_hour": 1000}})
    assert (await check(stack, "t1", "tokens", amount=1000))["allowed"]
    assert (await stack.call("security::record_usage", {"agent_id": "t1", "tokens": 600}))["used"] == 600
    stack.clock.advance(30 * 60)
    assert (await stack.call("security::record_usage", {"agent_id": "t1", "tokens": 300}))["used"] == 900
    answer = await check(stack, "t1", "tokens", amount=200)
    assert answer["allowed"] is False and (answer["used"], answer["limit"]) == (900, 1000)
    assert "budget exceeded" in answer["reason"]
    assert (await check(stack, "t1", "tokens", amount=100))["allowed"]
    stack.clock.advance(31 * 60)  # the first 600 left the window
    answer = await check(stack, "t1", "tokens", amount=700)
    assert answer["allowed"] and answer["used"] == 300
    stack.clock.advance(2 * 3600)
    assert (await stack.call("security::record_usage", {"agent_id": "t1", "tokens": 5}))["used"] == 5
    await stack.call("security::set_capabilities", {"agent_id": "free", "capabilities": {}})
    answer = await check(stack, "free", "tokens", amount=10**9)
    assert answer["allowed"] and answer["limit"] is None


async def test_concurrent_usage_records_lose_nothing(stack: Stack) -> None:
    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(stack.call, "security::record_usage", {"agent_id": "c1", "tokens": 7})
    await stack.call("security::set_capabilities", {"agent_id": "c1", "capabilities": {
        "max_tokens_per_hour": 10_000}})
    assert (await check(stack, "c1", "tokens"))["used"] == 350


@pytest.mark.parametrize("payload", [
    None, {}, {"agent_id": "a"}, {"agent_id": "a", "capability": "root", "resource": "x"},
    {"agent_id": "", "capability": "tool", "resource": "x"},
    {"agent_id": "a b", "capability": "tool", "resource": "x"},
    {"agent_id": 5, "capability": "tool", "resource": "x"},
    {"agent_id": "a", "capability": "tool", "resource": ["x"]},
    {"agent_id": "a", "capability": "tokens", "amount": -1},
    {"agent_id": "a", "capability": "tool", "resource": "x" * 5000},
])
async def test_check_refuses_malformed_payloads(stack: Stack, payload: Any) -> None:
    assert await stack.code_of("security::check_capability", payload) == "invalid_arguments"


@pytest.mark.parametrize(("function_id", "payload"), [
    ("security::set_capabilities", {"agent_id": "a", "capabilities": {"tools": "tools::*"}}),
    ("security::set_capabilities", {"agent_id": "a", "capabilities": {"tools": [""]}}),
    ("security::set_capabilities", {"agent_id": "a", "capabilities": {"max_tokens_per_hour": -5}}),
    ("security::set_capabilities", {"agent_id": "a"}),
    ("security::record_usage", {"agent_id": "a", "tokens": "many"}),
    ("security::get_capabilities", {}),
])
async def test_other_malformed_payloads(stack: Stack, function_id: str, payload: Any) -> None:
    assert await stack.code_of(function_id, payload) == "invalid_arguments"
