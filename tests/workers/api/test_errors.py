"""Error answers: the OpenAI envelope and the status each failure maps to, hostile input included."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.fakes import Error, FakeUpstream, Text
from workers.api import ApiConfig
from workers.sdk import Worker, function

from .conftest import MAX_BODY, Stack, llm_config, running, user

BAD_BODIES: list[tuple[Any, str | None]] = [
    ({"model": "default"}, "messages"),
    ({"messages": user("hi")}, "model"),
    ({"model": "default", "messages": "hello"}, "messages"),
    ({"model": "default", "messages": []}, "messages"),
    ({"model": "default", "messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
    ({"model": "default", "messages": [*user("a"), {"role": "user"}]}, "messages[1].content"),
    ({"model": "default", "messages": ["hi"]}, "messages[0]"),
    ({"model": "default", "messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
    ({"model": "default", "messages": [{"role": "user", "content": [{"type": "text"}]}]},
     "messages[0].content[0].text"),
    ({"model": "default", "messages": [{"role": "user", "content": 42}]}, "messages[0].content"),
    ({"model": "default", "messages": user("hi"), "n": 2}, "n"),
    ({"model": "default", "messages": user("hi"), "temperature": 7}, "temperature"),
    ({"model": "default", "messages": user("hi"), "stream": "yes"}, "stream"),
    ({"model": "default", "messages": user("hi"), "tools": [{"type": "function", "function": {"name": "bad name"}}]},
     "tools[0].function.name"),
    ({"model": "default", "messages": user("hi"), "tool_choice": "sometimes"}, "tool_choice"),
    ([1, 2, 3], None),
]


@pytest.mark.parametrize(("body", "param"), BAD_BODIES)
async def test_a_bad_body_is_a_400_naming_the_param(stack: Stack, body: Any, param: str | None) -> None:
    async with stack.http() as http:
        response = await http.post("/v1/chat/completions", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    assert stack.fake.chat_requests == []


async def test_the_openai_client_raises_bad_request(stack: Stack) -> None:
    async with stack.openai() as client:
        with pytest.raises(openai.BadRequestError) as err:
            await client.chat.completions.create(model="default", messages=user("hi"), n=3)  # type: ignore[arg-type]
    assert err.value.status_code == 400 and err.value.param == "n"


async def test_non_json_bodies(stack: Stack) -> None:
    async with stack.http() as http:
        as_json = await http.post("/v1/chat/completions", content=b"{not json",
                                  headers={"content-type": "application/json"})
        as_text = await http.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "text/plain"})
        empty = await http.post("/v1/chat/completions", content=b"")
    assert as_json.status_code == 400  # refused by the http module itself (INVALID_JSON)
    assert as_text.status_code == 400 and as_text.json()["error"]["type"] == "invalid_request_error"
    assert empty.status_code == 400 and empty.json()["error"]["type"] == "invalid_request_error"


async def test_a_json_body_sent_as_text_is_accepted(stack: Stack) -> None:
    stack.fake.script(Text("fine"))
    async with stack.http() as http:
        response = await http.post("/v1/chat/completions", headers={"content-type": "text/plain"},
                                   content=b'{"model": "default", "messages": [{"role": "user", "content": "hi"}]}')
    assert response.status_code == 200 and response.json()["choices"][0]["message"]["content"] == "fine"


async def test_a_huge_body_is_refused_by_the_http_module(stack: Stack) -> None:
    body = {"model": "default", "messages": user("x" * (MAX_BODY + 1))}
    async with stack.http() as http:
        response = await http.post("/v1/chat/completions", json=body)
    assert response.status_code == 413
    assert stack.fake.chat_requests == []


async def test_an_unknown_alias_is_a_404(stack: Stack) -> None:
    async with stack.openai() as client:
        with pytest.raises(openai.NotFoundError) as err:
            await client.chat.completions.create(model="no-such-alias", messages=user("hi"))  # type: ignore[arg-type]
    assert err.value.code == "model_not_found" and err.value.param == "model"


async def test_an_upstream_failure_is_a_502(stack: Stack) -> None:
    for stream in (False, True):
        stack.fake.script(Error(500, "the provider broke"))
        async with stack.http() as http:
            response = await http.post("/v1/chat/completions",
                                       json={"model": "default", "messages": user("hi"), "stream": stream})
        assert response.status_code == 502, response.text
        assert response.json()["error"]["code"] == "llm_upstream_error"


async def test_no_provider_configured_is_a_503_that_says_how_to_fix_it(fake: FakeUpstream) -> None:
    async with running(fake, llm=llm_config(None)) as stack, stack.openai() as client:
        for stream in (False, True):
            with pytest.raises(openai.InternalServerError) as err:
                await client.chat.completions.create(model="default", messages=user("hi"), stream=stream)  # type: ignore[call-overload]
            assert err.value.status_code == 503
            assert err.value.code == "llm_not_configured" and "OPENAI_API_KEY" in err.value.message
            assert err.value.response.headers["x-should-retry"] == "false"


async def test_keys_realms_and_the_realm_policy(fake: FakeUpstream) -> None:
    llm = llm_config(fake, realm_policy={"acme": ["default"]})
    async with running(fake, auth=True, llm=llm) as stack:
        async with stack.openai("sk-wrong") as client:
            with pytest.raises(openai.AuthenticationError):
                await client.chat.completions.create(model="default", messages=user("hi"))  # type: ignore[arg-type]
        async with stack.http() as http:  # no key at all
            assert (await http.get("/v1/models")).status_code == 401
        async with stack.openai("sk-acme") as client:
            with pytest.raises(openai.PermissionDeniedError) as err:
                await client.chat.completions.create(model="fast", messages=user("hi"))  # type: ignore[arg-type]
            assert err.value.code == "llm_forbidden_model"
            stack.fake.script(Text("allowed"))
            answer = await client.chat.completions.create(model="default", messages=user("hi"))  # type: ignore[arg-type]
            assert answer.choices[0].message.content == "allowed"
            assert {m.id for m in (await client.models.list()).data} >= {"default"}
            assert "fast" not in {m.id for m in (await client.models.list()).data}
        async with stack.openai("sk-beta") as client:  # no policy for beta: every alias
            stack.fake.script(Text("fast one"))
            answer = await client.chat.completions.create(model="fast", messages=user("hi"))  # type: ignore[arg-type]
            assert answer.choices[0].message.content == "fast one"


async def test_agents_are_per_realm(fake: FakeUpstream) -> None:
    async with running(fake, auth=True) as stack:
        await stack.create_agent(name="acme-bot")  # the test client is realm acme
        async with stack.openai("sk-acme") as acme, stack.openai("sk-beta") as beta:
            assert "agent:acme-bot" in {m.id for m in (await acme.models.list()).data}
            assert "agent:acme-bot" not in {m.id for m in (await beta.models.list()).data}
            with pytest.raises(openai.NotFoundError):
                await beta.chat.completions.create(model="agent:acme-bot", messages=user("hi"))  # type: ignore[arg-type]


async def test_a_key_over_its_rate_limit_gets_a_429_with_retry_after(fake: FakeUpstream) -> None:
    config = ApiConfig(rate_limit_per_minute=2, rate_limit_burst=2)
    async with running(fake, api=config) as stack:
        async with stack.http("key-one") as one, stack.http("key-two") as two:
            assert [(await one.get("/v1/models")).status_code for _ in range(2)] == [200, 200]
            limited = await one.get("/v1/models")
            assert (await two.get("/v1/models")).status_code == 200  # another key, another bucket
            assert (await one.get("/api/health")).status_code == 200  # health is not limited
        assert limited.status_code == 429
        assert limited.json()["error"]["type"] == "rate_limit_error"
        assert int(limited.headers["retry-after"]) >= 1
        async with stack.openai("key-one") as client:
            with pytest.raises(openai.RateLimitError):
                await client.chat.completions.create(model="default", messages=user("hi"))  # type: ignore[arg-type]


async def test_budget_exceeded_is_a_402(fake: FakeUpstream) -> None:
    @function("ledger::check")
    async def refuse(data: Any) -> dict[str, Any]:
        return {"allowed": False, "reason": "monthly budget spent"}

    async with running(fake, extra=[Worker("ledger", functions=[refuse])]) as stack, stack.http() as http:
        response = await http.post("/v1/chat/completions", json={"model": "default", "messages": user("hi")})
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "budget_exceeded"
