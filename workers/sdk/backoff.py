"""Reconnect delays: exponential backoff with jitter, as a pure function of the attempt number."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Backoff", "DEFAULT_RECONNECT"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait before reconnect attempt ``n``.

    The base delay is ``initial * multiplier**n`` capped at ``maximum``; jitter then moves it by up
    to ``±jitter`` of itself, so a fleet of workers does not reconnect in lockstep.

    Args:
        initial: the delay before the first retry, in seconds.
        maximum: the cap on the base delay, in seconds.
        jitter: the relative spread, in ``[0, 1]``.
        multiplier: the growth factor per attempt.

    Raises:
        ValueError: a negative delay, ``maximum < initial``, jitter outside ``[0, 1]`` or a
            multiplier below 1.
    """

    initial: float = 0.1
    maximum: float = 5.0
    jitter: float = 0.3
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if self.initial < 0 or self.maximum < self.initial:
            raise ValueError("backoff needs 0 <= initial <= maximum")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("backoff jitter must be within [0, 1]")
        if self.multiplier < 1.0:
            raise ValueError("backoff multiplier must be >= 1")

    def base(self, attempt: int) -> float:
        """The delay before attempt ``attempt`` (0-based) without jitter."""
        if attempt < 0:
            raise ValueError("attempt must be >= 0")
        if self.initial == 0:
            return 0.0
        try:
            grown = self.initial * self.multiplier**attempt
        except OverflowError:  # a very long outage: the power no longer fits in a float
            grown = float("inf")
        return min(self.maximum, grown)

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The delay before attempt ``attempt`` (0-based), jittered with ``rng``.

        Pure apart from drawing one number from ``rng``: a seeded ``random.Random`` gives a
        reproducible sequence.
        """
        base = self.base(attempt)
        return max(0.0, base * (1.0 + self.jitter * rng.uniform(-1.0, 1.0)))


DEFAULT_RECONNECT = Backoff(initial=0.1, maximum=5.0, jitter=0.3)
"""The reconnect backoff ``connect()`` uses unless told otherwise (immutable, so safe to share)."""
