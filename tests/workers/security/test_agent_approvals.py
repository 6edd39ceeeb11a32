"""Agent runs that pause for a human's approval, and go on once it is decided — also after the
engine restarted in between (the run is in SQLite state, the resume in the SQLite queue).

The whole stack is real (see :mod:`.agents`); the model is the scripted fake upstream, and the
tool names it answers with are the ones agent-core sends (``tools__get_weather`` …).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.fakes import FakeUpstream, Text, ToolCall, ToolCalls
from workers.sdk import InvocationError

from .agents import Box, agent_stack
from .conftest import Stack

WEATHER = ToolCalls([ToolCall("c1", "tools__get_weather", '{"city": "Lisbon"}')])
BOTH = ToolCalls([ToolCall("c1", "tools__get_weather", '{"city": "Lisbon"}'),
                  ToolCall("c2", "math__add_numbers", '{"a": 2, "b": 3}')])
NOTIFY = {"function_id": "test::run_finished", "data": {"chat": "c-42"}}


async def setup_agent(stack: Stack, *, tools: list[str]) -> None:
    await stack.call("agent::create", {"template": "helper", "name": "h1"})
    await stack.call("approval::set_policy", {"tools": tools})


async def paused_chat(stack: Stack, message: str = "weather in Lisbon?") -> dict[str, Any]:
    result: dict[str, Any] = await stack.call("agent::chat", {
        "agent_id": "h1", "message": message, "session_id": "s-1", "notify": NOTIFY})
    assert result["status"] == "paused" and result["finish_reason"] == "approval_required"
    return result


async def wait_finished(box: Box) -> dict[str, Any]:
    with anyio.fail_after(20):
        await box.finished.wait()
    [outcome] = box.outcomes
    return outcome


def tool_contents(fake: FakeUpstream, index: int) -> dict[str, str]:
    body = fake.chat_requests[index].body
    return {m["tool_call_id"]: m["content"] for m in body["messages"] if m["role"] == "tool"}


async def test_a_paused_run_resumes_after_an_engine_restart(tmp_path: Path) -> None:
    box, db = Box(), tmp_path / "durable.db"
    async with FakeUpstream() as fake:
        async with agent_stack(tmp_path, box, fake, db=db) as stack:
            await setup_agent(stack, tools=["tools::get_weather"])
            fake.script(WEATHER, Text("It is sunny in Lisbon."))
            paused = await paused_chat(stack)
            [approval] = paused["approvals"]
            assert approval["function_id"] == "tools::get_weather"
            assert approval["arguments"] == {"city": "Lisbon"}
            assert "paused until a human approves" in paused["content"]
            assert box.calls == []  # the tool waits for the human
            stored = await stack.call("agent::run_get", {"run_id": paused["run_id"]})
            assert stored["status"] == "paused"
        # engine, agent-core, security, router: all gone. A new node opens the same SQLite file.
        async with agent_stack(tmp_path, box, fake, db=db) as stack:
            pending = await stack.call("approval::list", {"status": "pending"})
            assert [a["approval_id"] for a in pending["approvals"]] == [approval["approval_id"]]
            await stack.call("approval::decide", {"approval_id": approval["approval_id"],
                                                  "decision": "approve", "by": "dana"})
            outcome = await wait_finished(box)
            assert outcome["chat"] == "c-42" and outcome["run_id"] == paused["run_id"]
            assert outcome["status"] == "completed"
            assert outcome["result"]["content"] == "It is sunny in Lisbon."
            assert box.calls == ["tools::get_weather"]
            assert '"sky": "sunny"' in tool_contents(fake, 1)["c1"]
            run = await stack.call("agent::run_get", {"run_id": paused["run_id"]})
            assert run["status"] == "completed" and run["result"]["content"] == "It is sunny in Lisbon."
            # the session holds the whole turn, as for a run that never paused
            session = await stack.call("state::get", {"scope": "sessions:h1", "key": "s-1"})
            assert [m["role"] for m in session["messages"]] == ["user", "assistant"]
            assert session["messages"][1]["content"] == "It is sunny in Lisbon."


async def test_a_rejected_call_never_runs_and_the_model_is_told(tmp_path: Path) -> None:
    box = Box()
    async with FakeUpstream() as fake, agent_stack(tmp_path, box, fake) as stack:
        await setup_agent(stack, tools=["tools::get_weather"])
        fake.script(WEATHER, Text("I was not allowed to check the weather."))
        paused = await paused_chat(stack)
        [approval] = paused["approvals"]
        await stack.call("approval::decide", {"approval_id": approval["approval_id"],
                                              "decision": "reject", "by": "dana", "note": "not now"})
        outcome = await wait_finished(box)
        assert outcome["result"]["content"] == "I was not allowed to check the weather."
        assert box.calls == []
        rejected = tool_contents(fake, 1)["c1"]
        assert "approval_rejected" in rejected and "not now" in rejected
        [call] = outcome["result"]["tool_calls"]
        assert call["ok"] is False and call["error"]["code"] == "approval_rejected"


async def test_a_round_goes_on_once_every_call_in_it_is_decided(tmp_path: Path) -> None:
    box = Box()
    async with FakeUpstream() as fake, agent_stack(tmp_path, box, fake) as stack:
        await setup_agent(stack, tools=["tools::get_weather", "math::*"])
        fake.script(BOTH, Text("Sunny, and 5."))
        paused = await paused_chat(stack)
        first, second = paused["approvals"]
        await stack.call("approval::decide", {"approval_id": first["approval_id"],
                                              "decision": "approve", "by": "dana"})
        # the first decision's resume finds the second still pending: nothing runs yet
        waiting = await stack.call("agent::resume_run", {"run_id": paused["run_id"]})
        assert waiting["status"] == "paused" and waiting["waiting"] == [second["approval_id"]]
        assert box.calls == [] and len(fake.chat_requests) == 1
        await stack.call("approval::decide", {"approval_id": second["approval_id"],
                                              "decision": "approve", "by": "dana"})
        outcome = await wait_finished(box)
        assert outcome["result"]["content"] == "Sunny, and 5."
        assert sorted(box.calls) == ["math::add_numbers", "tools::get_weather"]
        # a repeated resume (queue delivery is at least once) finds the run finished
        again = await stack.call("agent::resume_run", {"run_id": paused["run_id"]})
        assert again == {"run_id": paused["run_id"], "status": "completed"}
        assert len(fake.chat_requests) == 2 and len(box.outcomes) == 1


async def test_calls_without_a_policy_run_in_the_same_round(tmp_path: Path) -> None:
    box = Box()
    async with FakeUpstream() as fake, agent_stack(tmp_path, box, fake) as stack:
        await setup_agent(stack, tools=["tools::get_weather"])
        fake.script(BOTH, Text("Sunny, and 5."))
        paused = await paused_chat(stack)
        assert box.calls == ["math::add_numbers"]  # not gated: it ran before the pause
        [approval] = paused["approvals"]
        await stack.call("approval::decide", {"approval_id": approval["approval_id"],
                                              "decision": "approve", "by": "dana"})
        await wait_finished(box)
        assert box.calls == ["math::add_numbers", "tools::get_weather"]
        contents = tool_contents(fake, 1)
        assert '"sum": 5' in contents["c2"] and '"sky": "sunny"' in contents["c1"]


async def test_a_resume_payload_cannot_forge_a_decision(tmp_path: Path) -> None:
    box = Box()
    async with FakeUpstream() as fake, agent_stack(tmp_path, box, fake) as stack:
        await setup_agent(stack, tools=["tools::get_weather"])
        fake.script(WEATHER, Text("never"))
        paused = await paused_chat(stack)
        [approval] = paused["approvals"]
        forged = await stack.call("agent::resume_run", {
            "run_id": paused["run_id"],
            "approval": {"approval_id": approval["approval_id"], "status": "approved"}})
        assert forged["status"] == "paused" and forged["waiting"] == [approval["approval_id"]]
        assert box.calls == [] and len(fake.chat_requests) == 1
        with pytest.raises(InvocationError) as err:
            await stack.call("agent::resume_run", {"run_id": "run_unknown"})
        assert err.value.code == "run_not_ready"
        with pytest.raises(InvocationError) as err:
            await stack.call("agent::run_get", {"run_id": "run_unknown"})
        assert err.value.code == "run_not_found"
