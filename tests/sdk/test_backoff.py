from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workers.sdk import Backoff


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [
        (0, 0.1),
        (1, 0.2),
        (2, 0.4),
        (3, 0.8),
        (4, 1.6),
        (5, 3.2),
        (6, 5.0),
        (50, 5.0),
        (10_000, 5.0),
    ],
)
def test_base_delay_doubles_up_to_the_cap(attempt: int, expected: float) -> None:
    assert Backoff(initial=0.1, maximum=5.0).base(attempt) == pytest.approx(expected)


def test_jitter_stays_within_bounds_and_is_reproducible() -> None:
    backoff = Backoff(initial=0.1, maximum=5.0, jitter=0.3)
    first = [backoff.delay(n, random.Random(42)) for n in range(10)]
    again = [backoff.delay(n, random.Random(42)) for n in range(10)]
    assert first == again
    for n, delay in enumerate(first):
        base = backoff.base(n)
        assert base * 0.7 <= delay <= base * 1.3


def test_a_seeded_sequence_is_a_pure_function_of_attempt_and_seed() -> None:
    backoff = Backoff(initial=1.0, maximum=30.0, jitter=0.5)
    draw = random.Random(7).uniform(-1, 1)
    assert backoff.delay(3, random.Random(7)) == pytest.approx(8.0 * (1 + 0.5 * draw))


def test_no_jitter_means_exact_delays() -> None:
    backoff = Backoff(initial=0.5, maximum=2.0, jitter=0.0)
    assert [backoff.delay(n, random.Random()) for n in range(4)] == [0.5, 1.0, 2.0, 2.0]


def test_zero_initial_never_waits() -> None:
    assert Backoff(initial=0.0, maximum=1.0).base(5000) == 0.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial": -1.0},
        {"initial": 2.0, "maximum": 1.0},
        {"jitter": 1.5},
        {"jitter": -0.1},
        {"multiplier": 0.5},
    ],
)
def test_invalid_backoffs_raise(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)


def test_negative_attempt_raises() -> None:
    with pytest.raises(ValueError):
        Backoff().base(-1)


@given(
    attempt=st.integers(min_value=0, max_value=10_000),
    seed=st.integers(),
    jitter=st.floats(min_value=0.0, max_value=1.0),
)
def test_delays_stay_within_the_jitter_band(attempt: int, seed: int, jitter: float) -> None:
    backoff = Backoff(initial=0.1, maximum=5.0, jitter=jitter)
    base = backoff.base(attempt)
    assert 0.0 < base <= 5.0
    delay = backoff.delay(attempt, random.Random(seed))
    assert base * (1 - jitter) - 1e-12 <= delay <= base * (1 + jitter) + 1e-12
