"""A sliding-window rate limiter with a bounded key table and an injectable clock (pure).

``try_acquire_nowait(key)`` admits at most ``limit`` events per ``window_s`` per key. The key
table holds at most ``max_keys`` keys: past that, keys whose window is empty go first, then the
least recently used one (which, at worst, forgets one key's history — it never refuses an
unrelated caller). Per process: a second tools worker keeps its own counts.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from typing import NamedTuple

__all__ = ["LimiterStatistics", "SlidingWindow"]


class LimiterStatistics(NamedTuple):
    keys: int
    admitted: int
    refused: int


class SlidingWindow:
    """At most ``limit`` events per ``window_s`` seconds per key.

    Args:
        clock: monotonic seconds.
    """

    def __init__(self, limit: int, window_s: float, *, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1 or window_s <= 0 or max_keys < 1:
            raise ValueError("limit and max_keys must be >= 1 and window_s > 0")
        self.limit, self.window_s, self.max_keys, self.clock = limit, window_s, max_keys, clock
        self._events: OrderedDict[Hashable, deque[float]] = OrderedDict()
        self._admitted = self._refused = 0

    def try_acquire_nowait(self, key: Hashable) -> float | None:
        """Record an event for ``key`` if allowed.

        Returns:
            None if admitted, else the seconds until the next event would be.
        """
        now = self.clock()
        events = self._events.get(key)
        if events is None:
            self._make_room(now)
            events = self._events[key] = deque()
        self._events.move_to_end(key)
        while events and events[0] <= now - self.window_s:
            events.popleft()
        if len(events) >= self.limit:
            self._refused += 1
            return events[0] + self.window_s - now
        events.append(now)
        self._admitted += 1
        return None

    def _make_room(self, now: float) -> None:
        if len(self._events) < self.max_keys:
            return
        for key in [k for k, ev in self._events.items() if not ev or ev[-1] <= now - self.window_s]:
            del self._events[key]
        while len(self._events) >= self.max_keys:
            self._events.popitem(last=False)

    def statistics(self) -> LimiterStatistics:
        return LimiterStatistics(len(self._events), self._admitted, self._refused)
