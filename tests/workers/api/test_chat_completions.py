"""POST /v1/chat/completions with provider models, through the official openai client."""

from __future__ import annotations

import json
from typing import Any

from tests.fakes import Text, ToolCall, ToolCalls

from .conftest import Stack, user


async def test_plain_completion_honours_the_whole_history(stack: Stack) -> None:
    stack.fake.script(Text("Paris.", prompt_tokens=30, completion_tokens=2))
    history = [{"role": "system", "content": "Be brief."},
               {"role": "user", "content": "Capital of Italy?"},
               {"role": "assistant", "content": "Rome."},
               {"role": "user", "content": "And of France?"}]
    async with stack.openai() as client:
        answer = await client.chat.completions.create(model="default", messages=history)  # type: ignore[arg-type]
    assert answer.object == "chat.completion"
    assert answer.choices[0].message.content == "Paris."
    assert answer.choices[0].message.role == "assistant"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.total_tokens) == (30, 2, 32)
    sent = stack.fake.chat_requests[-1].body
    assert [(m["role"], m["content"]) for m in sent["messages"]] == [(m["role"], m["content"]) for m in history]


def events(raw: str) -> list[str]:
    """The ``data:`` payloads of an SSE body, in order (comments and blank lines skipped)."""
    return [line[len("data: "):] for line in raw.split("\n") if line.startswith("data: ")]


async def test_streamed_completion_has_one_id_a_role_first_and_a_final_finish(stack: Stack) -> None:
    stack.fake.script(Text("one two three"))
    async with stack.openai() as client:
        stream = await client.chat.completions.create(model="default", messages=user("count"), stream=True)  # type: ignore[arg-type]
        chunks = [c async for c in stream]
    assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "one two three"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and all(f is None for f in finishes[:-1])
    assert all(c.usage is None for c in chunks)  # no include_usage: no usage chunk


async def test_include_usage_adds_one_usage_chunk_then_a_single_done(stack: Stack) -> None:
    stack.fake.script(Text("hello there", prompt_tokens=7, completion_tokens=3))
    body = {"model": "default", "messages": user("hi"), "stream": True,
            "stream_options": {"include_usage": True}}
    async with stack.http() as http:
        response = await http.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    data = events(response.text)
    assert data.count("[DONE]") == 1 and data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    *rest, last = chunks
    assert last["choices"] == [] and last["usage"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
    assert all(c["usage"] is None and len(c["choices"]) == 1 for c in rest)
    assert rest[-1]["choices"][0]["finish_reason"] == "stop"

    stack.fake.script(Text("again", prompt_tokens=7, completion_tokens=3))
    async with stack.openai() as client:
        stream = await client.chat.completions.create(model="default", messages=user("hi"), stream=True,  # type: ignore[arg-type]
                                                      stream_options={"include_usage": True})
        parsed = [c async for c in stream]
    usage_chunks = [c for c in parsed if c.usage is not None]
    assert len(usage_chunks) == 1 and usage_chunks[0] is parsed[-1] and parsed[-1].choices == []


WEATHER_TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
    {"type": "function", "function": {"name": "get_time", "description": "Local time of a city",
                                      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
]
PARALLEL = ToolCalls([ToolCall("call_a1", "get_weather", '{"city": "Lima"}'),
                      ToolCall("call_b2", "get_time", '{"city": "Oslo", "tz": true}')], fragments=4)


async def test_parallel_tool_calls_pass_through_exactly(stack: Stack) -> None:
    stack.fake.script(PARALLEL)
    async with stack.openai() as client:
        answer = await client.chat.completions.create(model="default", messages=user("weather and time"),  # type: ignore[arg-type]
                                                      tools=WEATHER_TOOLS, tool_choice="auto")  # type: ignore[arg-type]
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert [(c.id, c.type, c.function.name, c.function.arguments) for c in choice.message.tool_calls or []] == [
        ("call_a1", "function", "get_weather", '{"city": "Lima"}'),
        ("call_b2", "function", "get_time", '{"city": "Oslo", "tz": true}')]
    sent = stack.fake.chat_requests[-1].body
    assert [t["function"]["name"] for t in sent["tools"]] == ["get_weather", "get_time"]
    assert sent["tool_choice"] == "auto"


async def test_streamed_parallel_tool_calls_reassemble_by_index(stack: Stack) -> None:
    stack.fake.script(PARALLEL)
    async with stack.openai() as client:
        stream = await client.chat.completions.create(model="default", messages=user("weather and time"),  # type: ignore[arg-type]
                                                      tools=WEATHER_TOOLS, stream=True)  # type: ignore[arg-type]
        chunks = [c async for c in stream]
    calls: dict[int, dict[str, str]] = {}
    for c in chunks:
        for delta in (c.choices[0].delta.tool_calls or []) if c.choices else []:
            entry = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            if delta.id:
                assert not entry["id"], "the id comes once, on the first delta of a call"
                entry["id"] = delta.id
            if delta.function and delta.function.name:
                entry["name"] += delta.function.name
            if delta.function and delta.function.arguments:
                entry["arguments"] += delta.function.arguments
    assert calls == {0: {"id": "call_a1", "name": "get_weather", "arguments": '{"city": "Lima"}'},
                     1: {"id": "call_b2", "name": "get_time", "arguments": '{"city": "Oslo", "tz": true}'}}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert len({c.id for c in chunks}) == 1


async def test_a_tool_result_turn_is_passed_on(stack: Stack) -> None:
    stack.fake.script(Text("It is sunny."))
    messages = [*user("weather in Lima?"),
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "call_a1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Lima"}'}}]},
                {"role": "tool", "tool_call_id": "call_a1", "content": '{"sky": "sunny"}'}]
    async with stack.openai() as client:
        answer = await client.chat.completions.create(model="default", messages=messages, tools=WEATHER_TOOLS)  # type: ignore[arg-type]
    assert answer.choices[0].message.content == "It is sunny."
    sent = stack.fake.chat_requests[-1].body["messages"]
    assert sent[1]["tool_calls"][0]["id"] == "call_a1" and sent[2] == messages[2]


async def test_content_parts_and_unknown_fields(stack: Stack) -> None:
    stack.fake.script(Text("ok"))
    body = {"model": "default", "frequency_penalty": 0.5, "some_vendor_flag": {"x": 1},
            "messages": [{"role": "user", "content": [{"type": "text", "text": "part one"},
                                                      {"type": "text", "text": "part two"}]}]}
    async with stack.http() as http:
        response = await http.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "ok"
    assert stack.fake.chat_requests[-1].body["messages"][0]["content"][1] == {"type": "text", "text": "part two"}


STRICT_TOOLS = [{"type": "function", "function": {**t["function"], "strict": True}} for t in WEATHER_TOOLS]


async def test_the_clients_stream_helper_accumulates_our_chunks(stack: Stack) -> None:
    stack.fake.script(PARALLEL, Text("plain words here"))
    async with stack.openai() as client:
        async with client.chat.completions.stream(model="default", messages=user("x"), tools=STRICT_TOOLS) as stream:  # type: ignore[arg-type]
            final = await stream.get_final_completion()
        calls = final.choices[0].message.tool_calls or []
        assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
            ("call_a1", "get_weather", '{"city": "Lima"}'), ("call_b2", "get_time", '{"city": "Oslo", "tz": true}')]
        assert [c.function.parsed_arguments for c in calls] == [{"city": "Lima"}, {"city": "Oslo", "tz": True}]
        assert final.choices[0].finish_reason == "tool_calls"
        async with client.chat.completions.stream(model="default", messages=user("x")) as stream:  # type: ignore[arg-type]
            texts = [e.delta async for e in stream if e.type == "content.delta"]
            final = await stream.get_final_completion()
    assert "".join(texts) == final.choices[0].message.content == "plain words here"
