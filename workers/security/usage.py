"""Token budgets: a sliding one-hour window of per-minute counters, per agent.

The record of an agent lives in state scope ``security:usage`` (key: agent id) as
``{"b": {"<minute>": tokens}}`` where ``<minute>`` is ``int(epoch // 60)``. ``record`` adds with an
atomic ``state::update`` increment, so concurrent recorders never lose tokens, and drops the
buckets that left the window in the same update. The window sums the buckets of the last 60
minutes, the current one included, so a burst is forgotten between 59 and 60 minutes later.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workers.sdk import Context

from . import _state

__all__ = ["BUCKET_S", "USAGE_SCOPE", "WINDOW_BUCKETS", "buckets_of", "record_tokens", "stale",
           "used_tokens", "used_in_window"]

USAGE_SCOPE = "security:usage"
BUCKET_S = 60
WINDOW_BUCKETS = 60


def _minute(now: float) -> int:
    return int(now // BUCKET_S)


def buckets_of(record: Any) -> dict[str, int]:
    """The buckets of a stored record (anything malformed counts as empty)."""
    buckets = record.get("b") if isinstance(record, dict) else None
    if not isinstance(buckets, dict):
        return {}
    return {k: v for k, v in buckets.items()
            if isinstance(k, str) and k.isdigit() and isinstance(v, int) and not isinstance(v, bool)}


def used_in_window(buckets: Mapping[str, int], now: float) -> int:
    """Tokens recorded in the hour up to ``now``."""
    oldest = _minute(now) - WINDOW_BUCKETS
    return sum(v for k, v in buckets.items() if int(k) > oldest)


def stale(buckets: Mapping[str, int], now: float) -> list[str]:
    """The buckets that left the window."""
    oldest = _minute(now) - WINDOW_BUCKETS
    return [k for k in buckets if int(k) <= oldest]


async def used_tokens(ctx: Context, agent_id: str, now: float) -> int:
    """Tokens ``agent_id`` used in the hour up to ``now`` (in the caller's realm)."""
    return used_in_window(buckets_of(await _state.get(ctx, USAGE_SCOPE, agent_id)), now)


async def record_tokens(ctx: Context, agent_id: str, tokens: int, now: float) -> int:
    """Add ``tokens`` to the current bucket; returns the tokens used in the window after it."""
    ops: list[dict[str, Any]] = [{"type": "increment", "path": ["b", str(_minute(now))], "by": tokens}]
    buckets = buckets_of(await _state.update(ctx, USAGE_SCOPE, agent_id, ops))
    old = stale(buckets, now)
    if old:  # removing an absent path is a no-op, so racing recorders cannot lose increments
        await _state.update(ctx, USAGE_SCOPE, agent_id,
                            [{"type": "remove", "path": ["b", k]} for k in old])
    return used_in_window(buckets, now)
