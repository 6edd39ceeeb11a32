"""End to end: client → engine → llm-router (our SDK) → real litellm → fake upstream."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest

from tests.fakes import Error, FakeUpstream, Slow, Text, ToolCall, ToolCalls
from workers.llm_router import LlmRouter, parse_config
from workers.llm_router.config import BUILTIN_YAML
from workers.sdk import Context, InvocationError, TriggerBinding, Worker, function

from .conftest import make_config, serving, spec, user

TOOLS = [
    {"type": "function", "function": {"name": "fs::read_file", "description": "Read a file",
                                      "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}},
    {"type": "function", "function": {"name": "web_search", "parameters": {"type": "object"}}},
]


async def test_text_answer_has_usage_and_cost(fake: FakeUpstream) -> None:
    fake.script(Text("Paris.", prompt_tokens=20, completion_tokens=3))
    router = LlmRouter(make_config({"default": [spec(fake)]}))
    async with serving(router) as client:
        result = await client.trigger("llm::complete", {"messages": user("Capital of France?"),
                                                        "temperature": 0.2, "max_tokens": 50})
    assert result["object"] == "chat.completion"
    assert result["id"] == "chatcmpl-fake-1"
    assert result["choices"] == [{"index": 0, "message": {"role": "assistant", "content": "Paris."},
                                  "finish_reason": "stop"}]
    assert result["usage"] == {"prompt_tokens": 20, "completion_tokens": 3, "total_tokens": 23}
    assert result["cost_usd"] == pytest.approx(20 * 0.15e-6 + 3 * 0.6e-6)
    assert (result["provider"], result["alias"]) == ("openai", "default")
    assert result["attempts"] == [{"model": "openai/gpt-4o-mini"}]
    body = fake.chat_requests[0].body
    assert body["messages"] == user("Capital of France?")
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("gpt-4o-mini", 0.2, 50)
    assert fake.chat_requests[0].headers["authorization"] == "Bearer sk-test"


async def test_tool_calls_pass_through_exactly(fake: FakeUpstream) -> None:
    call = ToolCall("call_Zx9-_1", "fs::read_file", '{"path": "/tmp/a_b.txt", "lines": [1, 2]}')
    fake.script(ToolCalls([call]))
    router = LlmRouter(make_config({"default": [spec(fake)]}))
    async with serving(router) as client:
        result = await client.trigger("llm::complete", {"messages": user("read it"), "tools": TOOLS,
                                                        "tool_choice": "auto"})
    choice = result["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_Zx9-_1", "type": "function",
         "function": {"name": "fs::read_file", "arguments": '{"path": "/tmp/a_b.txt", "lines": [1, 2]}'}}]}
    body = fake.chat_requests[0].body
    assert body["tools"] == TOOLS
    assert body["tool_choice"] == "auto"


async def test_parallel_tool_calls_and_tool_results_round_trip(fake: FakeUpstream) -> None:
    calls = [ToolCall("call_a", "fs::read_file", '{"path": "/x"}'),
             ToolCall("call_b", "web_search", '{"q": "agent os"}')]
    fake.script(ToolCalls(calls), Text("Done."))
    router = LlmRouter(make_config({"default": [spec(fake)]}))
    async with serving(router) as client:
        first = await client.trigger("llm::complete", {"messages": user("both"), "tools": TOOLS})
        message = first["choices"][0]["message"]
        assert [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in message["tool_calls"]] \
            == [(c.id, c.name, c.arguments) for c in calls]
        followup = [*user("both"), message,
                    {"role": "tool", "tool_call_id": "call_a", "content": "file body"},
                    {"role": "tool", "tool_call_id": "call_b", "content": "results"}]
        second = await client.trigger("llm::complete", {"messages": followup, "tools": TOOLS})
    assert second["choices"][0]["message"]["content"] == "Done."
    sent = fake.chat_requests[1].body["messages"]
    assert sent[1]["tool_calls"] == message["tool_calls"]
    assert [(m["tool_call_id"], m["content"]) for m in sent[2:]] == [("call_a", "file body"), ("call_b", "results")]


async def test_server_error_is_retried(fake: FakeUpstream) -> None:
    fake.script(Error(500), Text("second time lucky"))
    router = LlmRouter(make_config({"default": [spec(fake)]}))
    async with serving(router) as client:
        result = await client.trigger("llm::complete", {"messages": user("hi")})
    assert result["choices"][0]["message"]["content"] == "second time lucky"
    failed, ok = result["attempts"]
    assert (failed["model"], failed["kind"], failed["status"]) == ("openai/gpt-4o-mini", "server", 500)
    assert ok == {"model": "openai/gpt-4o-mini"}
    assert len(fake.chat_requests) == 2


async def test_rate_limit_backs_off_as_told_then_succeeds(fake: FakeUpstream) -> None:
    fake.script(Error.rate_limited(retry_after=0.015), Text("ok"))
    router = LlmRouter(make_config({"default": [spec(fake)]}))
    async with serving(router) as client:
        result = await client.trigger("llm::complete", {"messages": user("hi")})
    limited = result["attempts"][0]
    assert (limited["kind"], limited["status"], limited["retry_after"]) == ("rate_limit", 429, 0.015)
    assert limited["delay_s"] == 0.015  # Retry-After, under the configured cap
    assert result["choices"][0]["message"]["content"] == "ok"


async def test_hard_failure_falls_back_to_the_next_provider(fake: FakeUpstream, fake2: FakeUpstream) -> None:
    fake.script(Error(401, "invalid api key"))
    fake2.script(Text("from the second provider", prompt_tokens=10, completion_tokens=5))
    router = LlmRouter(make_config({"default": [spec(fake), spec(fake2, "gpt-4o")]}))
    async with serving(router) as client:
        result = await client.trigger("llm::complete", {"messages": user("hi")})
    assert result["choices"][0]["message"]["content"] == "from the second provider"
    assert [a["model"] for a in result["attempts"]] == ["openai/gpt-4o-mini", "openai/gpt-4o"]
    assert result["attempts"][0]["kind"] == "auth"
    assert len(fake.chat_requests) == 1  # an auth error is not retried
    assert result["cost_usd"] == pytest.approx(10 * 2.5e-6 + 5 * 10e-6)


async def test_a_slow_upstream_times_out_and_falls_back(fake: FakeUpstream, fake2: FakeUpstream) -> None:
    slow = Slow(Text("too late"))
    fake.script(slow)
    fake2.script(Text("fast answer"))
    chain = [spec(fake, timeout_s=0.3, max_retries=0), spec(fake2, "gpt-4o")]
    router = LlmRouter(make_config({"default": chain}))
    async with serving(router) as client:
        result = await client.trigger("llm::complete", {"messages": user("hi")})
    assert slow.arrived.is_set() and not slow.release.is_set()
    assert result["choices"][0]["message"]["content"] == "fast answer"
    assert result["attempts"][0]["kind"] == "timeout"


async def test_all_failing_lists_every_attempt(fake: FakeUpstream, fake2: FakeUpstream) -> None:
    fake.default = Error(503, "overloaded")
    fake2.default = Error(500, "boom")
    chain = [spec(fake, max_retries=1), spec(fake2, "gpt-4o", max_retries=0)]
    router = LlmRouter(make_config({"default": chain}))
    async with serving(router) as client:
        with pytest.raises(InvocationError) as caught:
            await client.trigger("llm::complete", {"messages": user("hi")})
    error = caught.value
    assert error.code == "llm_upstream_error"
    assert "3 attempts" in error.message
    assert error.message.count("openai/gpt-4o-mini") == 2 and "openai/gpt-4o:" in error.message
    assert "overloaded" in error.message and "boom" in error.message
    assert (len(fake.chat_requests), len(fake2.chat_requests)) == (2, 1)


async def test_bad_request_is_surfaced_without_fallback(fake: FakeUpstream, fake2: FakeUpstream) -> None:
    fake.script(Error(400, "messages[0].content is invalid"))
    router = LlmRouter(make_config({"default": [spec(fake), spec(fake2, "gpt-4o")]}))
    async with serving(router) as client:
        with pytest.raises(InvocationError) as caught:
            await client.trigger("llm::complete", {"messages": user("hi")})
    assert caught.value.code == "llm_bad_request"
    assert "messages[0].content is invalid" in caught.value.message
    assert fake2.requests == []


async def test_invalid_messages_are_refused_before_any_call(fake: FakeUpstream) -> None:
    router = LlmRouter(make_config({"default": [spec(fake)]}))
    async with serving(router) as client:
        payloads: list[Any] = [{"messages": []}, {"messages": [{"role": "robot", "content": "x"}]},
                               {"messages": [{"role": "tool", "content": "x"}]}, {"messages": "hello"},
                               {"messages": user("x"), "stream": True}]
        for payload in payloads:
            with pytest.raises(InvocationError) as caught:
                await client.trigger("llm::complete", payload)
            assert caught.value.code == "llm_bad_request", payload
    assert fake.requests == []


async def test_no_provider_configured_answers_promptly(closed_port: int) -> None:
    start = time.monotonic()
    config = parse_config(BUILTIN_YAML + f"ollama: {{base_url: 'http://127.0.0.1:{closed_port}'}}\n", env={})
    router = await LlmRouter.start(config)
    async with serving(router) as client:
        called = time.monotonic()
        with pytest.raises(InvocationError) as caught:
            await client.trigger("llm::complete", {"messages": user("hi")})
        answered = time.monotonic()
        models = await client.trigger("llm::models", {})
    assert caught.value.code == "llm_not_configured"
    assert "set OPENAI_API_KEY or add a model to llm.yaml (aliases.default)" in caught.value.message
    assert "run Ollama on 127.0.0.1:11434" in caught.value.message
    assert answered - called < 1.0
    assert called - start < 2.0  # the Ollama probe is bounded too
    assert models["configured"] is False and models["ollama"] is None
    default = next(a for a in models["aliases"] if a["alias"] == "default")
    assert default["available"] is False
    assert default["models"][0]["reason"] == "OPENAI_API_KEY is not set"


async def test_realm_policy_refuses_other_aliases(fake: FakeUpstream) -> None:
    config = make_config({"default": [spec(fake)], "fast": [spec(fake)]}, realm_policy={"acme": ["fast"]})
    router = LlmRouter(config)
    async with serving(router, auth=True, client_token="t-acme") as client:
        with pytest.raises(InvocationError) as caught:
            await client.trigger("llm::complete", {"messages": user("hi")})
        assert caught.value.code == "llm_forbidden_model"
        assert "'acme'" in caught.value.message and "'default'" in caught.value.message
        with pytest.raises(InvocationError) as direct:
            await client.trigger("llm::complete", {"model": "openai/gpt-4o", "messages": user("hi")})
        assert direct.value.code == "llm_forbidden_model"
        ok = await client.trigger("llm::complete", {"model": "fast", "messages": user("hi"), "agent_id": "a1"})
        models = await client.trigger("llm::models", {})
        usage = await client.trigger("llm::usage", {"realm": "someone-else"})
    assert ok["alias"] == "fast"
    assert [a["alias"] for a in models["aliases"]] == ["fast"]
    assert [(e["realm"], e["agent_id"], e["model"], e["requests"], e["errors"]) for e in usage["entries"]] == [
        ("acme", None, "default", 0, 1), ("acme", None, "openai/gpt-4o", 0, 1),
        ("acme", "a1", "openai/gpt-4o-mini", 1, 0)]
    assert len(fake.chat_requests) == 1


async def test_models_lists_aliases_and_their_chains(fake: FakeUpstream, fake2: FakeUpstream) -> None:
    config = make_config({
        "default": [spec(fake), spec(fake2, "gpt-4o")],
        "reasoning": [{"model": "anthropic/claude-sonnet-4-5", "api_key": "${NO_SUCH_KEY_FOR_TESTS}"}],
    })
    router = LlmRouter(config)
    async with serving(router) as client:
        models = await client.trigger("llm::models", {})
    by_alias = {a["alias"]: a for a in models["aliases"]}
    assert set(by_alias) == {"default", "fast", "reasoning"}
    assert [m["model"] for m in by_alias["default"]["models"]] == ["openai/gpt-4o-mini", "openai/gpt-4o"]
    mini = by_alias["default"]["models"][0]
    assert (mini["provider"], mini["context_window"], mini["supports_tools"], mini["available"]) \
        == ("openai", 128000, True, True)
    assert mini["input_cost_per_token"] == pytest.approx(0.15e-6)
    assert by_alias["reasoning"]["available"] is False
    assert by_alias["reasoning"]["models"][0]["reason"] == "NO_SUCH_KEY_FOR_TESTS is not set"
    assert by_alias["fast"] == {"alias": "fast", "available": False, "models": []}
    assert models["configured"] is True and "hint" not in models


async def test_usage_sums_match_the_completions(fake: FakeUpstream, fake2: FakeUpstream) -> None:
    fake.script(Text("a", prompt_tokens=10, completion_tokens=2), Text("b", prompt_tokens=30, completion_tokens=4))
    fake2.script(Text("c", prompt_tokens=7, completion_tokens=7))
    router = LlmRouter(make_config({"default": [spec(fake)], "fast": [spec(fake2, "gpt-4o")]}))
    results: list[dict[str, Any]] = []
    async with serving(router) as client:
        results.append(await client.trigger("llm::complete", {"messages": user("1"), "agent_id": "alice"}))
        results.append(await client.trigger("llm::complete", {"messages": user("2"), "agent_id": "alice"}))
        results.append(await client.trigger("llm::complete", {"model": "fast", "messages": user("3"),
                                                              "agent_id": "bob"}))
        with pytest.raises(InvocationError):
            await client.trigger("llm::complete", {"model": "nope", "messages": user("4"), "agent_id": "bob"})
        everything = await client.trigger("llm::usage", {})
        alice = await client.trigger("llm::usage", {"agent_id": "alice"})
    totals = everything["totals"]
    assert totals["requests"] == 3 and totals["errors"] == 1
    assert totals["prompt_tokens"] == sum(r["usage"]["prompt_tokens"] for r in results) == 47
    assert totals["completion_tokens"] == sum(r["usage"]["completion_tokens"] for r in results) == 13
    assert totals["total_tokens"] == 60
    assert totals["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in results))
    assert everything["by_model"]["openai/gpt-4o"]["requests"] == 1
    assert alice["totals"]["requests"] == 2
    assert alice["totals"]["cost_usd"] == pytest.approx(results[0]["cost_usd"] + results[1]["cost_usd"])


async def test_route_picks_an_alias_by_complexity(fake: FakeUpstream) -> None:
    aliases = {"fast": [spec(fake)], "default": [spec(fake, "gpt-4o")], "reasoning": [spec(fake, "o4-mini")]}
    router = LlmRouter(make_config(aliases))
    hard = ("Design and implement a refactor of this module, analyze the trade-offs step by step:\n"
            "```python\ndef f(x):\n    return x\n```\n" + "context " * 600)
    async with serving(router) as client:
        easy = await client.trigger("llm::route", {"messages": user("hi!")})
        deep = await client.trigger("llm::route", {"messages": user(hard), "tools": TOOLS})
        pinned = await client.trigger("llm::route", {"model": "default", "messages": user("hi")})
        auto = await client.trigger("llm::complete", {"model": "auto", "messages": user("thanks")})
    assert (easy["alias"], easy["tier"], easy["model"]) == ("fast", "fast", "openai/gpt-4o-mini")
    assert (deep["alias"], deep["tier"], deep["model"]) == ("reasoning", "reasoning", "openai/o4-mini")
    assert deep["estimated_tokens"] > 600 and deep["supports_tools"] is True
    assert (pinned["alias"], pinned["reason"]) == ("default", "requested")
    assert auto["alias"] == "fast"
    assert fake.chat_requests[-1].body["model"] == "gpt-4o-mini"


async def test_ledger_check_can_refuse_and_costs_are_published(fake: FakeUpstream) -> None:
    checks: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    delivered = anyio.Event()

    @function("ledger::check")
    async def ledger_check(data: dict[str, Any], ctx: Context) -> dict[str, Any]:
        checks.append(data)
        return {"allowed": data["agent_id"] != "broke", "reason": "monthly budget spent"}

    @function("test::on_cost")
    async def on_cost(data: dict[str, Any]) -> None:
        events.append(data)
        delivered.set()

    router = LlmRouter(make_config({"default": [spec(fake)]}))
    helpers = Worker("ledger-and-subscriber", functions=[ledger_check, on_cost],
                     triggers=[TriggerBinding("subscribe", "test::on_cost", {"topic": "cost.incurred"})])
    async with serving(router, extra=[helpers], modules=["iii-pubsub"]) as client:
        with pytest.raises(InvocationError) as caught:
            await client.trigger("llm::complete", {"messages": user("hi"), "agent_id": "broke"})
        result = await client.trigger("llm::complete", {"messages": user("hi"), "agent_id": "rich",
                                                        "metadata": {"session": "s1"}})
        await delivered.wait()
    assert caught.value.code == "budget_exceeded" and "monthly budget spent" in caught.value.message
    assert len(fake.chat_requests) == 1  # the refused call never reached the provider
    assert [c["agent_id"] for c in checks] == ["broke", "rich"]
    assert checks[1]["estimated_cost"] > 0 and checks[1]["realm"] is None
    [event] = events
    assert (event["agent_id"], event["model"], event["provider"], event["completion_id"]) \
        == ("rich", "openai/gpt-4o-mini", "openai", result["id"])
    assert (event["prompt_tokens"], event["completion_tokens"]) == (12, 8)
    assert event["cost_usd"] == result["cost_usd"] > 0
    assert event["metadata"] == {"session": "s1"}


async def test_without_ledger_or_pubsub_calls_just_proceed(fake: FakeUpstream) -> None:
    router = LlmRouter(make_config({"default": [spec(fake)]}))
    async with serving(router) as client:
        result = await client.trigger("llm::complete", {"messages": user("hi"), "agent_id": "a"})
    assert result["choices"][0]["message"]["content"] == FakeUpstream.DEFAULT_TEXT


async def test_a_detected_ollama_serves_when_nothing_else_is(fake: FakeUpstream) -> None:
    async with FakeUpstream(ollama_models=["llama3.2:latest", "qwen2.5:7b"]) as ollama:
        ollama.script(Text("local answer", prompt_tokens=9, completion_tokens=2))
        config = make_config({"default": [{"model": "openai/gpt-4o-mini", "api_key": "${NO_SUCH_KEY_FOR_TESTS}"}]},
                             ollama={"autodetect": True, "base_url": ollama.url})
        router = await LlmRouter.start(config)
        async with serving(router) as client:
            models = await client.trigger("llm::models", {})
            result = await client.trigger("llm::complete", {"messages": user("hi")})
    assert models["ollama"] == {"base_url": ollama.url,
                                "models": ["ollama_chat/llama3.2:latest", "ollama_chat/qwen2.5:7b"]}
    assert models["configured"] is True
    assert result["choices"][0]["message"]["content"] == "local answer"
    assert (result["provider"], result["cost_usd"]) == ("ollama_chat", 0.0)
    assert result["usage"]["total_tokens"] == 11
    assert ollama.requests[-1].path == "/api/chat"
    assert ollama.requests[-1].body["model"] == "llama3.2:latest"
