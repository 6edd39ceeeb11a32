"""Per-key rate limiting: one token bucket per API key, in this api process. Pure: time is a parameter.

Theory of operation
-------------------
Each key (a hash of the request's ``Authorization`` header; the realm, or ``anonymous``, when
there is none) owns a bucket of ``burst`` tokens refilled at ``per_minute / 60`` tokens a second.
A request takes one token; an empty bucket refuses it and says when the next token is due (the
``Retry-After`` of the 429). Buckets are created full on a key's first request.

The state lives in the api worker's process: with several api processes, each enforces the limit
on its own, so a key may get up to N times ``per_minute`` in total. The table is bounded: past
``max_keys`` keys the least recently seen bucket is forgotten (that key starts full again the next
time; :meth:`RateLimiter.statistics` counts such evictions).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["Decision", "LimiterStatistics", "RateLimiter", "key_of"]


def key_of(authorization: str | None, realm: str | None) -> str:
    """The bucket key of a request: a hash of its credential, never the credential itself."""
    if authorization:
        return "k:" + hashlib.sha256(authorization.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"r:{realm}" if realm else "anonymous"


class Decision(NamedTuple):
    allowed: bool
    remaining: int
    """Whole tokens left after this request."""
    retry_after: float
    """Seconds until a token is available (0 when allowed)."""


class LimiterStatistics(NamedTuple):
    keys: int
    """Buckets held now."""
    allowed: int
    refused: int
    evicted: int
    """Buckets forgotten because the table was full."""


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token buckets keyed by :func:`key_of`.

    Args:
        per_minute: tokens a key regains per minute; 0 disables limiting.
        burst: the bucket's size (default: ``per_minute``, at least 1).
        max_keys: buckets kept at most (least recently used forgotten first).

    Raises:
        ValueError: a negative rate, or a size below 1.
    """

    def __init__(self, per_minute: float, burst: int | None = None, *, max_keys: int = 10_000) -> None:
        if per_minute < 0:
            raise ValueError(f"per_minute must be >= 0, got {per_minute!r}")
        self.per_minute = per_minute
        self.burst = burst if burst is not None else max(1, int(per_minute))
        if self.burst < 1 or max_keys < 1:
            raise ValueError("burst and max_keys must be >= 1")
        self.max_keys = max_keys
        self._rate = per_minute / 60.0
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._allowed = self._refused = self._evicted = 0

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def take(self, key: str, now: float) -> Decision:
        """Spend one token of ``key``'s bucket at monotonic time ``now``, if there is one.

        Returns:
            Whether the request may go ahead, what is left, and when to retry if not.
        """
        if not self.enabled:
            self._allowed += 1
            return Decision(True, self.burst, 0.0)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
                self._evicted += 1
        else:
            self._buckets.move_to_end(key)
            elapsed = max(0.0, now - bucket.at)
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self._rate)
            bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            self._allowed += 1
            return Decision(True, int(bucket.tokens), 0.0)
        self._refused += 1
        return Decision(False, 0, (1.0 - bucket.tokens) / self._rate)

    def statistics(self) -> LimiterStatistics:
        return LimiterStatistics(len(self._buckets), self._allowed, self._refused, self._evicted)
