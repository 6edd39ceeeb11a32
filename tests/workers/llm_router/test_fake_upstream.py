"""The fake upstream itself, checked with the official openai client (so later suites can trust it)."""

from __future__ import annotations

import anyio
import openai
import pytest

from tests.fakes import Error, FakeUpstream, Slow, Text, ToolCall, ToolCalls


def client(fake: FakeUpstream) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0)


async def test_text_tools_models_and_recording(fake: FakeUpstream) -> None:
    fake.script(Text("hello", prompt_tokens=3, completion_tokens=1),
                ToolCalls([ToolCall("c1", "a::b", '{"x": 1}'), ToolCall("c2", "c_d", "{}")]))
    async with client(fake) as api:
        text = await api.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        tools = await api.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "go"}])
        default = await api.chat.completions.create(model="m", messages=[{"role": "user", "content": "again"}])
        models = await api.models.list()
    assert text.choices[0].message.content == "hello"
    assert text.usage is not None and text.usage.total_tokens == 4
    assert tools.choices[0].finish_reason == "tool_calls"
    calls = [c.model_dump() for c in tools.choices[0].message.tool_calls or []]
    assert [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in calls] \
        == [("c1", "a::b", '{"x": 1}'), ("c2", "c_d", "{}")]
    assert default.choices[0].message.content == FakeUpstream.DEFAULT_TEXT and default.model == "m"
    assert [m.id for m in models.data] == ["gpt-4o-mini"]
    assert [r.body["messages"][0]["content"] for r in fake.chat_requests] == ["hi", "go", "again"]
    assert fake.chat_requests[0].headers["authorization"] == "Bearer sk-test"


async def test_streams_follow_the_openai_format(fake: FakeUpstream) -> None:
    fake.script(ToolCalls([ToolCall("c1", "f", '{"long": "arguments here"}')], fragments=4))
    async with client(fake) as api:
        stream = await api.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}],
                                                   stream=True, stream_options={"include_usage": True})
        chunks = [chunk async for chunk in stream]
    assert len({c.id for c in chunks}) == 1
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 60
    assert all(c.usage is None for c in chunks[:-1])
    deltas = [d for c in chunks for ch in c.choices for d in (ch.delta.tool_calls or [])]
    assert deltas[0].id == "c1" and deltas[0].function is not None and deltas[0].function.name == "f"
    assert "".join(d.function.arguments or "" for d in deltas if d.function) == '{"long": "arguments here"}'
    assert [ch.finish_reason for c in chunks for ch in c.choices][-1] == "tool_calls"


async def test_errors_use_the_envelope_and_retry_after(fake: FakeUpstream) -> None:
    fake.script(Error.rate_limited(retry_after=3), Error(400, "bad"))
    async with client(fake) as api:
        with pytest.raises(openai.RateLimitError) as limited:
            await api.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        with pytest.raises(openai.BadRequestError) as bad:
            await api.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert limited.value.response.headers["retry-after"] == "3"
    assert bad.value.body == {"message": "bad", "type": "invalid_request_error", "param": None, "code": None}


async def test_slow_replies_wait_for_their_release(fake: FakeUpstream) -> None:
    slow = Slow(Text("finally"))
    fake.script(slow)
    async with client(fake) as api:
        async with anyio.create_task_group() as tg:
            answer: list[str | None] = []

            async def ask() -> None:
                reply = await api.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
                answer.append(reply.choices[0].message.content)

            tg.start_soon(ask)
            await slow.arrived.wait()
            assert answer == []
            slow.release.set()
    assert answer == ["finally"]
