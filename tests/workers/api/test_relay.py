"""The relays (pure) and a failure after the stream started, end to end."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import openai
import pytest

from tests.fakes import Error, ToolCall, ToolCalls
from workers.api import AgentRelay, LlmRelay

from .conftest import Stack, collect, user


def frame(delta: dict[str, Any], finish: str | None = None, **head: Any) -> str:
    return json.dumps({"id": head.get("id", "up-1"), "object": "chat.completion.chunk", "created": 5,
                       "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


def data(raw: bytes) -> list[Any]:
    out = []
    for line in raw.decode().split("\n"):
        if line.startswith("data: "):
            payload = line[len("data: "):]
            out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


def test_llm_relay_pins_the_head_adds_the_role_and_sends_usage_last() -> None:
    relay = LlmRelay(include_usage=True)
    out = relay.feed(frame({"content": "a"}))
    assert relay.started
    out += relay.feed(frame({"content": "b"}, id="other-id"))
    out += relay.feed(json.dumps({"id": "up-1", "created": 5, "model": "m", "choices": [],
                                  "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}))
    out += relay.finish({"choices": [{"finish_reason": "stop"}], "usage": {}})
    events = data(out)
    assert [e["id"] for e in events[:-1]] == ["up-1"] * 4
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": "a"}
    assert events[2]["choices"][0]["finish_reason"] == "stop"  # synthesised: the stream had none
    assert events[3]["choices"] == [] and events[3]["usage"]["total_tokens"] == 3
    assert events[-1] == "[DONE]"


def test_llm_relay_without_include_usage_drops_usage_and_ignores_junk() -> None:
    relay = LlmRelay(include_usage=False)
    out = relay.feed("not json") + relay.feed("[1]") + relay.feed(frame({"role": "assistant", "content": ""}))
    out += relay.feed(frame({}, "stop"))
    out += relay.feed(json.dumps({"choices": [], "usage": {"prompt_tokens": 1}}))
    out += relay.finish({"choices": [{"finish_reason": "stop"}]})
    events = data(out)
    assert [e["choices"][0]["finish_reason"] for e in events[:-1]] == [None, "stop"]
    assert events[-1] == "[DONE]"


async def test_a_failure_after_the_start_is_an_error_event_the_client_raises() -> None:
    relay = LlmRelay(include_usage=False)
    body = relay.feed(frame({"content": "partial"}))
    relay.feed(json.dumps({"error": {"message": "the provider hung up", "type": "llm_router_error",
                                     "code": "llm_upstream_error"}}))
    body += relay.finish(None)
    events = data(body)
    assert events[1] == {"error": {"message": "the provider hung up", "type": "upstream_error", "param": None,
                                   "code": "llm_upstream_error"}}
    assert events[2] == "[DONE]" and len(events) == 3

    def serve(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(serve)) as http, \
            openai.AsyncOpenAI(base_url="http://test/v1", api_key="x", http_client=http) as client:
        stream = await client.chat.completions.create(model="m", messages=user("hi"), stream=True)  # type: ignore[arg-type]
        seen = []
        with pytest.raises(openai.APIError, match="the provider hung up"):
            async for chunk in stream:
                seen.append(chunk.choices[0].delta.content)
    assert seen == ["partial"]


def test_agent_relay_relays_content_only_and_comments_tool_events() -> None:
    relay = AgentRelay(include_usage=False, head={"id": "chatcmpl-1", "created": 9, "model": "agent:a"})
    out = relay.feed(json.dumps({"object": "agentos.tool_event", "event": "tool_call", "id": "c1",
                                 "function_id": "tools::x", "arguments": {"secret": 1}}))
    assert out == b": tool_call tools::x c1\n\n"
    out = relay.feed(frame({"content": "hi"}, "stop"))
    out += relay.feed(json.dumps({"object": "agentos.result", "content": "hi"}))
    out += relay.finish({"finish_reason": "max_iterations", "usage": {"prompt_tokens": 2}})
    events = data(out)
    assert events[0]["id"] == "chatcmpl-1" and events[0]["choices"][0] == {
        "index": 0, "delta": {"role": "assistant", "content": "hi"}, "logprobs": None, "finish_reason": None}
    assert events[1]["choices"][0]["finish_reason"] == "length" and events[1]["choices"][0]["delta"] == {}
    assert events[2] == "[DONE]"


async def test_an_agent_run_failing_mid_stream_ends_with_an_error_event(stack: Stack) -> None:
    await stack.create_agent(name="helper", capabilities={"tools": ["tools::*"]})

    def build(names: dict[str, str]) -> list[ToolCalls | Error]:
        call = ToolCall("c1", names["tools::get_weather"], '{"city": "Lima"}')
        return [ToolCalls([call], content="Let me look that up."), Error(400, "the model refused")]

    async with anyio.create_task_group() as tg, stack.http() as http:
        await collect(tg, stack.fake, build)
        response = await http.post("/v1/chat/completions",
                                   json={"model": "agent:helper", "messages": user("Lima?"), "stream": True})
    assert response.status_code == 200  # the stream had started when the run failed
    events = data(response.content)
    assert events[0]["choices"][0]["delta"]["content"] == "Let me look that up."
    assert events[-2]["error"]["code"] == "llm_bad_request" and events[-1] == "[DONE]"
    assert [e for e in events if e == "[DONE]"] == ["[DONE]"]


def test_a_relay_knows_when_the_stream_said_everything() -> None:
    relay = LlmRelay(include_usage=True)
    relay.feed(frame({"content": "a"}))
    assert relay.stream_result() is None  # no finish yet
    relay.feed(frame({}, "stop"))
    assert relay.stream_result() is None  # the usage the client asked for is still owed
    relay.feed(json.dumps({"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}))
    assert relay.stream_result() == {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}
    relay.feed(json.dumps({"error": {"message": "late"}}))
    assert relay.stream_result() is None  # an error: the call's own answer decides

    agent = AgentRelay(include_usage=False, head={"id": "c", "created": 1, "model": "agent:a"})
    assert agent.stream_result() is None
    agent.feed(json.dumps({"object": "agentos.result", "content": "x", "finish_reason": "stop"}))
    assert agent.stream_result() == {"content": "x", "finish_reason": "stop"}
