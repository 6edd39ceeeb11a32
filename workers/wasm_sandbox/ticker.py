"""The epoch ticker: one thread that advances a wasmtime engine's epoch every period.

Why a thread: wasm runs in worker threads with the GIL released (wasmtime-py calls through
ctypes), and the deadline must hold even when the event loop is busy, so the clock that stops a
guest cannot live on the loop. Why refcounted: the thread runs only while at least one
execution holds it (:meth:`EpochTicker.hold`), so an idle sandbox has no thread to leak or shut
down, and a worker built from it needs no lifecycle hook. The first holder starts the thread,
the last one stops and joins it.

Ticks follow an absolute schedule (``start + k * period``), so waiting overhead does not
accumulate: a deadline of ``n`` ticks fires between ``(n - 1)`` and ``n`` periods after it was
set (the first tick comes anywhere within one period), plus scheduling noise.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

__all__ = ["EpochTicker", "TickerStatistics"]


class TickerStatistics(NamedTuple):
    holders: int
    """Executions holding the ticker now."""
    running: bool
    """Whether the ticker thread is alive."""
    starts: int
    """Times the thread was started so far."""


class EpochTicker:
    """Calls ``increment`` every ``period_s`` while held.

    Args:
        increment: what a tick does (``engine.increment_epoch``); must not raise.
        period_s: seconds between ticks.
        clock: monotonic seconds (the schedule).
    """

    def __init__(
        self,
        increment: Callable[[], None],
        period_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not period_s > 0:
            raise ValueError(f"period_s must be > 0, got {period_s!r}")
        self.increment = increment
        self.period_s = period_s
        self.clock = clock
        self._lock = threading.Lock()
        self._holders = 0
        self._starts = 0
        self._thread: threading.Thread | None = None
        self._stop: threading.Event | None = None

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Keep the ticker running for the duration of the block (any thread may hold it)."""
        with self._lock:
            self._holders += 1
            if self._holders == 1:
                self._start()
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if self._holders == 0:
                    self._stop_and_join()

    def statistics(self) -> TickerStatistics:
        with self._lock:
            alive = self._thread is not None and self._thread.is_alive()
            return TickerStatistics(self._holders, alive, self._starts)

    def _start(self) -> None:
        stop = threading.Event()
        thread = threading.Thread(target=self._run, args=(stop,), name="wasm-epoch", daemon=True)
        self._stop, self._thread = stop, thread
        self._starts += 1
        thread.start()

    def _stop_and_join(self) -> None:
        assert self._stop is not None and self._thread is not None
        self._stop.set()
        self._thread.join()
        self._stop = self._thread = None

    def _run(self, stop: threading.Event) -> None:
        due = self.clock()
        while True:
            due += self.period_s
            if stop.wait(max(0.0, due - self.clock())):
                return
            self.increment()
