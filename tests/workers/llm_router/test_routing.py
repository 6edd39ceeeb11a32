"""Routing is pure: complexity scores, tiers and alias choice, from tables."""

from __future__ import annotations

from typing import Any

import pytest

from workers.llm_router.config import RoutingSettings
from workers.llm_router.routing import Candidate, NoRoute, choose, complexity, preference, tier_of

SETTINGS = RoutingSettings()
CODE = "```python\ndef f(x):\n    return x\n```"


def user(content: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": content}]


@pytest.mark.parametrize(("messages", "tools", "tier"), [
    (user("hi!"), 0, "fast"),
    (user("thanks"), 0, "fast"),
    (user("What is the capital of France?"), 0, "fast"),
    (user("What is the capital of France?"), 3, "default"),
    (user("Refactor this:\n" + CODE), 0, "default"),
    (user("Design and implement a cache; analyze the trade-offs step by step"), 0, "default"),
    (user("Debug and refactor this, step by step:\n" + CODE + "\n" + "x" * 2000), 0, "reasoning"),
    (user("y" * 8000), 5, "reasoning"),
    (user([{"type": "text", "text": "debug this"}]), 0, "default"),
    ([{"role": "user", "content": "a"}] * 12, 0, "default"),
    ([{"role": "system", "content": "be brief"}], 0, "fast"),
    ([], 0, "fast"),
])
def test_complexity_tiers(messages: list[dict[str, Any]], tools: int, tier: str) -> None:
    score = complexity(messages, tools)
    assert 0 <= score <= 1
    assert tier_of(score, SETTINGS) == tier


def test_the_last_user_message_is_what_counts() -> None:
    long_then_short = [{"role": "user", "content": "design " * 500}, {"role": "assistant", "content": "ok"},
                       {"role": "user", "content": "thanks"}]
    assert tier_of(complexity(long_then_short), SETTINGS) == "fast"


@pytest.mark.parametrize(("score", "tier", "order"), [
    (0.0, "fast", ("fast", "default", "reasoning")),
    (0.29, "fast", ("fast", "default", "reasoning")),
    (0.3, "default", ("default", "reasoning", "fast")),
    (0.69, "default", ("default", "reasoning", "fast")),
    (0.7, "reasoning", ("reasoning", "default", "fast")),
    (1.0, "reasoning", ("reasoning", "default", "fast")),
])
def test_preference_by_tier(score: float, tier: str, order: tuple[str, ...]) -> None:
    assert preference(score, SETTINGS) == (tier, order)


def test_custom_tier_aliases_and_thresholds() -> None:
    settings = RoutingSettings(fast_alias="cheap", default_alias="std", reasoning_alias="big",
                               fast_below=0.1, reasoning_from=0.2)
    assert preference(0.15, settings) == ("default", ("std", "big", "cheap"))
    assert preference(0.25, settings)[0] == "reasoning"
    with pytest.raises(ValueError, match="fast_below"):
        RoutingSettings(fast_below=0.8, reasoning_from=0.5)


ALL = {
    "fast": Candidate("fast", 16_000, True),
    "default": Candidate("default", 128_000, True),
    "reasoning": Candidate("reasoning", 200_000, True),
}


@pytest.mark.parametrize(("score", "candidates", "needed", "tools", "alias"), [
    (0.1, ALL, 100, False, "fast"),
    (0.5, ALL, 100, False, "default"),
    (0.9, ALL, 100, False, "reasoning"),
    # too long for fast: the next bigger alias
    (0.1, ALL, 50_000, False, "default"),
    (0.1, ALL, 150_000, False, "reasoning"),
    # the tier's alias is not configured: its neighbours
    (0.9, {k: ALL[k] for k in ("fast", "default")}, 100, False, "default"),
    (0.1, {"reasoning": ALL["reasoning"]}, 100, False, "reasoning"),
    # tools: skip models known not to support them, prefer known support over unknown
    (0.1, {**ALL, "fast": Candidate("fast", 16_000, False)}, 100, True, "default"),
    (0.1, {"fast": Candidate("fast", 16_000, None), "default": ALL["default"]}, 100, True, "default"),
    (0.1, {"fast": Candidate("fast", 16_000, None)}, 100, True, "fast"),
    (0.1, {"fast": Candidate("fast", 16_000, False)}, 100, False, "fast"),
    # aliases outside the three tiers are candidates too, smallest window first
    (0.5, {"local": Candidate("local", 8_192, None), "huge": Candidate("huge", 1_000_000, True)}, 9_000,
     False, "huge"),
])
def test_choose(score: float, candidates: dict[str, Candidate], needed: int, tools: bool, alias: str) -> None:
    route = choose(score, SETTINGS, candidates, needed_tokens=needed, needs_tools=tools)
    assert route.alias == alias
    assert route.score == score


@pytest.mark.parametrize(("candidates", "needed", "tools", "why"), [
    ({}, 10, False, "none"),
    (ALL, 300_000, False, "context"),
    ({"fast": Candidate("fast", 16_000, False)}, 10, True, "tools"),
])
def test_no_route(candidates: dict[str, Candidate], needed: int, tools: bool, why: str) -> None:
    with pytest.raises(NoRoute) as caught:
        choose(0.5, SETTINGS, candidates, needed_tokens=needed, needs_tools=tools)
    assert caught.value.why == why
