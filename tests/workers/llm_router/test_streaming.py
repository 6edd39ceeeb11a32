"""Streaming: real token deltas travel over an engine channel while the upstream still streams."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from tests.fakes import Error, FakeUpstream, Hold, Text, ToolCall, ToolCalls
from workers.llm_router import LlmRouter
from workers.llm_router._litellm import litellm
from workers.sdk import Connection, InvocationError
from workers.sdk.channels import ChannelReader

from .conftest import make_config, serving, spec, user


async def stream_call(client: Connection, payload: dict[str, Any], *,
                      hold: Hold | None = None) -> tuple[list[dict[str, Any]], dict[str, Any] | InvocationError]:
    """Call ``llm::complete`` with ``stream_to`` and read the channel.

    With ``hold``: wait until the upstream pauses, then read until a content or tool-call delta
    has arrived *while the upstream is still paused*, and only then let it finish.

    Returns:
        The frames read (JSON-decoded) and the call's result (or its error).
    """
    refs = await client.trigger("engine::channels::create", {})
    frames: list[dict[str, Any]] = []
    outcome: dict[str, Any] = {}

    async def call() -> None:
        try:
            outcome["result"] = await client.trigger("llm::complete", {**payload, "stream": True,
                                                                      "stream_to": refs["writer"]})
        except InvocationError as exc:
            outcome["result"] = exc

    async with ChannelReader(client, refs["reader"]) as reader, anyio.create_task_group() as tg:
        tg.start_soon(call)
        frames_in = reader.__aiter__()
        if hold is not None:
            await hold.reached.wait()
            while not any(_has_payload(f) for f in frames):
                frames.append(json.loads(await frames_in.__anext__()))
            assert not hold.release.is_set()
            hold.release.set()
        async for frame in frames_in:
            frames.append(json.loads(frame))
    return frames, outcome["result"]


def _has_payload(frame: dict[str, Any]) -> bool:
    return any(c["delta"].get("content") or c["delta"].get("tool_calls") for c in frame.get("choices", []))


def rebuild(frames: list[dict[str, Any]]) -> Any:
    return litellm.stream_chunk_builder([f for f in frames if "error" not in f])


async def test_text_deltas_arrive_before_the_upstream_finishes(fake: FakeUpstream) -> None:
    hold = Hold(after=3)  # role chunk, "The ", "answer " ... then the upstream pauses
    fake.script(Text("The answer is forty-two.", prompt_tokens=15, completion_tokens=6, hold=hold))
    router = LlmRouter(make_config({"default": [spec(fake)]}))
    async with serving(router) as client:
        frames, result = await stream_call(client, {"messages": user("answer?")}, hold=hold)
    assert isinstance(result, dict)
    assert {f["id"] for f in frames} == {result["id"]} and len({f["created"] for f in frames}) == 1
    assert all(f["object"] == "chat.completion.chunk" for f in frames)
    assert frames[0]["choices"][0]["delta"]["role"] == "assistant"
    pieces = "".join(c["delta"].get("content") or "" for f in frames for c in f["choices"])
    assert pieces == "The answer is forty-two."
    assert frames[-1]["choices"] == [] and frames[-1]["usage"] == {
        "prompt_tokens": 15, "completion_tokens": 6, "total_tokens": 21}
    assert all(f["usage"] is None for f in frames[:-1])
    assert [c["finish_reason"] for f in frames for c in f["choices"] if c["finish_reason"]] == ["stop"]
    built = rebuild(frames)
    assert built.choices[0].message.content == result["choices"][0]["message"]["content"] == pieces
    assert result["usage"] == {"prompt_tokens": 15, "completion_tokens": 6, "total_tokens": 21}
    assert result["cost_usd"] == pytest.approx(15 * 0.15e-6 + 6 * 0.6e-6)
    assert fake.chat_requests[0].body["stream"] is True
    assert fake.chat_requests[0].body["stream_options"] == {"include_usage": True}


async def test_streamed_parallel_tool_calls_rebuild_exactly(fake: FakeUpstream) -> None:
    calls = [ToolCall("call_1", "fs::read_file", '{"path": "/etc/hosts"}'),
             ToolCall("call_2", "memory_recall", '{"query": "what did we say", "k": 3}')]
    hold = Hold(after=3)
    fake.script(ToolCalls(calls, hold=hold))
    router = LlmRouter(make_config({"default": [spec(fake)]}))
    async with serving(router) as client:
        frames, result = await stream_call(client, {"messages": user("go"), "tools": [
            {"type": "function", "function": {"name": "fs::read_file"}},
            {"type": "function", "function": {"name": "memory_recall"}}]}, hold=hold)
    assert isinstance(result, dict)
    expected = [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in calls]
    assert result["choices"][0]["message"]["tool_calls"] == expected
    assert result["choices"][0]["finish_reason"] == "tool_calls"
    deltas = [d for f in frames for c in f["choices"] for d in c["delta"].get("tool_calls", [])]
    assert all("index" in d for d in deltas)
    assert [d["id"] for d in deltas if "id" in d] == ["call_1", "call_2"]
    for index, call in enumerate(calls):
        args = "".join(d["function"].get("arguments", "") for d in deltas if d["index"] == index)
        assert args == call.arguments
    built = rebuild(frames)
    assert [(t.id, t.function.name, t.function.arguments) for t in built.choices[0].message.tool_calls] \
        == [(c.id, c.name, c.arguments) for c in calls]


async def test_a_failure_before_the_first_chunk_still_falls_back(fake: FakeUpstream,
                                                                fake2: FakeUpstream) -> None:
    fake.default = Error(503, "overloaded")
    fake2.script(Text("fallback stream"))
    router = LlmRouter(make_config({"default": [spec(fake, max_retries=0), spec(fake2, "gpt-4o")]}))
    async with serving(router) as client:
        frames, result = await stream_call(client, {"messages": user("hi")})
    assert isinstance(result, dict)
    assert "".join(c["delta"].get("content") or "" for f in frames for c in f["choices"]) == "fallback stream"
    assert [a["model"] for a in result["attempts"]] == ["openai/gpt-4o-mini", "openai/gpt-4o"]


async def test_errors_reach_the_reader_and_the_channel_closes(fake: FakeUpstream) -> None:
    fake.default = Error(500, "down")
    router = LlmRouter(make_config({"default": [spec(fake, max_retries=0)]}))
    async with serving(router) as client:
        frames, result = await stream_call(client, {"messages": user("hi")})
    assert isinstance(result, InvocationError) and result.code == "llm_upstream_error"
    assert frames == [{"error": {"message": result.message, "type": "llm_router_error",
                                 "code": "llm_upstream_error"}}]


async def test_a_bad_channel_reference_is_refused(fake: FakeUpstream) -> None:
    router = LlmRouter(make_config({"default": [spec(fake)]}))
    async with serving(router) as client:
        with pytest.raises(InvocationError) as caught:
            await client.trigger("llm::complete", {"messages": user("hi"), "stream": True, "stream_to": {
                "channel_id": "no-such-channel", "access_key": "nope", "direction": "write"}})
    assert caught.value.code == "llm_stream_error"
    assert fake.requests == []
