"""The loop guard: stop a model that keeps making the same tool call.

Within one run, every tool call is keyed by ``(function_id, canonical arguments)`` (JSON with
sorted keys and no spaces, so ``{"a":1,"b":2}`` and ``{"b": 2, "a": 1}`` are the same call). The
first ``max_repeats`` calls with a key run; later ones are refused with a tool-result error telling
the model to change course; the ``stop_after``-th one ends the run with finish reason
``loop_detected``. Calls are counted in the order the model listed them, before any runs, so
parallel duplicates are judged deterministically. Pure: no I/O, no clock.
"""

from __future__ import annotations

import enum
import json
from typing import Any, NamedTuple

__all__ = ["GuardStatistics", "LoopGuard", "Verdict", "canonical"]


class Verdict(enum.Enum):
    RUN = "run"
    """Under the limit: make the call."""
    REFUSE = "refuse"
    """Repeated too often: answer the model with an error instead of calling."""
    STOP = "stop"
    """Refuse, and end the run with ``loop_detected`` once this turn's results are in."""


class GuardStatistics(NamedTuple):
    distinct_calls: int
    """How many different (function, arguments) keys were seen."""
    highest_repeat: int
    """The largest count of one key."""


def canonical(arguments: Any) -> str:
    """The arguments as canonical JSON (sorted keys, no whitespace)."""
    return json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


class LoopGuard:
    """Counts the calls of one run.

    Args:
        max_repeats: how many identical calls may run (default 3).
        stop_after: at which identical call the run stops (default 5).

    Raises:
        ValueError: ``max_repeats < 1`` or ``stop_after <= max_repeats``.
    """

    def __init__(self, max_repeats: int = 3, stop_after: int = 5) -> None:
        if max_repeats < 1 or stop_after <= max_repeats:
            raise ValueError("need 1 <= max_repeats < stop_after")
        self.max_repeats = max_repeats
        self.stop_after = stop_after
        self._counts: dict[tuple[str, str], int] = {}

    def check(self, function_id: str, arguments: Any) -> Verdict:
        """Count one call and say what to do with it. Call it once per call, in model order."""
        key = (function_id, canonical(arguments))
        count = self._counts.get(key, 0) + 1
        self._counts[key] = count
        if count >= self.stop_after:
            return Verdict.STOP
        if count > self.max_repeats:
            return Verdict.REFUSE
        return Verdict.RUN

    def count(self, function_id: str, arguments: Any) -> int:
        """How many times this call was checked so far."""
        return self._counts.get((function_id, canonical(arguments)), 0)

    def statistics(self) -> GuardStatistics:
        return GuardStatistics(len(self._counts), max(self._counts.values(), default=0))
