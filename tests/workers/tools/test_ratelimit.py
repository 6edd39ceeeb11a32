"""The sliding-window limiter, on a fake clock."""

from __future__ import annotations

import pytest

from workers.tools.ratelimit import SlidingWindow


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limit_per_window_per_key() -> None:
    clock = Clock()
    limiter = SlidingWindow(3, 60, clock=clock)
    assert [limiter.try_acquire_nowait("a") for _ in range(3)] == [None, None, None]
    assert limiter.try_acquire_nowait("a") == pytest.approx(60)
    assert limiter.try_acquire_nowait("b") is None
    clock.now += 30
    assert limiter.try_acquire_nowait("a") == pytest.approx(30)
    clock.now += 30
    assert limiter.try_acquire_nowait("a") is None
    assert limiter.statistics() == (2, 5, 2)


def test_the_key_table_is_bounded() -> None:
    clock = Clock()
    limiter = SlidingWindow(1, 60, max_keys=2, clock=clock)
    for key in ("a", "b", "c"):
        assert limiter.try_acquire_nowait(key) is None
    assert limiter.statistics().keys == 2
    assert limiter.try_acquire_nowait("c") is not None  # the newest history is kept


def test_expired_keys_go_before_live_ones() -> None:
    clock = Clock()
    limiter = SlidingWindow(1, 60, max_keys=2, clock=clock)
    limiter.try_acquire_nowait("old")
    clock.now += 61
    limiter.try_acquire_nowait("live")
    limiter.try_acquire_nowait("new")
    assert limiter.try_acquire_nowait("live") is not None  # still remembered


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        SlidingWindow(0, 60)
