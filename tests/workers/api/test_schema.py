"""Request validation (pure), the error table, and the public surface."""

from __future__ import annotations

import pytest

import workers.api
from workers.api import InvalidRequest, from_invocation, parse_chat
from workers.sdk import InvocationError


def test_the_llm_payload_passes_messages_and_options_through() -> None:
    request = parse_chat({"model": "default", "messages": [{"role": "user", "content": "hi", "name": "ann"}],
                          "max_completion_tokens": 5, "temperature": 1, "tools": None, "unknown": 1})
    assert request.llm_payload() == {"model": "default", "temperature": 1.0, "max_tokens": 5,
                                     "messages": [{"role": "user", "content": "hi", "name": "ann"}]}
    assert request.agent is None


def test_agent_messages_are_text_with_agent_roles() -> None:
    request = parse_chat({"model": "agent:bob", "messages": [
        {"role": "developer", "content": "be kind"},
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]})
    assert request.agent == "bob"
    assert request.agent_messages() == [{"role": "system", "content": "be kind"},
                                        {"role": "user", "content": "a\nb"}]
    image = parse_chat({"model": "agent:bob", "messages": [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x"}}]}]})
    with pytest.raises(InvalidRequest) as err:
        image.agent_messages()
    assert err.value.param == "messages[0].content[0].type"


def test_stream_options_need_stream() -> None:
    with pytest.raises(InvalidRequest) as err:
        parse_chat({"model": "m", "messages": [{"role": "user", "content": "x"}],
                    "stream_options": {"include_usage": True}})
    assert err.value.param == "stream_options"


@pytest.mark.parametrize(("code", "status"), [
    ("invalid_arguments", 400), ("llm_forbidden_model", 403), ("budget_exceeded", 402),
    ("agent_not_found", 404), ("agent_paused", 409), ("llm_not_configured", 503),
    ("llm_upstream_error", 502), ("timeout", 504), ("function_not_found", 503), ("something_new", 500)])
def test_worker_codes_map_to_statuses(code: str, status: int) -> None:
    error = from_invocation(InvocationError(code, "detail"))
    assert error.status == status
    assert set(error.envelope()["error"]) == {"message", "type", "param", "code"}
    if status == 500:
        assert "detail" not in error.message  # unknown failures are not echoed to clients


def test_an_unknown_alias_or_agent_is_model_not_found_only_for_completions() -> None:
    alias = InvocationError("llm_bad_request", "unknown model alias 'x': known aliases are […]")
    assert from_invocation(alias, model="x").status == 404
    assert from_invocation(alias).status == 400
    assert from_invocation(InvocationError("agent_not_found", "no agent"), model="agent:x").code == "model_not_found"


def test_the_public_surface() -> None:
    assert set(workers.api.__all__) == {
        "ROUTES", "AgentRelay", "ApiConfig", "ApiError", "ApiService", "ChatRequest", "InvalidRequest",
        "LlmRelay", "ModelNotFound", "NotFound", "RateLimited", "RateLimiter", "Route", "build_worker",
        "from_invocation", "parse_chat"}
    for name in workers.api.__all__:
        assert getattr(workers.api, name) is not None


def test_config_from_env() -> None:
    config = workers.api.ApiConfig.from_env({"AGENTOS_API_RATE_LIMIT": "30", "AGENTOS_API_RATE_BURST": "5"})
    assert (config.rate_limit_per_minute, config.rate_limit_burst) == (30, 5)
    with pytest.raises(ValueError, match="AGENTOS_API_RATE_LIMIT"):
        workers.api.ApiConfig.from_env({"AGENTOS_API_RATE_LIMIT": "-1"})
