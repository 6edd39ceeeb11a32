"""The loop guard, from a table: no engine, no loop."""

from __future__ import annotations

import pytest

from workers.agent_core.guard import LoopGuard, Verdict, canonical


def test_identical_calls_run_then_are_refused_then_stop() -> None:
    guard = LoopGuard(max_repeats=3, stop_after=5)
    verdicts = [guard.check("m::add", {"a": 1, "b": 2}) for _ in range(3)]
    verdicts += [guard.check("m::add", {"b": 2, "a": 1}) for _ in range(2)]
    assert verdicts == [Verdict.RUN] * 3 + [Verdict.REFUSE, Verdict.STOP]
    assert guard.count("m::add", {"a": 1, "b": 2}) == 5
    assert guard.statistics() == (1, 5)


def test_different_arguments_or_functions_are_counted_apart() -> None:
    guard = LoopGuard(max_repeats=1, stop_after=2)
    assert guard.check("m::add", {"a": 1}) is Verdict.RUN
    assert guard.check("m::add", {"a": 2}) is Verdict.RUN
    assert guard.check("m::sub", {"a": 1}) is Verdict.RUN
    assert guard.check("m::add", {"a": 1}) is Verdict.STOP


def test_canonical_json_ignores_key_order_and_spacing() -> None:
    assert canonical({"b": [1, {"y": 1, "x": 2}], "a": "é"}) == '{"a":"é","b":[1,{"x":2,"y":1}]}'


@pytest.mark.parametrize(("repeats", "stop"), [(0, 5), (3, 3), (4, 2)])
def test_bad_limits_are_refused(repeats: int, stop: int) -> None:
    with pytest.raises(ValueError):
        LoopGuard(repeats, stop)
