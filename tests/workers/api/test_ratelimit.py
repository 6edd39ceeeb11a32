"""Token buckets, driven by a clock the test holds."""

from __future__ import annotations

import pytest

from workers.api import RateLimiter
from workers.api.ratelimit import key_of


def test_a_bucket_empties_then_refills_at_the_rate() -> None:
    limiter = RateLimiter(per_minute=60, burst=3)
    assert [limiter.take("k", 0.0).allowed for _ in range(4)] == [True, True, True, False]
    refused = limiter.take("k", 0.0)
    assert not refused.allowed and refused.retry_after == pytest.approx(1.0)
    assert limiter.take("k", 0.5).allowed is False
    assert limiter.take("k", 1.0).allowed is True
    assert limiter.take("k", 100.0).remaining == 2  # refilled to the brim, minus this one
    assert limiter.statistics().refused == 3


def test_keys_are_independent_and_the_table_is_bounded() -> None:
    limiter = RateLimiter(per_minute=1, burst=1, max_keys=2)
    assert limiter.take("a", 0).allowed and limiter.take("b", 0).allowed
    assert not limiter.take("a", 0).allowed
    assert limiter.take("c", 0).allowed  # evicts b, the least recently used
    stats = limiter.statistics()
    assert (stats.keys, stats.evicted) == (2, 1)
    assert not limiter.take("a", 0).allowed  # a was kept


def test_zero_disables_and_bad_settings_raise() -> None:
    assert all(RateLimiter(0).take("k", 0).allowed for _ in range(1000))
    with pytest.raises(ValueError):
        RateLimiter(-1)
    with pytest.raises(ValueError):
        RateLimiter(10, burst=0)


def test_keys_hide_the_credential() -> None:
    key = key_of("Bearer sk-secret", "acme")
    assert "sk-secret" not in key and key == key_of("Bearer sk-secret", None)
    assert key_of(None, "acme") == "r:acme" and key_of(None, None) == "anonymous"
