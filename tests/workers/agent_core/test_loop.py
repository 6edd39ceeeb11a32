"""The agent turn end to end: engine, llm-router, fake upstream, agent-core and real tools."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fakes import FakeUpstream, Text, ToolCall, ToolCalls
from workers.agent_core import AgentCoreConfig
from workers.sdk import InvocationError

from .conftest import Stack, calls, running, scripted_chat, sent_tools, tool_messages

TOOL_GLOBS = {"tools": ["tools::*", "math::*"]}


async def chat_with_tools(stack: Stack, build: Any, final: str = "done", **payload: Any) -> dict[str, Any]:
    """One run of agent ``helper``: the first model turn is ``build(names)``, then ``final``."""
    return await scripted_chat(stack, lambda names: [build(names), Text(final)],
                               {"agent_id": "helper", "message": "go", **payload})


async def test_parallel_tool_calls_run_with_their_arguments_and_feed_the_answer(stack: Stack) -> None:
    await stack.create(name="helper", system_prompt="You help.", capabilities=TOOL_GLOBS)
    result = await chat_with_tools(
        stack,
        calls(("call_w", "tools::get_weather", '{"city": "Paris"}'),
              ("call_a", "math::add_numbers", '{"a": 2, "b": 3}')),
        final="Paris is sunny at 21 C, and 2 + 3 = 5.",
    )

    assert sorted(stack.tools.calls) == sorted([
        ("tools::get_weather", {"city": "Paris", "unit": "C"}),
        ("math::add_numbers", {"a": 2, "b": 3}),
    ])
    assert result["content"] == "Paris is sunny at 21 C, and 2 + 3 = 5."
    assert result["finish_reason"] == "stop"
    assert result["iterations"] == 2
    assert result["agent_id"] == "helper"
    assert result["model"]
    assert result["usage"]["total_tokens"] == (40 + 20) + (12 + 8)
    assert result["cost_usd"] > 0
    by_id = {c["id"]: c for c in result["tool_calls"]}
    assert by_id["call_w"]["function_id"] == "tools::get_weather"
    assert by_id["call_a"] == {"id": "call_a", "function_id": "math::add_numbers",
                               "arguments": {"a": 2, "b": 3}, "ok": True,
                               "duration_ms": by_id["call_a"]["duration_ms"]}

    first, second = (r.body for r in stack.fake.chat_requests)
    # the names round-tripped exactly, including ids with "_" in them
    names = sent_tools(first)
    assert names["tools::get_weather"] == "tools__get_weather"
    assert names["math::add_numbers"] == "math__add_numbers"
    assert all(t["function"]["parameters"] for t in first["tools"])
    weather = next(t for t in first["tools"] if t["function"]["name"] == "tools__get_weather")
    assert weather["function"]["parameters"]["properties"]["city"]["type"] == "string"
    assert first["messages"][0] == {"role": "system", "content": "You help."}
    results = tool_messages(second)
    assert json.loads(results["call_w"]) == {"city": "Paris", "temperature": 21, "unit": "C",
                                             "sky": "sunny"}
    assert json.loads(results["call_a"]) == {"sum": 5}
    assistant = [m for m in second["messages"] if m["role"] == "assistant"][0]
    assert {c["function"]["name"] for c in assistant["tool_calls"]} == {
        "tools__get_weather", "math__add_numbers"}


async def test_parallel_tool_calls_run_concurrently(stack: Stack) -> None:
    await stack.create(name="helper", capabilities=TOOL_GLOBS)
    result = await chat_with_tools(stack, calls(("c1", "tools::meet", '{"who": "a"}'),
                                                ("c2", "tools::meet", '{"who": "b"}')))
    assert [c["ok"] for c in result["tool_calls"]] == [True, True]


async def test_old_turns_are_dropped_to_fit_the_context_budget(stack: Stack) -> None:
    await stack.create(name="helper", system_prompt="S", max_context_tokens=512)
    stack.fake.script(*[Text("a" * 600) for _ in range(4)])
    for i in range(4):
        await stack.chat({"agent_id": "helper", "message": f"q{i} " + "x" * 600, "session_id": "s"})
    sent = stack.fake.chat_requests[-1].body["messages"]
    assert sent[0] == {"role": "system", "content": "S"}
    assert sent[-1]["content"].startswith("q3 ")
    assert sum(len(m["content"]) for m in sent) // 4 <= 512
    assert not any(m["content"].startswith("q0 ") for m in sent)  # the oldest turn went first


async def test_a_function_without_schema_gets_an_open_object_schema(stack: Stack) -> None:
    await stack.create(name="helper", capabilities={"tools": ["tools::echo_x"]})
    result = await chat_with_tools(stack, calls(("c1", "tools::echo_x", '{"x": 1}')))
    tool = stack.fake.chat_requests[0].body["tools"][0]["function"]
    assert tool["parameters"] == {"type": "object", "properties": {}, "additionalProperties": True}
    assert "No input schema" in tool["description"]
    assert stack.tools.calls == [("tools::echo_x", {"x": 1})]
    assert result["tool_calls"][0]["ok"] is True
    # The tool learns who calls it from metadata, not from model-written arguments.
    assert stack.tools.metadata == [{"agent_id": "helper", "agent_depth": 0, "taint": []}]


async def test_a_tool_timeout_reaches_the_model_as_an_error(fake: FakeUpstream) -> None:
    config = AgentCoreConfig(agents_dir=None, tool_timeout_s=0.2)
    async with running(fake, config=config) as stack:
        await stack.create(name="helper", capabilities=TOOL_GLOBS)
        result = await chat_with_tools(stack, calls(("c1", "tools::slow_op", "{}")), final="sorry")
        assert stack.tools.slow_started.is_set()
    error = json.loads(tool_messages(fake.chat_requests[1].body)["c1"])["error"]
    assert error["code"] == "timeout"
    assert result["content"] == "sorry"
    assert result["tool_calls"][0]["ok"] is False
    assert result["tool_calls"][0]["error"]["code"] == "timeout"


async def test_a_tool_that_raises_becomes_an_error_result(stack: Stack) -> None:
    await stack.create(name="helper", capabilities=TOOL_GLOBS)
    result = await chat_with_tools(stack, calls(("c1", "tools::explode", "{}"),
                                                ("c2", "math::add_numbers", '{"a": 1, "b": 1}')))
    results = tool_messages(stack.fake.chat_requests[1].body)
    error = json.loads(results["c1"])["error"]
    assert error["code"] == "invocation_failed"
    assert "blew up" in error["message"]
    assert json.loads(results["c2"]) == {"sum": 2}  # the sibling call is unaffected
    assert [c["ok"] for c in result["tool_calls"]] == [False, True]
    assert result["finish_reason"] == "stop"


async def test_an_unknown_tool_name_is_answered_not_called(stack: Stack) -> None:
    await stack.create(name="helper", capabilities=TOOL_GLOBS)
    result = await chat_with_tools(stack, lambda names: ToolCalls([
        ToolCall("c1", "tools_get_weather", '{"city": "Oslo"}'),  # the seed's lossy mapping
        ToolCall("c2", "state__get", '{"scope": "agents", "key": "helper"}'),  # never offered
    ]))
    results = tool_messages(stack.fake.chat_requests[1].body)
    assert json.loads(results["c1"])["error"]["code"] == "unknown_tool"
    assert json.loads(results["c2"])["error"]["code"] == "unknown_tool"
    assert stack.tools.calls == []
    assert result["tool_calls"][0] == {"id": "c1", "function_id": None, "name": "tools_get_weather",
                                       "arguments": {"city": "Oslo"}, "ok": False,
                                       "duration_ms": result["tool_calls"][0]["duration_ms"],
                                       "error": result["tool_calls"][0]["error"]}


async def test_invalid_json_arguments_are_an_error_result(stack: Stack) -> None:
    await stack.create(name="helper", capabilities=TOOL_GLOBS)
    result = await chat_with_tools(stack, calls(("c1", "math::add_numbers", '{"a": 1, "b":'),
                                                ("c2", "math::add_numbers", "[1, 2]")))
    results = tool_messages(stack.fake.chat_requests[1].body)
    assert json.loads(results["c1"])["error"]["code"] == "invalid_arguments"
    assert "not valid JSON" in json.loads(results["c1"])["error"]["message"]
    assert "JSON object" in json.loads(results["c2"])["error"]["message"]
    assert stack.tools.calls == []
    assert result["content"] == "done"


async def test_the_loop_guard_refuses_repeats_then_stops_the_run(stack: Stack) -> None:
    await stack.create(name="helper", capabilities=TOOL_GLOBS)

    def script(names: dict[str, str]) -> list[ToolCalls]:
        add = names["math::add_numbers"]
        first = ToolCalls([ToolCall(f"c{i}", add, '{"a": 1, "b": 2}') for i in range(3)])
        # the same call again, keys in another order: still the same call
        return [first, *[ToolCalls([ToolCall(f"d{i}", add, '{"b": 2, "a": 1}')]) for i in range(5)]]

    result = await scripted_chat(stack, script, {"agent_id": "helper", "message": "add"})

    assert result["finish_reason"] == "loop_detected"
    assert len(stack.tools.calls) == 3  # the 4th identical call is refused, the 5th stops the run
    assert [c["ok"] for c in result["tool_calls"]] == [True, True, True, False, False]
    assert [c["error"]["code"] for c in result["tool_calls"][3:]] == ["loop_detected"] * 2
    assert json.loads(tool_messages(stack.fake.chat_requests[-1].body)["d0"])["error"]["code"] \
        == "loop_detected"
    assert result["iterations"] == 3


async def test_max_iterations_ends_the_run(stack: Stack) -> None:
    await stack.create(name="helper", capabilities=TOOL_GLOBS, max_iterations=3)

    def counting(tag: str, n: int) -> Any:
        return lambda names: [
            ToolCalls([ToolCall(f"{tag}{i}", names["math::add_numbers"], f'{{"a": {i}, "b": 1}}')])
            for i in range(n)]

    result = await scripted_chat(stack, counting("c", 3), {"agent_id": "helper", "message": "count"})
    assert result["finish_reason"] == "max_iterations"
    assert result["iterations"] == 3
    assert len(stack.fake.chat_requests) == 3
    assert [args for _, args in stack.tools.calls] == [{"a": i, "b": 1} for i in range(3)]
    assert len(result["tool_calls"]) == 3  # the last round ran: the history stays well-formed

    # a request may set its own limit
    before = len(stack.fake.chat_requests)
    result = await scripted_chat(stack, counting("e", 1),
                                 {"agent_id": "helper", "message": "count", "max_iterations": 1})
    assert (result["finish_reason"], result["iterations"]) == ("max_iterations", 1)
    assert len(stack.fake.chat_requests) == before + 1


async def test_default_template_runs_with_no_tools_at_all(fake: FakeUpstream) -> None:
    from workers.agent_core import TemplateLibrary
    from workers.agent_core.worker import DEFAULT_AGENTS_DIR

    async with running(fake, templates=TemplateLibrary.load(DEFAULT_AGENTS_DIR)) as stack:
        await stack.client.trigger("agent::create", {"template": "default", "name": "assistant"})
        result = await stack.chat({"agent_id": "assistant", "message": "hello"})
    assert result["content"] == FakeUpstream.DEFAULT_TEXT
    body = fake.chat_requests[0].body
    assert "tools" not in body and "tool_choice" not in body
    assert body["messages"][0]["content"].startswith("You are assistant, a helpful")
    assert body["messages"][-1] == {"role": "user", "content": "hello"}


async def test_context_variables_fill_the_prompt_and_reserved_keys_are_refused(stack: Stack) -> None:
    await stack.create(name="helper", system_prompt="I am {{agent_id}} in {{realm}}; tone {{tone}}; "
                       "{{unknown}}; tools: {{tools}}", variables={"tone": "dry"},
                       capabilities={"tools": ["math::*"]})
    await stack.chat({"agent_id": "helper", "message": "hi", "context": "tone: warm\n"})
    system = stack.fake.chat_requests[0].body["messages"][0]["content"]
    assert system == "I am helper in default; tone warm; {{unknown}}; tools: math::add_numbers"

    for context in ({"agent_id": "other"}, '{"realm": "acme"}', {"system": "obey me"},
                    {"tools": "*"}, {"model": "gpt-9"}, "[1, 2]", "{unclosed"):
        with pytest.raises(InvocationError) as err:
            await stack.chat({"agent_id": "helper", "message": "hi", "context": context})
        assert err.value.code == "invalid_arguments", context
    assert len(stack.fake.chat_requests) == 1  # refused before any model call


async def test_session_history_is_loaded_and_appended(stack: Stack) -> None:
    await stack.create(name="helper")
    stack.fake.script(Text("first answer"), Text("second answer"))
    await stack.chat({"agent_id": "helper", "message": "one", "session_id": "s1"})
    result = await stack.chat({"agent_id": "helper", "message": "two", "session_id": "s1"})
    assert result["content"] == "second answer"
    assert stack.fake.chat_requests[1].body["messages"] == [
        {"role": "user", "content": "one"}, {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "two"}]
    stored = await stack.client.trigger("state::get", {"scope": "sessions:helper", "key": "s1"})
    assert [m["content"] for m in stored["messages"]] == ["one", "first answer", "two", "second answer"]


async def test_llm_errors_end_the_run_with_their_code(stack: Stack) -> None:
    from tests.fakes import Error

    await stack.create(name="helper")
    stack.fake.script(Error(400, "bad request upstream"))
    with pytest.raises(InvocationError) as err:
        await stack.chat({"agent_id": "helper", "message": "hi"})
    assert err.value.code.startswith("llm_")


async def test_chat_refuses_unknown_agents_and_bad_payloads(stack: Stack) -> None:
    with pytest.raises(InvocationError) as err:
        await stack.chat({"agent_id": "ghost", "message": "hi"})
    assert err.value.code == "agent_not_found"
    await stack.create(name="helper")
    for payload in ({"agent_id": "helper"}, {"agent_id": "helper", "message": "a",
                                             "messages": [{"role": "user", "content": "b"}]},
                    {"agent_id": "Bad Name", "message": "x"}):
        with pytest.raises(InvocationError) as err:
            await stack.chat(payload)
        assert err.value.code == "invalid_arguments"


async def test_a_security_worker_can_deny_a_tool(fake: FakeUpstream) -> None:
    from workers.sdk import Worker, function

    asked: list[dict[str, Any]] = []

    @function("security::check_capability")
    async def check(data: dict[str, Any]) -> dict[str, Any]:
        asked.append({k: v for k, v in data.items() if not k.startswith("_")})
        allowed = data["resource"] != "tools::get_weather"
        return {"allowed": allowed, "reason": None if allowed else "weather is off limits"}

    async with running(fake, extra=[Worker("security", functions=[check])]) as stack:
        await stack.create(name="helper", capabilities=TOOL_GLOBS)
        result = await chat_with_tools(stack, calls(("c1", "tools::get_weather", '{"city": "Rome"}'),
                                                    ("c2", "math::add_numbers", '{"a": 1, "b": 2}')))
    results = tool_messages(fake.chat_requests[1].body)
    assert json.loads(results["c1"])["error"] == {"code": "forbidden", "message": "weather is off limits"}
    assert json.loads(results["c2"]) == {"sum": 3}
    assert {"agent_id": "helper", "capability": "tool", "resource": "math::add_numbers"} in asked
    assert [c["ok"] for c in result["tool_calls"]] == [False, True]


async def test_agent_chat_is_never_offered_to_itself_unless_allowed(stack: Stack) -> None:
    await stack.create(name="wild", capabilities={"tools": ["*"]})
    await stack.chat({"agent_id": "wild", "message": "hi"})
    offered = set(sent_tools(stack.fake.chat_requests[0].body))
    assert "agent::chat" not in offered and "math::add_numbers" in offered
    await stack.create(name="boss", capabilities={"tools": ["agent::*"], "allow_agent_chat": True})
    await stack.chat({"agent_id": "boss", "message": "hi"})
    assert "agent::chat" in sent_tools(stack.fake.chat_requests[1].body)


async def test_a_security_answer_in_another_shape_denies(fake: FakeUpstream) -> None:
    from workers.sdk import Worker, function

    @function("security::check_capability")
    async def seed_shaped(data: dict[str, Any]) -> dict[str, Any]:
        return {"action": "Allow"}  # the seed's policy answer: no boolean `allowed`

    async with running(fake, extra=[Worker("security", functions=[seed_shaped])]) as stack:
        await stack.create(name="helper", capabilities=TOOL_GLOBS)
        result = await chat_with_tools(stack, calls(("c1", "math::add_numbers", '{"a": 1, "b": 2}')))
        assert stack.tools.calls == []  # fail closed
    error = json.loads(tool_messages(fake.chat_requests[1].body)["c1"])["error"]
    assert error == {"code": "forbidden", "message": "capability check answered in an unknown shape"}
    assert result["tool_calls"][0]["ok"] is False
