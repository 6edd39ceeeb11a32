"""An MCP server's tools as bus functions: an agent calls one; the server dies and comes back."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import anyio
import pytest

from tests.fakes import Slow, Text, ToolCall, ToolCalls
from workers.integrations import LinkStatus, load_integrations, result_json
from workers.sdk import FunctionNotFound, InvocationError

from .conftest import geo_config, running

BOUND = 30.0
"""A bound on waits for a server process to start (never a synchronisation)."""


def sent_tools(body: dict) -> dict[str, str]:
    return {t["function"]["description"].split(": ", 1)[0]: t["function"]["name"]
            for t in body.get("tools") or []}


async def test_an_agent_calls_an_mcp_tool_and_answers_with_its_result(server_script: Path) -> None:
    async with running([geo_config(server_script)]) as stack:
        link = stack.integrations.links["geo"]
        with anyio.fail_after(BOUND):
            await link.wait_for(lambda lk: lk.status is LinkStatus.UP)
        assert sorted(link.functions) == ["mcp::geo::capital", "mcp::geo::pid"]  # allowlist
        await stack.client.trigger("agent::create", {
            "name": "geographer", "system_prompt": "Use your tools.",
            "capabilities": {"tools": ["mcp::geo::*"]}})
        slow = Slow(then=Text("placeholder"))
        stack.fake.script(slow)

        async def script() -> None:
            await slow.arrived.wait()
            names = sent_tools(stack.fake.chat_requests[-1].body)
            assert set(names) == {"mcp::geo::capital", "mcp::geo::pid"}
            stack.fake.script(Text("The capital of France is Paris-from-MCP."))
            slow.then = ToolCalls([ToolCall("c1", names["mcp::geo::capital"],
                                            json.dumps({"country": "France"}))])
            slow.release.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(script)
            reply = await stack.client.trigger(
                "agent::chat", {"agent_id": "geographer", "message": "Capital of France?"},
                timeout=BOUND)
        assert reply["content"] == "The capital of France is Paris-from-MCP."
        [record] = reply["tool_calls"]
        assert record["function_id"] == "mcp::geo::capital"
        tool_messages = [m for m in stack.fake.chat_requests[-1].body["messages"]
                         if m["role"] == "tool"]
        assert "Paris-from-MCP" in tool_messages[0]["content"]  # the model saw the MCP result
        assert link.calls == 1
        status = await stack.client.trigger("mcp::status", {"id": "geo"})
        assert status["status"] == "up" and status["calls"] == 1


async def test_a_dead_server_is_restarted_and_its_tools_work_again(server_script: Path) -> None:
    async with running([geo_config(server_script)]) as stack:
        link = stack.integrations.links["geo"]
        with anyio.fail_after(BOUND):
            await link.wait_for(lambda lk: lk.status is LinkStatus.UP)
        pid = (await stack.client.trigger("mcp::geo::pid", {}))["structured"]["result"]
        os.kill(pid, signal.SIGKILL)
        with anyio.fail_after(BOUND):
            await link.wait_for(lambda lk: lk.generation == 2 and lk.status is LinkStatus.UP)
        result = await stack.client.trigger("mcp::geo::capital", {"country": "Peru"})
        assert result["text"] == "Lima-from-MCP"
        new_pid = (await stack.client.trigger("mcp::geo::pid", {}))["structured"]["result"]
        assert new_pid != pid
        assert link.last_error is None


async def test_a_server_that_cannot_start_stays_down_and_registers_nothing(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("raise SystemExit(3)\n")
    async with running([geo_config(broken), geo_config(broken, id="off", enabled=False)]) as stack:
        link = stack.integrations.links["geo"]
        with anyio.fail_after(BOUND):
            await link.wait_for(lambda lk: lk.status is LinkStatus.DOWN)
        assert link.functions == {} and link.last_error
        with pytest.raises(FunctionNotFound):
            await stack.client.trigger("mcp::geo::capital", {"country": "France"})
        listed = (await stack.client.trigger("mcp::list", {}))["integrations"]
        assert [(i["id"], i["status"]) for i in listed][1] == ("off", "disabled")


def test_result_json_flags_tool_errors() -> None:
    from mcp_types import CallToolResult, TextContent

    ok = CallToolResult(content=[TextContent(type="text", text="hi")])
    assert result_json(ok) == {"content": [{"type": "text", "text": "hi"}], "text": "hi",
                               "structured": None}
    with pytest.raises(InvocationError) as info:
        result_json(CallToolResult(content=[TextContent(type="text", text="boom")], is_error=True))
    assert info.value.code == "mcp_tool_error" and info.value.message == "boom"


def test_integration_files_load_and_bad_ones_are_skipped(tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "good.toml").write_text('[integration]\nid = "good"\ncommand = "x"\n'
                                        '[integration.env]\nTOKEN = { required = true }\n')
    (tmp_path / "bad.toml").write_text('[integration]\nid = "bad"\ntransport = "http"\n')
    (tmp_path / "broken.toml").write_text("not toml [")
    found = load_integrations(tmp_path)
    assert [c.id for c in found] == ["good"]
    assert found[0].resolved_env({"TOKEN": "t"}) == {"TOKEN": "t"}
    with pytest.raises(ValueError, match="TOKEN is required"):
        found[0].resolved_env({})
    assert "bad.toml" in caplog.text and "broken.toml" in caplog.text


def test_the_shipped_integration_files_load() -> None:
    repo = Path(__file__).resolve().parents[3]
    files = sorted((repo / "integrations").glob("*.toml"))
    assert len(load_integrations(repo / "integrations")) == len(files) > 0
