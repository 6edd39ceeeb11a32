"""How memories are scored: recall ranking, importance and decay. Pure functions, no I/O.

Recall score
------------
Every candidate gets four components in ``[0, 1]``:

* ``cosine`` — similarity of its vector to the query's (negative similarity counts as 0);
* ``keyword`` — its BM25 score divided by the query's ceiling (the sum of the query terms'
  idf, see :meth:`~.bm25.BM25Index.ceiling`), capped at 1: about the share of the query it
  matches, 0 without a shared term;
* ``recency`` — ``0.5 ** (age / half_life)``;
* ``importance`` — the stored importance.

``score = Σ weight·component`` (:func:`combine`, vectorised), and :func:`explain` spells the same
numbers out for one result so a caller can see *why* it ranked where it did.

Importance and decay
--------------------
:func:`importance_of` is the heuristic of the seed (0.5 base; longer, assistant, code and
"error/fix/remember" texts matter more). :func:`decayed` lowers the importance of a memory idle
for longer than ``after_s``, by ``per_day`` per idle day since it last decayed, never under
``floor``; :func:`eviction_key` orders memories for eviction (least valuable first).
"""

from __future__ import annotations

import math
import re
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "WeightsLike",
    "combine",
    "decayed",
    "eviction_key",
    "explain",
    "importance_of",
    "recency",
]

DAY_S = 86_400.0
FloatArray = npt.NDArray[np.floating[Any]]

_SIGNAL = re.compile(
    r"\b(error|bug|fix(ed)?|critical|important|remember|always|never|prefer(s|red)?|deadline|"
    r"password|allerg\w*|birthday)\b",
    re.IGNORECASE,
)


class WeightsLike(Protocol):
    cosine: float
    keyword: float
    recency: float
    importance: float


def recency(age_s: FloatArray | float, half_life_s: float) -> Any:
    """``0.5 ** (age / half_life)``; a negative age (clock skew) counts as 0."""
    age = np.maximum(np.asarray(age_s, dtype=np.float64), 0.0)
    out = np.exp2(-age / half_life_s)
    return float(out) if out.ndim == 0 else out


def combine(
    cosine: FloatArray,
    keyword: FloatArray,
    recency_: FloatArray,
    importance: FloatArray,
    weights: WeightsLike,
) -> FloatArray:
    """The recall score of every candidate (arrays of one length; see the module docstring)."""
    cos = np.clip(cosine, 0.0, 1.0)
    total: FloatArray = weights.cosine * cos
    if weights.keyword:
        total = total + weights.keyword * keyword
    if weights.recency:
        total = total + weights.recency * recency_
    if weights.importance:
        total = total + weights.importance * importance
    return total


def explain(
    *, cosine: float, bm25: float, keyword: float, recency_: float, importance: float,
    weights: WeightsLike,
) -> dict[str, Any]:
    """Why one result scored what it did: raw components, weighted parts and the total."""
    parts = {
        "cosine": weights.cosine * min(max(cosine, 0.0), 1.0),
        "keyword": weights.keyword * keyword,
        "recency": weights.recency * recency_,
        "importance": weights.importance * importance,
    }
    return {
        "cosine": round(cosine, 6),
        "bm25": round(bm25, 6),
        "keyword": round(keyword, 6),
        "recency": round(recency_, 6),
        "importance": round(importance, 6),
        "weights": {"cosine": weights.cosine, "keyword": weights.keyword,
                    "recency": weights.recency, "importance": weights.importance},
        "weighted": {k: round(v, 6) for k, v in parts.items()},
        "score": round(sum(parts.values()), 6),
    }


def importance_of(content: str, role: str | None) -> float:
    """The importance a new memory starts with, in ``[0, 1]``.

    0.5, +0.1 for an assistant message, +0.1 over 500 characters, +0.15 when it mentions
    errors, fixes, preferences or something to remember, +0.1 with a code fence.
    """
    score = 0.5
    if role == "assistant":
        score += 0.1
    if len(content) > 500:
        score += 0.1
    if _SIGNAL.search(content):
        score += 0.15
    if "```" in content:
        score += 0.1
    return round(min(score, 1.0), 4)


def decayed(
    importance: float, *, last_active: float, decayed_at: float, now: float,
    after_s: float, per_day: float, floor: float,
) -> float:
    """The importance after decay up to ``now``.

    A memory decays only once it has been idle (no store, no recall) for ``after_s``; from then
    on it loses ``per_day`` (compounded) per day not yet accounted for by an earlier decay
    (``decayed_at``). It never drops below ``floor`` and never rises.
    """
    start = max(last_active + after_s, decayed_at)
    if now <= start or importance <= floor:
        return importance
    days = (now - start) / DAY_S
    value = importance * math.pow(1.0 - per_day, days)
    return max(floor, value)


def eviction_key(importance: float, last_active: float) -> tuple[float, float]:
    """Sort key for eviction: lower importance first, then longer idle first."""
    return (importance, last_active)
