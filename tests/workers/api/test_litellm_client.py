"""litellm used as a *client* of our /v1: it must rebuild our streamed tool calls exactly."""

from __future__ import annotations

import json

from tests.fakes import Text, ToolCall, ToolCalls
from workers.llm_router._litellm import litellm

from .conftest import Stack, user
from .test_chat_completions import WEATHER_TOOLS

CALLS = [ToolCall("call_x1", "get_weather", '{"city": "Lima", "unit": "C"}'),
         ToolCall("call_y2", "get_time", '{"city": "Oslo"}')]


async def test_stream_chunk_builder_rebuilds_streamed_parallel_tool_calls(stack: Stack) -> None:
    stack.fake.script(ToolCalls(CALLS, fragments=5, prompt_tokens=33, completion_tokens=11))
    stream = await litellm.acompletion(model="openai/default", api_base=f"{stack.url}/v1", api_key="sk-x",
                                       messages=user("weather and time"), tools=WEATHER_TOOLS, stream=True,
                                       stream_options={"include_usage": True}, max_retries=0,
                                       # litellm 1.106 imports its MCP gateway (an optional extra) for
                                       # any call with tools, unless told not to (as the router does).
                                       _skip_mcp_handler=True)
    chunks = [chunk async for chunk in stream]
    built = litellm.stream_chunk_builder(chunks, messages=user("weather and time"))
    assert built is not None
    message = built.choices[0].message
    assert [(c.id, c.type, c.function.name, c.function.arguments) for c in message.tool_calls] == [
        (c.id, "function", c.name, c.arguments) for c in CALLS]
    assert [json.loads(c.function.arguments) for c in message.tool_calls] == [{"city": "Lima", "unit": "C"},
                                                                              {"city": "Oslo"}]
    assert built.choices[0].finish_reason == "tool_calls"
    assert (built.usage.prompt_tokens, built.usage.completion_tokens) == (33, 11)


async def test_litellm_streams_text(stack: Stack) -> None:
    stack.fake.script(Text("streamed words arrive"))
    stream = await litellm.acompletion(model="openai/default", api_base=f"{stack.url}/v1", api_key="sk-x",
                                       messages=user("hi"), stream=True, max_retries=0)
    chunks = [chunk async for chunk in stream]
    built = litellm.stream_chunk_builder(chunks)
    assert built is not None and built.choices[0].message.content == "streamed words arrive"
