"""The model catalog: litellm's facts, conservative defaults, overrides, availability."""

from __future__ import annotations

import pytest

from workers.llm_router.catalog import (
    UNKNOWN_CONTEXT_WINDOW,
    describe,
    lookup,
    provider_of,
    register_local,
    unavailable_reason,
)
from workers.llm_router.config import ModelSpec


@pytest.mark.parametrize(("model", "provider", "window", "tools"), [
    ("openai/gpt-4o-mini", "openai", 128_000, True),
    ("gpt-4o-mini", "openai", 128_000, True),
    ("anthropic/claude-sonnet-4-5", "anthropic", 200_000, True),
    ("openai/o4-mini", "openai", 200_000, True),
])
def test_known_models(model: str, provider: str, window: int, tools: bool) -> None:
    info = lookup(model)
    assert (info.provider, info.context_window, info.supports_tools, info.known) == (provider, window, tools, True)
    assert info.input_cost_per_token > 0 and info.output_cost_per_token > 0


def test_prices_come_from_litellms_map() -> None:
    info = lookup("openai/gpt-4o-mini")
    assert (info.input_cost_per_token, info.output_cost_per_token) == pytest.approx((0.15e-6, 0.6e-6))
    assert info.estimate_cost(1000, 100) == pytest.approx(1000 * 0.15e-6 + 100 * 0.6e-6)


def test_unknown_models_get_conservative_defaults() -> None:
    info = lookup("openai/my-private-finetune")
    assert (info.provider, info.context_window, info.supports_tools, info.known) \
        == ("openai", UNKNOWN_CONTEXT_WINDOW, None, False)
    assert (info.input_cost_per_token, info.output_cost_per_token) == (0.0, 0.0)
    assert provider_of("no-provider-model") == "unknown"


def test_a_spec_overrides_the_catalog() -> None:
    spec = ModelSpec(model="openai/my-private-finetune", context_window=32_000, supports_tools=True,
                     input_cost_per_token=1e-6, output_cost_per_token=2e-6)
    info = describe(spec)
    assert (info.context_window, info.supports_tools, info.input_cost_per_token, info.output_cost_per_token) \
        == (32_000, True, 1e-6, 2e-6)


def test_local_models_get_a_static_entry_so_litellm_never_asks_the_server() -> None:
    spec = ModelSpec(model="ollama_chat/catalog-test:7b", api_base="http://127.0.0.1:9", context_window=16_384)
    register_local(spec)
    info = lookup(spec.model)
    assert (info.provider, info.context_window, info.input_cost_per_token, info.known) \
        == ("ollama_chat", 16_384, 0.0, True)
    register_local(ModelSpec(model="openai/gpt-4o-mini"))  # not local: untouched
    assert lookup("openai/gpt-4o-mini").context_window == 128_000


def test_availability(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert unavailable_reason(ModelSpec(model="openai/gpt-4o-mini")) == "OPENAI_API_KEY is not set"
    assert unavailable_reason(ModelSpec.model_validate({"model": "openai/gpt-4o-mini", "api_key": "sk"})) is None
    assert unavailable_reason(ModelSpec(model="openai/local", api_base="http://127.0.0.1:8000/v1")) is None
    assert unavailable_reason(ModelSpec(model="openai/x", missing_env=("A", "B"))) == "A, B are not set"
    assert "provider" in (unavailable_reason(ModelSpec(model="no-provider-model")) or "")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    assert unavailable_reason(ModelSpec(model="openai/gpt-4o-mini")) is None
