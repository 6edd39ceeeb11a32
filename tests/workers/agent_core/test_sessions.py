"""Session bounds (pure); loading and appending are covered end to end in test_loop."""

from __future__ import annotations

from workers.agent_core.sessions import bound


def turn(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]


def test_bound_keeps_the_newest_messages_and_starts_with_a_user() -> None:
    messages = [m for i in range(5) for m in turn(i)]
    assert bound(messages, 4) == turn(3) + turn(4)
    assert bound(messages, 3) == turn(4)  # would start with an assistant message: dropped
    assert bound(messages, 0) == []
    assert bound(messages, 100) == messages
