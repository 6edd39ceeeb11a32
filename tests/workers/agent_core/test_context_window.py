"""Token estimates and trimming: pure."""

from __future__ import annotations

from typing import Any

from workers.agent_core.context_window import estimate_tokens, fit, message_tokens


def msg(role: str, chars: int, **extra: Any) -> dict[str, Any]:
    return {"role": role, "content": "x" * chars, **extra}


def tool_round(call_id: str, chars: int) -> list[dict[str, Any]]:
    call = {"id": call_id, "type": "function", "function": {"name": "t", "arguments": "{}"}}
    return [{"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call_id, "content": "y" * chars}]


def test_estimates_count_text_calls_and_tools() -> None:
    assert message_tokens(msg("user", 8)) == 2 + 4
    assert message_tokens(msg("user", 9)) == 3 + 4
    assert message_tokens(tool_round("c", 0)[0]) == 1 + 4  # "t" + "{}" = 3 chars
    assert estimate_tokens([msg("user", 8)], tools=[{"a": 1}]) == 6 + 3  # '[{"a": 1}]'


def test_nothing_is_dropped_under_budget() -> None:
    messages = [msg("system", 40), msg("user", 40)]
    assert fit(messages, 1000) == (messages, 0)


def test_oldest_turns_go_first_and_tool_pairs_stay_together() -> None:
    system = msg("system", 400)
    old = [msg("user", 400), *tool_round("c1", 4000), msg("assistant", 400)]
    new = [msg("user", 40)]
    kept, dropped = fit([system, *old, *new], budget=400)
    assert kept == [system, old[-1], new[0]]  # 104 + 104 + 14 tokens: fits after 3 drops
    assert dropped == 3
    # no tool result is ever left without the call it answers
    for i, m in enumerate(kept):
        if m["role"] == "tool":
            assert kept[i - 1].get("tool_calls")


def test_a_tool_round_in_progress_is_never_dropped() -> None:
    messages = [msg("system", 10), msg("user", 4000), *tool_round("c1", 8000)]
    kept, dropped = fit(messages, budget=100)
    assert [m["role"] for m in kept] == ["system", "assistant", "tool"]
    assert dropped == 1


def test_when_nothing_more_can_go_the_prompt_is_sent_as_is() -> None:
    messages = [msg("system", 4000), msg("user", 4000)]
    assert fit(messages, budget=10) == (messages, 0)
