"""``model: "agent:<name>"``: a whole agent run behind /v1/chat/completions."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx

from tests.fakes import FakeUpstream, Text, ToolCall, ToolCalls
from workers.sdk import TriggerBinding, Worker, function

from .conftest import Stack, collect, running, user


def two_tools(names: dict[str, str]) -> list[ToolCalls | Text]:
    """The model calls both tools at once, then answers with what they said."""
    return [ToolCalls([ToolCall("c1", names["tools::get_weather"], '{"city": "Lima"}'),
                       ToolCall("c2", names["geo::population"], '{"city": "Lima"}')]),
            Text("Lima: sunny, 21 degrees, 10000000 people.", prompt_tokens=50, completion_tokens=10)]


async def test_an_agent_turn_runs_two_real_tools_and_answers(stack: Stack) -> None:
    await stack.create_agent(name="helper", system_prompt="You help.",
                             capabilities={"tools": ["tools::*", "geo::*"]})
    history = [*user("Hi"), {"role": "assistant", "content": "Hello!"}, *user("Weather and population of Lima?")]
    async with anyio.create_task_group() as tg, stack.openai() as client:
        await collect(tg, stack.fake, two_tools)
        answer = await client.chat.completions.create(model="agent:helper", messages=history)  # type: ignore[arg-type]
    assert answer.model == "agent:helper"
    assert answer.choices[0].message.content == "Lima: sunny, 21 degrees, 10000000 people."
    assert answer.choices[0].finish_reason == "stop"
    assert sorted(fid for fid, _ in stack.tools.calls) == ["geo::population", "tools::get_weather"]
    assert answer.usage is not None and answer.usage.prompt_tokens == 40 + 50  # both model calls
    first, second = stack.fake.chat_requests[-2:]
    contents = [m.get("content") for m in first.body["messages"]]
    assert contents[1:] == ["Hi", "Hello!", "Weather and population of Lima?"]  # the whole history
    results = {m["tool_call_id"]: json.loads(m["content"]) for m in second.body["messages"] if m["role"] == "tool"}
    assert results == {"c1": {"city": "Lima", "temperature": 21, "sky": "sunny"},
                       "c2": {"city": "Lima", "population": 10_000_000}}
    extra = answer.model_extra or {}
    assert extra["agentos"]["iterations"] == 2 and len(extra["agentos"]["tool_calls"]) == 2


async def test_a_streamed_agent_turn_sends_content_only_and_tool_comments(stack: Stack) -> None:
    await stack.create_agent(name="helper", capabilities={"tools": ["tools::*", "geo::*"]})
    body = {"model": "agent:helper", "messages": user("Lima?"), "stream": True,
            "stream_options": {"include_usage": True}}
    async with anyio.create_task_group() as tg, stack.http() as http:
        await collect(tg, stack.fake, two_tools)
        response = await http.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    lines = [line for line in response.text.split("\n") if line]
    comments = [line for line in lines if line.startswith(":")]
    assert sorted(c.split()[1:3] for c in comments) == [
        ["tool_call", "geo::population"], ["tool_call", "tools::get_weather"],
        ["tool_result", "geo::population"], ["tool_result", "tools::get_weather"]]
    data = [line[len("data: "):] for line in lines if line.startswith("data: ")]
    assert data[-1] == "[DONE]" and data.count("[DONE]") == 1
    chunks = [json.loads(d) for d in data[:-1]]
    assert len({c["id"] for c in chunks}) == 1 and {c["model"] for c in chunks} == {"agent:helper"}
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Lima: sunny, 21 degrees, 10000000 people."
    assert all("tool_calls" not in c["choices"][0]["delta"] for c in chunks if c["choices"])
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "stop" and finishes.count("stop") == 1
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 60 + 60


async def test_the_openai_client_reads_a_streamed_agent_turn(stack: Stack) -> None:
    await stack.create_agent(name="plain")
    stack.fake.script(Text("Just text."))
    async with stack.openai() as client:
        stream = await client.chat.completions.create(model="agent:plain", messages=user("hi"), stream=True)  # type: ignore[arg-type]
        chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Just text."
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_an_unknown_agent_is_a_404_model_not_found(stack: Stack) -> None:
    for stream in (False, True):
        async with stack.http() as http:
            response = await http.post("/v1/chat/completions",
                                       json={"model": "agent:nobody", "messages": user("hi"), "stream": stream})
        assert response.status_code == 404, response.text
        error = response.json()["error"]
        assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", "model_not_found", "model")
    assert stack.fake.chat_requests == []


async def test_client_side_tools_are_refused_for_agents(stack: Stack) -> None:
    await stack.create_agent(name="helper")
    tools = [{"type": "function", "function": {"name": "x", "parameters": {"type": "object"}}}]
    async with stack.http() as http:
        response = await http.post("/v1/chat/completions",
                                   json={"model": "agent:helper", "messages": user("hi"), "tools": tools})
    assert response.status_code == 400 and response.json()["error"]["param"] == "tools"


async def test_rest_message_runs_the_agent(stack: Stack) -> None:
    await stack.create_agent(name="helper")
    stack.fake.script(Text("Hi there."))
    async with httpx.AsyncClient(base_url=stack.url) as http:
        response = await http.post("/api/agents/helper/message", json={"message": "hello"})
    assert response.status_code == 200, response.text
    assert response.json()["content"] == "Hi there."


async def test_a_run_paused_for_approval_is_decided_and_read_back_over_rest(fake: FakeUpstream) -> None:
    finished: list[Any] = []
    done = anyio.Event()

    @function("test::run_finished")
    async def on_finished(event: Any) -> None:
        finished.append(event)
        done.set()

    watcher = Worker("test-runs", functions=[on_finished],
                     triggers=[TriggerBinding("subscribe", "test::run_finished", {"topic": "agent.run.finished"})])
    async with running(fake, extra=[watcher]) as stack, stack.openai() as client, stack.http() as http:
        await stack.create_agent(name="helper", capabilities={"tools": ["tools::*"]})
        await stack.client.trigger("approval::set_policy", {"tools": ["tools::get_weather"]})
        stack.fake.script(ToolCalls([ToolCall("c1", "tools__get_weather", '{"city": "Lima"}')]),
                          Text("Lima is sunny."))
        answer = await client.chat.completions.create(model="agent:helper", messages=user("Lima?"))  # type: ignore[arg-type]
        agentos = (answer.model_extra or {})["agentos"]
        assert agentos["status"] == "paused" and agentos["finish_reason"] == "approval_required"
        assert answer.choices[0].finish_reason == "stop"
        assert "paused until a human approves" in (answer.choices[0].message.content or "")
        [pending] = agentos["approvals"]
        assert stack.tools.calls == []
        listed = (await http.get("/api/approvals", params={"status": "pending"})).json()
        assert [a["approval_id"] for a in listed["approvals"]] == [pending["approval_id"]]
        bad = await http.post(f"/api/approvals/{pending['approval_id']}", json={"decision": "maybe"})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "decision"
        decided = await http.post(f"/api/approvals/{pending['approval_id']}",
                                  json={"decision": "approve", "note": "ok", "by": "forged"})
        assert decided.status_code == 200 and decided.json()["decided_by"] == "api:default"
        again = await http.post(f"/api/approvals/{pending['approval_id']}", json={"decision": "reject"})
        assert again.status_code == 409 and again.json()["error"]["code"] == "already_decided"
        with anyio.fail_after(20):
            await done.wait()
        run = (await http.get(f"/api/runs/{agentos['run_id']}")).json()
        runs = (await http.get("/api/runs", params={"status": "completed"})).json()
    assert stack.tools.calls == [("tools::get_weather", {"city": "Lima"})]
    assert run["status"] == "completed" and run["result"]["content"] == "Lima is sunny."
    assert finished[0]["run_id"] == agentos["run_id"] and finished[0]["status"] == "completed"
    assert [r["run_id"] for r in runs["runs"]] == [agentos["run_id"]]


async def test_a_streamed_run_that_pauses_says_so_in_the_stream(stack: Stack) -> None:
    await stack.create_agent(name="helper", capabilities={"tools": ["tools::*"]})
    await stack.client.trigger("approval::set_policy", {"tools": ["tools::get_weather"]})
    stack.fake.script(ToolCalls([ToolCall("c1", "tools__get_weather", '{"city": "Lima"}')]))
    async with stack.http() as http:
        response = await http.post("/v1/chat/completions", json={
            "model": "agent:helper", "messages": user("Lima?"), "stream": True})
    data = [line[len("data: "):] for line in response.text.split("\n") if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    text = "".join((json.loads(d)["choices"][0]["delta"].get("content") or "") for d in data[:-1])
    assert "paused until a human approves: tools::get_weather (apr_" in text
    assert json.loads(data[-2])["choices"][0]["finish_reason"] == "stop"
    assert stack.tools.calls == []
