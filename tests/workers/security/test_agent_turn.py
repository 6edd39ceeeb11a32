"""A whole agent turn: an agent created through the API from a template calls its tools.

The stack is real: engine, llm-router (against the scripted OpenAI upstream), agent-core, a tools
worker and the security worker. Because ``security::check_capability`` is registered, agent-core
asks it about every tool call (see ``workers/agent_core/executor.py``); the seed's security worker
denied every tool of such an agent.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


from tests.fakes import FakeUpstream, Text, ToolCall, ToolCalls  # noqa: E402
from workers.agent_core import AgentCore, AgentCoreConfig, TemplateLibrary  # noqa: E402
from workers.agent_core.templates import Template, parse_template  # noqa: E402
from workers.llm_router import LlmRouter  # noqa: E402
from workers.sdk import Worker, function  # noqa: E402

from .agents import llm_config  # noqa: E402
from .conftest import Stack, running  # noqa: E402


def tools_worker(calls: list[str]) -> Worker:
    @function("tools::get_weather", description="Current weather of a city")
    async def weather(data: Any) -> dict[str, Any]:
        calls.append("tools::get_weather")
        return {"city": data.get("city"), "sky": "sunny"}

    @function("math::add_numbers", description="Add a and b")
    async def add(data: Any) -> dict[str, Any]:
        calls.append("math::add_numbers")
        return {"sum": data["a"] + data["b"]}

    return Worker("test-tools", functions=[weather, add])


@asynccontextmanager
async def agent_stack(tmp_path: Path, calls: list[str]) -> AsyncIterator[tuple[Stack, FakeUpstream]]:
    spec = parse_template({"agent": {"name": "helper",
                                     "capabilities": {"tools": ["tools::get_weather", "math::*"]}}})
    core = AgentCore(AgentCoreConfig(agents_dir=None, tool_timeout_s=10.0),
                     templates=TemplateLibrary([Template("helper", "<test>", spec)]))
    async with FakeUpstream() as fake:
        extra = [LlmRouter(llm_config(fake)).worker(), core.worker(), tools_worker(calls)]
        async with running(tmp_path, extra=extra) as stack:
            yield stack, fake


def both_tools() -> ToolCalls:
    return ToolCalls([ToolCall("c1", "tools__get_weather", '{"city": "Lisbon"}'),
                      ToolCall("c2", "math__add_numbers", '{"a": 2, "b": 3}')])


async def test_a_template_agent_runs_its_tools(tmp_path: Path) -> None:
    calls: list[str] = []
    async with agent_stack(tmp_path, calls) as (stack, fake):
        await stack.call("agent::create", {"template": "helper", "name": "h1"})
        fake.script(both_tools(), Text("Sunny, and 2 + 3 = 5."))
        result = await stack.call("agent::chat", {"agent_id": "h1", "message": "weather? 2+3?"})
        assert result["content"] == "Sunny, and 2 + 3 = 5."
        assert [(c["function_id"], c["ok"]) for c in result["tool_calls"]] == [
            ("tools::get_weather", True), ("math::add_numbers", True)]
        assert sorted(calls) == ["math::add_numbers", "tools::get_weather"]
        assert (await stack.call("security::audit_list", {"type": "capability.denied"}))["entries"] == []


async def test_the_security_worker_narrows_what_the_agent_may_run(tmp_path: Path) -> None:
    calls: list[str] = []
    async with agent_stack(tmp_path, calls) as (stack, fake):
        await stack.call("agent::create", {"template": "helper", "name": "h2"})
        await stack.call("security::set_capabilities", {"agent_id": "h2",
                                                        "capabilities": {"tools": ["math::*"]}})
        fake.script(both_tools(), Text("Only the sum: 5."))
        result = await stack.call("agent::chat", {"agent_id": "h2", "message": "weather? 2+3?"})
        outcome = {c["function_id"]: c for c in result["tool_calls"]}
        assert outcome["math::add_numbers"]["ok"] is True
        weather = outcome["tools::get_weather"]
        assert weather["ok"] is False and weather["error"]["code"] == "forbidden"
        assert "no tool glob admits tools::get_weather" in weather["error"]["message"]
        assert calls == ["math::add_numbers"]
        [denial] = (await stack.call("security::audit_list", {"type": "capability.denied"}))["entries"]
        assert (denial["agent_id"], denial["detail"]["resource"]) == ("h2", "tools::get_weather")
