"""Streaming a run: model chunks travel to the caller's channel before the run ends."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from tests.fakes import Error, Hold, Slow, Text
from workers.agent_core.stream import content_chunk
from workers.sdk import ChannelReader, InvocationError

from .conftest import Stack, calls, reply_with


async def test_chunks_arrive_before_the_run_finishes_and_tool_events_are_sent(stack: Stack) -> None:
    await stack.create(name="helper", capabilities={"tools": ["tools::*"]})
    refs = await stack.client.trigger("engine::channels::create", {})
    reader = ChannelReader.from_ref(stack.client, refs["reader"])
    hold = Hold(after=3)  # role chunk, "It ", "is " — then the upstream pauses
    slow = Slow(then=Text("placeholder"))
    stack.fake.script(slow)
    build = calls(("w1", "tools::get_weather", '{"city": "Lima"}'))
    done: dict[str, Any] = {}

    async def run() -> None:
        done["result"] = await stack.chat(
            {"agent_id": "helper", "message": "weather?", "stream_to": refs["writer"]})

    frames: list[dict[str, Any]] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(reply_with, stack.fake, slow,
                      lambda names: [build(names), Text("It is sunny in Lima.", hold=hold)])
        tg.start_soon(run)
        async with reader:
            async for frame in reader:
                frames.append(json.loads(frame))
                if frames[-1].get("object") == "chat.completion.chunk" and \
                        frames[-1]["choices"][0]["delta"].get("content") == "is ":
                    break
            # the upstream holds the rest of the answer until released: the run cannot have ended
            await hold.reached.wait()
            assert "result" not in done
            hold.release.set()
            async for frame in reader:
                frames.append(json.loads(frame))

    kinds = [(f.get("object"), f.get("event")) for f in frames]
    assert kinds[:2] == [("agentos.tool_event", "tool_call"), ("agentos.tool_event", "tool_result")]
    call, result = frames[0], frames[1]
    assert call["function_id"] == "tools::get_weather" and call["arguments"] == {"city": "Lima"}
    assert result["ok"] is True and json.loads(result["content"])["city"] == "Lima"
    chunks = [f for f in frames if f.get("object") == "chat.completion.chunk"]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == "It is sunny in Lima."
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all("tool_calls" not in c["choices"][0]["delta"] for c in chunks)
    assert frames[-1]["object"] == "agentos.result"
    assert frames[-1]["content"] == done["result"]["content"] == "It is sunny in Lima."
    assert stack.fake.chat_requests[0].body["stream"] is True


async def test_a_failed_run_says_so_on_the_stream(stack: Stack) -> None:
    await stack.create(name="helper")
    refs = await stack.client.trigger("engine::channels::create", {})
    reader = ChannelReader.from_ref(stack.client, refs["reader"])
    stack.fake.script(Error(400, "nope"))
    with pytest.raises(InvocationError) as err:
        await stack.chat({"agent_id": "helper", "message": "hi", "stream_to": refs["writer"]})
    async with reader:
        frames = [json.loads(f) async for f in reader]
    assert frames[-1] == {"object": "agentos.error",
                          "error": {"code": err.value.code, "message": err.value.message}}


async def test_a_refused_run_still_ends_the_stream(stack: Stack) -> None:
    await stack.create(name="helper")
    await stack.client.trigger("agent::pause", {"agent_id": "helper"})
    refs = await stack.client.trigger("engine::channels::create", {})
    reader = ChannelReader.from_ref(stack.client, refs["reader"])
    with pytest.raises(InvocationError):
        await stack.chat({"agent_id": "helper", "message": "hi", "stream_to": refs["writer"]})
    async with reader:
        frames = [json.loads(f) async for f in reader]
    assert frames == [{"object": "agentos.error", "error": {
        "code": "agent_paused", "message": "agent helper is paused; resume it to run it"}}]


async def test_a_reader_reference_is_refused_as_stream_to(stack: Stack) -> None:
    await stack.create(name="helper")
    refs = await stack.client.trigger("engine::channels::create", {})
    with pytest.raises(InvocationError) as err:
        await stack.chat({"agent_id": "helper", "message": "hi", "stream_to": refs["reader"]})
    assert err.value.code == "invalid_arguments"
    assert stack.fake.chat_requests == []


def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
    return json.dumps({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


@pytest.mark.parametrize(("frame", "kept"), [
    (chunk({"content": "hi"}), {"content": "hi"}),
    (chunk({"role": "assistant", "content": ""}), None),
    (chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{"}}]}), None),
    (chunk({"content": "x", "tool_calls": [{"index": 0}]}), {"content": "x"}),
    (chunk({}, "tool_calls"), None),
    (chunk({}, "stop"), {}),
    (json.dumps({"id": "c", "object": "chat.completion.chunk", "choices": [], "usage": {}}), None),
    ("not json", None),
    (json.dumps([1, 2]), None),
])
def test_only_content_and_final_chunks_are_forwarded(frame: str, kept: dict[str, Any] | None) -> None:
    out = content_chunk(frame)
    if kept is None:
        assert out is None
    else:
        assert out is not None and out["choices"][0]["delta"] == kept


async def test_an_unknown_channel_is_a_channel_error(stack: Stack) -> None:
    await stack.create(name="helper")
    bogus = {"channel_id": "nope", "access_key": "k", "direction": "write"}
    with pytest.raises(InvocationError) as err:
        await stack.chat({"agent_id": "helper", "message": "hi", "stream_to": bogus})
    assert err.value.code == "channel_error"
    assert stack.fake.chat_requests == []
