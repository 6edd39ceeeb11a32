"""Usage counters: sums, filters, realm scoping, the bound on keys."""

from __future__ import annotations

import pytest

from workers.llm_router.usage import UsageBook


def book() -> UsageBook:
    usage = UsageBook(started_at=1000.0)
    usage.record("acme", "a1", "openai/gpt-4o-mini", prompt_tokens=10, completion_tokens=2, cost_usd=0.001)
    usage.record("acme", "a1", "openai/gpt-4o-mini", prompt_tokens=5, completion_tokens=1, cost_usd=0.0005)
    usage.record("acme", "a2", "openai/gpt-4o", prompt_tokens=100, completion_tokens=20, cost_usd=0.01)
    usage.record(None, None, "ollama_chat/llama3.2", prompt_tokens=7, completion_tokens=7, cost_usd=0.0)
    usage.record_error("acme", "a2", "default")
    return usage


def test_totals_and_per_model_sums() -> None:
    report = book().report()
    assert report["since"] == 1000.0
    assert report["totals"] == {"requests": 4, "errors": 1, "prompt_tokens": 122, "completion_tokens": 30,
                                "total_tokens": 152, "cost_usd": pytest.approx(0.0115)}
    assert report["by_model"]["openai/gpt-4o-mini"]["requests"] == 2
    assert report["by_model"]["openai/gpt-4o-mini"]["prompt_tokens"] == 15
    assert len(report["entries"]) == 4  # a1 + gpt-4o-mini is one key


@pytest.mark.parametrize(("filters", "requests", "errors"), [
    ({"realm": "acme"}, 3, 1),
    ({"agent_id": "a1"}, 2, 0),
    ({"model": "openai/gpt-4o"}, 1, 0),
    ({"realm": "acme", "agent_id": "a2"}, 1, 1),
    ({"realm": "nobody"}, 0, 0),
])
def test_filters(filters: dict[str, str], requests: int, errors: int) -> None:
    totals = book().report(**filters)["totals"]  # type: ignore[arg-type]
    assert (totals["requests"], totals["errors"]) == (requests, errors)


def test_only_realm_matches_the_absent_realm_exactly() -> None:
    report = book().report(realm=None, only_realm=True)
    assert [e["model"] for e in report["entries"]] == ["ollama_chat/llama3.2"]


def test_keys_are_bounded() -> None:
    usage = UsageBook(max_keys=2)
    for agent in ("a", "b", "c", "d"):
        usage.record("r", agent, "m", prompt_tokens=1, completion_tokens=1, cost_usd=0.0)
    report = usage.report()
    assert [(e["agent_id"], e["requests"]) for e in report["entries"]] == [("*", 2), ("a", 1), ("b", 1)]
    assert report["overflowed"] == 2 and report["totals"]["requests"] == 4
