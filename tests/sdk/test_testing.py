"""FunctionEnvironment: run a handler with a real Context and fake callees."""

from __future__ import annotations

from typing import Any

import pytest

from workers.sdk import Context, FunctionNotFound, current_context, function
from workers.sdk.testing import FunctionEnvironment


@function("agent::chat")
async def chat(data: dict[str, Any], ctx: Context) -> dict[str, Any]:
    reply = await ctx.trigger("llm::complete", {"prompt": data["text"]})
    await ctx.trigger_void("audit::log", {"realm": ctx.realm})
    receipt = await ctx.enqueue("memory::store", {"text": data["text"]}, queue="memory")
    return {
        "reply": reply["text"],
        "receipt": receipt,
        "caller": ctx.caller_worker_id,
        "metadata": dict(ctx.metadata),
        "current": current_context() is ctx,
    }


async def test_runs_a_handler_against_fakes_and_records_calls() -> None:
    stored: list[Any] = []

    async def complete(data: dict[str, Any]) -> dict[str, str]:
        return {"text": data["prompt"].upper()}

    env = FunctionEnvironment(
        functions={
            "llm::complete": complete,
            "audit::log": lambda data: None,
            "memory::store": stored.append,
        },
        realm="acme",
        caller_worker_id="w-1",
        metadata={"source": "test"},
    )
    out = await env.run(chat, {"text": "hi"})
    assert out["reply"] == "HI" and out["caller"] == "w-1" and out["metadata"] == {"source": "test"}
    assert out["current"] and isinstance(out["receipt"], str)
    assert stored == [{"text": "hi"}]
    assert [(c.function_id, c.kind) for c in env.calls] == [
        ("llm::complete", "sync"),
        ("audit::log", "void"),
        ("memory::store", "enqueue"),
    ]
    assert env.calls[1].data == {"realm": "acme"}
    assert env.calls[2].queue == "memory"
    assert all(c.baggage == "agentos-realm=acme" and c.traceparent for c in env.calls)


async def test_unknown_callees_raise_function_not_found() -> None:
    env = FunctionEnvironment()
    with pytest.raises(FunctionNotFound) as info:
        await env.run(chat, {"text": "hi"})
    assert info.value.function_id == "llm::complete"
    assert [c.function_id for c in env.calls] == ["llm::complete"]


async def test_no_realm_means_no_baggage() -> None:
    env = FunctionEnvironment()
    ctx = env.context("a::b")
    assert ctx.realm is None and ctx.baggage is None and ctx.invocation_id
