"""The epoch ticker: runs only while held, ticks on schedule, stops and joins when released."""

from __future__ import annotations

import threading

import pytest

from workers.wasm_sandbox.ticker import EpochTicker

WAIT_S = 5.0
"""Upper bound for a tick to arrive (a bound, not a synchronisation)."""


def test_ticks_only_while_held() -> None:
    ticked = threading.Event()
    ticker = EpochTicker(ticked.set, 0.001)
    assert ticker.statistics() == (0, False, 0)
    with ticker.hold():
        assert ticked.wait(WAIT_S)
        assert ticker.statistics().running
    stats = ticker.statistics()
    assert (stats.holders, stats.running, stats.starts) == (0, False, 1)
    ticked.clear()
    assert not ticked.is_set()


def test_nested_holders_share_one_thread() -> None:
    ticker = EpochTicker(lambda: None, 0.001)
    with ticker.hold(), ticker.hold():
        assert ticker.statistics().holders == 2
    with ticker.hold():
        pass
    assert ticker.statistics() == (0, False, 2)


def test_holders_in_many_threads() -> None:
    ticker = EpochTicker(lambda: None, 0.001)
    barrier = threading.Barrier(4)

    def hold() -> None:
        with ticker.hold():
            barrier.wait(WAIT_S)

    threads = [threading.Thread(target=hold) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT_S)
    assert ticker.statistics().holders == 0 and not ticker.statistics().running


def test_period_must_be_positive() -> None:
    with pytest.raises(ValueError):
        EpochTicker(lambda: None, 0)
