"""Routing: pick an alias for a conversation. Pure — no I/O, no litellm, no clock.

Theory of operation
-------------------
:func:`complexity` scores a conversation from 0 (a greeting) to 1 (a long, code-heavy design
question with many tools) from cheap signals: the length of the last user message, code, words
that ask for analysis, the number of tools and of turns. :func:`preference` turns the score into
an ordered list of aliases — the tier's own alias first, then its neighbours — using the
thresholds of :class:`~workers.llm_router.config.RoutingSettings`.

:func:`choose` walks that list over the *candidates* (aliases that are configured, usable and
allowed for the caller's realm, each described by its primary model) and returns the first whose
context window holds the conversation and, when tools are given, whose model is not known to lack
tool support. If no candidate fits, it says why (:class:`NoRoute`).

The caller (the worker) estimates tokens with litellm and builds the candidates from the
catalog; everything here is tested from tables.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .config import RoutingSettings

__all__ = ["Candidate", "NoRoute", "Route", "choose", "complexity", "preference", "tier_of"]

Tier = Literal["fast", "default", "reasoning"]

_KEYWORDS = re.compile(
    r"\b(analy[sz]\w*|architect\w*|design\w*|implement\w*|refactor\w*|debug\w*|optimi[sz]\w*|"
    r"prove|proof|compare|trade-?offs?|step[- ]by[- ]step|plan|reason\w*|algorithm\w*)\b",
    re.IGNORECASE,
)
_CODE = re.compile(r"```|\bdef \w+\(|\bclass \w+[:(]|\bfunction \w+\(|=>|#include|\bSELECT\b.+\bFROM\b",
                   re.IGNORECASE | re.DOTALL)
_SMALL_TALK = re.compile(r"^\s*(hi|hello|hey|thanks|thank you|ok|okay|yes|no|bye)\b[\s!.?]*$",
                         re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Candidate:
    """An alias routing may pick, described by the primary model of its chain."""

    alias: str
    context_window: int
    supports_tools: bool | None


@dataclass(frozen=True, slots=True)
class Route:
    """The pick: ``alias``, the ``tier`` the score asked for, and why."""

    alias: str
    tier: Tier
    score: float
    reason: str


class NoRoute(ValueError):
    """No candidate can take the conversation.

    Attributes:
        why: ``none`` (no candidate at all), ``context`` (too long for every window) or
            ``tools`` (tools given, every model known to lack tool support).
    """

    def __init__(self, why: Literal["none", "context", "tools"], message: str) -> None:
        super().__init__(message)
        self.why = why


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def complexity(messages: Sequence[Mapping[str, Any]], tool_count: int = 0) -> float:
    """Score how demanding a conversation is, in [0, 1].

    Args:
        messages: OpenAI chat messages; the last user message weighs most.
        tool_count: how many tools the model is offered.

    Returns:
        0.25 for a plain short question, less for small talk, more for length (up to +0.3),
        code (+0.15), analysis words (+0.1 each, up to +0.3), tools (+0.03 each, up to +0.15)
        and a long conversation (+0.1 beyond 10 messages).
    """
    last = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    text = _text(last.get("content")) if last is not None else ""
    score = 0.25
    if _SMALL_TALK.match(text):
        score -= 0.2
    score += min(len(text) / 4000, 0.3)
    if _CODE.search(text):
        score += 0.15
    score += min(0.1 * len(_KEYWORDS.findall(text)), 0.3)
    score += min(0.03 * tool_count, 0.15)
    if len(messages) > 10:
        score += 0.1
    return round(min(max(score, 0.0), 1.0), 3)


def tier_of(score: float, settings: RoutingSettings) -> Tier:
    """The tier a score asks for: below ``fast_below`` fast, from ``reasoning_from`` reasoning."""
    if score < settings.fast_below:
        return "fast"
    if score >= settings.reasoning_from:
        return "reasoning"
    return "default"


def preference(score: float, settings: RoutingSettings) -> tuple[Tier, tuple[str, ...]]:
    """The tier for ``score`` and the aliases to try, best first.

    A tier prefers its own alias, then the next bigger one, then the remaining one.
    """
    fast, default, reasoning = settings.tier_aliases
    tier = tier_of(score, settings)
    order = {"fast": (fast, default, reasoning), "default": (default, reasoning, fast),
             "reasoning": (reasoning, default, fast)}[tier]
    return tier, tuple(dict.fromkeys(order))


def choose(score: float, settings: RoutingSettings, candidates: Mapping[str, Candidate], *,
           needed_tokens: int, needs_tools: bool) -> Route:
    """Pick the alias for a conversation.

    Args:
        score: its :func:`complexity`.
        settings: the tier aliases and thresholds.
        candidates: usable, allowed aliases by name.
        needed_tokens: estimated prompt tokens plus the requested completion budget.
        needs_tools: tools are offered.

    Returns:
        The first preferred alias that fits; if none of the tier aliases is a candidate, the
        fitting candidate with the smallest context window.

    Raises:
        NoRoute: no candidate, or none fits (context or tools).
    """
    if not candidates:
        raise NoRoute("none", "no usable model alias")
    tier, order = preference(score, settings)
    ordered = [candidates[a] for a in order if a in candidates]
    ordered += sorted((c for a, c in candidates.items() if a not in order), key=lambda c: c.context_window)
    with_tools = [c for c in ordered if not needs_tools or c.supports_tools is not False]
    if not with_tools:
        raise NoRoute("tools", "tools were given but no usable model supports tool calls")
    fitting = [c for c in with_tools if c.context_window >= needed_tokens]
    if not fitting:
        biggest = max(c.context_window for c in with_tools)
        raise NoRoute("context", f"the conversation needs ~{needed_tokens} tokens; the largest "
                                 f"usable context window is {biggest}")
    # Known tool support beats unknown when tools matter.
    pick = next((c for c in fitting if c.supports_tools), fitting[0]) if needs_tools else fitting[0]
    reason = f"complexity {score} → {tier}"
    if pick.alias != (order[0] if order else None):
        reason += f"; using {pick.alias}"
    return Route(pick.alias, tier, score, reason)
