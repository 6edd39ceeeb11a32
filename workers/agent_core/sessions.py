"""Session history: the text of earlier turns, kept in state scope ``sessions:<agent_id>``.

A session holds ``{"messages": [{role, content}...], "updated_at"}`` under its ``session_id``.
Only the conversation is kept — the user's messages and the agent's final answer of each turn —
not the tool traffic in between: it keeps sessions small and independent of the per-run tool
name table. The list is bounded (oldest messages dropped first, never leaving an assistant
message at the head).

Appending is a compare-and-set (``state::cas``) retried on conflict, so two runs finishing at
once on the same session both land. Reads and writes go through the run's context, so the
engine scopes them to the caller's realm.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from workers.sdk import Context

from .errors import Conflict

__all__ = ["bound", "load", "append", "scope_of"]

log = logging.getLogger(__name__)

KEPT_ROLES = ("user", "assistant")
CAS_ATTEMPTS = 5

Message = dict[str, Any]


def scope_of(agent_id: str) -> str:
    return f"sessions:{agent_id}"


def _clean(value: Any) -> list[Message]:
    """The well-formed messages of a stored session (anything else is skipped)."""
    raw = value.get("messages") if isinstance(value, dict) else None
    if not isinstance(raw, list):
        return []
    return [
        {"role": m["role"], "content": m["content"]}
        for m in raw
        if isinstance(m, dict) and m.get("role") in KEPT_ROLES and isinstance(m.get("content"), str)
    ]


def bound(messages: Sequence[Message], limit: int) -> list[Message]:
    """The newest ``limit`` messages, not starting with an assistant message. Pure."""
    kept = list(messages[-limit:]) if limit > 0 else []
    while kept and kept[0]["role"] != "user":
        kept.pop(0)
    return kept


async def load(ctx: Context, agent_id: str, session_id: str) -> list[Message]:
    """The stored messages of a session (empty for a new one)."""
    value = await ctx.trigger("state::get", {"scope": scope_of(agent_id), "key": session_id})
    return _clean(value)


async def append(
    ctx: Context,
    agent_id: str,
    session_id: str,
    new: Sequence[Message],
    *,
    limit: int,
    now: float,
) -> int:
    """Add a turn's messages to a session.

    Returns:
        The session's length afterwards.

    Raises:
        Conflict: the session kept changing under us (more than ``CAS_ATTEMPTS`` races).
    """
    turn = [
        {"role": m["role"], "content": m["content"]}
        for m in new
        if m.get("role") in KEPT_ROLES and isinstance(m.get("content"), str) and m["content"]
    ]
    scope = scope_of(agent_id)
    current = await ctx.trigger("state::get", {"scope": scope, "key": session_id})
    for _ in range(CAS_ATTEMPTS):
        messages = bound(_clean(current) + turn, limit)
        value = {"messages": messages, "updated_at": now}
        answer = await ctx.trigger(
            "state::cas", {"scope": scope, "key": session_id, "expected": current, "value": value}
        )
        if isinstance(answer, dict) and answer.get("ok"):
            return len(messages)
        current = answer.get("current") if isinstance(answer, dict) else None
    raise Conflict(f"session {session_id} of {agent_id} kept changing; turn not saved")
