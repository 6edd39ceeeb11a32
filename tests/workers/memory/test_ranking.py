"""ranking: the hybrid score, its explanation, importance, decay. Pure, from tables."""

from __future__ import annotations

import numpy as np
import pytest

from workers.memory.config import Weights
from workers.memory.ranking import (
    DAY_S,
    combine,
    decayed,
    eviction_key,
    explain,
    importance_of,
    recency,
)

W = Weights()


@pytest.mark.parametrize(("age_days", "half_life", "expected"), [
    (0, 7, 1.0), (7, 7, 0.5), (14, 7, 0.25), (-3, 7, 1.0), (1, 1, 0.5),
])
def test_recency(age_days: float, half_life: float, expected: float) -> None:
    assert recency(age_days * DAY_S, half_life * DAY_S) == pytest.approx(expected)


@pytest.mark.parametrize(("cos", "kw", "rec", "imp", "expected"), [
    (1.0, 1.0, 1.0, 1.0, 1.0),
    (0.5, 0.0, 1.0, 0.5, 0.3 + 0.1 + 0.05),
    (-0.4, 0.0, 0.0, 0.0, 0.0),  # negative similarity counts as none
    (0.8, 0.5, 0.5, 0.2, 0.48 + 0.1 + 0.05 + 0.02),
])
def test_combine(cos: float, kw: float, rec: float, imp: float, expected: float) -> None:
    arr = lambda v: np.array([v], dtype=np.float64)  # noqa: E731
    assert combine(arr(cos), arr(kw), arr(rec), arr(imp), W)[0] == pytest.approx(expected)


def test_combine_ignores_zero_weights() -> None:
    w = Weights(cosine=1.0, keyword=0.0, recency=0.0, importance=0.0)
    out = combine(np.array([0.3]), np.array([9.0]), np.array([9.0]), np.array([9.0]), w)
    assert out[0] == pytest.approx(0.3)


def test_explain_adds_up() -> None:
    why = explain(cosine=0.7, bm25=3.2, keyword=0.5, recency_=0.25, importance=0.6, weights=W)
    assert why["weighted"] == {"cosine": 0.42, "keyword": 0.1, "recency": 0.025, "importance": 0.06}
    assert why["score"] == pytest.approx(0.605)
    assert why["bm25"] == 3.2


@pytest.mark.parametrize(("content", "role", "expected"), [
    ("hello", "user", 0.5),
    ("hello", "assistant", 0.6),
    ("x" * 501, "user", 0.6),
    ("Remember: I prefer tea", "user", 0.65),
    ("the bug is fixed", None, 0.65),
    ("```py\nprint(1)\n```", "assistant", 0.7),
    ("Critical error! " + "```" + "x" * 600, "assistant", 0.95),
])
def test_importance_of(content: str, role: str | None, expected: float) -> None:
    assert importance_of(content, role) == pytest.approx(expected)


@pytest.mark.parametrize(("importance", "idle_days", "decayed_days_ago", "expected"), [
    (0.8, 3, None, 0.8),                 # not idle long enough
    (0.8, 7, None, 0.8),                 # exactly at the threshold
    (0.8, 8, None, 0.8 * 0.98),          # one idle day past the threshold
    (0.8, 17, None, 0.8 * 0.98 ** 10),
    (0.8, 17, 2, 0.8 * 0.98 ** 2),       # only the days since the last decay count
    (0.11, 400, None, 0.1),              # never under the floor
    (0.05, 400, None, 0.05),             # already under the floor: unchanged
])
def test_decayed(importance: float, idle_days: float, decayed_days_ago: float | None, expected: float) -> None:
    now = 1000 * DAY_S
    last = now - idle_days * DAY_S
    at = now - decayed_days_ago * DAY_S if decayed_days_ago is not None else 0.0
    got = decayed(importance, last_active=last, decayed_at=at, now=now,
                  after_s=7 * DAY_S, per_day=0.02, floor=0.1)
    assert got == pytest.approx(expected)


def test_eviction_order_is_least_important_then_longest_idle() -> None:
    items = [(0.5, 10.0), (0.2, 50.0), (0.2, 5.0), (0.9, 1.0)]
    assert sorted(items, key=lambda t: eviction_key(*t)) == [(0.2, 5.0), (0.2, 50.0), (0.5, 10.0), (0.9, 1.0)]
