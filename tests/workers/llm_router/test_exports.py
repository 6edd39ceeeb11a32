"""The public surface of the llm-router package is pinned."""

from __future__ import annotations

import workers.llm_router as llm_router


def test_exports() -> None:
    assert sorted(llm_router.__all__) == sorted([
        "HTTP_STATUS", "BadRequest", "BudgetCheckFailed", "BudgetExceeded", "ForbiddenModel", "LlmConfig",
        "LlmConfigError", "LlmError", "LlmRouter", "ModelSpec", "NotConfigured", "StreamError",
        "UpstreamError", "build_config", "load_config", "main", "parse_config",
    ])
    for name in llm_router.__all__:
        assert getattr(llm_router, name) is not None


def test_error_codes_and_statuses() -> None:
    assert llm_router.HTTP_STATUS == {
        "llm_not_configured": 503, "llm_forbidden_model": 403, "llm_bad_request": 400,
        "budget_exceeded": 402, "llm_budget_check_failed": 503, "llm_stream_error": 502,
        "llm_upstream_error": 502,
    }
    error = llm_router.NotConfigured()
    assert error.code == "llm_not_configured"
    assert error.message == ("no LLM provider is configured: set OPENAI_API_KEY or add a model to llm.yaml "
                             "(aliases.default), or run Ollama on 127.0.0.1:11434")
