"""The llm-router config the test stacks share: alias ``default`` → a :class:`FakeUpstream`."""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from workers.llm_router import LlmConfig  # noqa: E402

from .openai_upstream import FakeUpstream  # noqa: E402

__all__ = ["fake_llm_config"]


def fake_llm_config(fake: FakeUpstream) -> LlmConfig:
    """``default`` → the fake upstream (an OpenAI model litellm can price); no retry delays."""
    return LlmConfig.model_validate({
        "aliases": {"default": [{"model": "openai/gpt-4o-mini", "api_base": fake.base_url,
                                 "api_key": "sk-test", "max_retries": 0}]},
        "retry": {"initial_backoff_s": 0.001, "multiplier": 2, "max_backoff_s": 0.004,
                  "jitter": 0, "max_retry_after_s": 0.02},
        "ollama": {"autodetect": False},
        "defaults": {"timeout_s": 10},
    })
