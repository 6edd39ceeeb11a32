"""Memory in the agent turn: recall before the first model call, store the turn after the last.

An agent uses memory when its ``capabilities.memory_scopes`` is not empty and a
``memory::recall`` function is registered (the run's function listing says so; without the
memory worker the turn runs exactly as before).

* :func:`recall` asks ``memory::recall`` for the memories relevant to the newest user message
  (in every scope the agent may read; the memory worker enforces the scopes and the realm) and
  returns one system message listing them, placed after the system prompt.
* :func:`store_turn` stores the turn's user messages and the final answer in one
  ``memory::store`` call (scope ``self``, with the run's ``session_id``), when the agent's
  scopes allow ``self``.

Memory is an aid, not part of the answer: a failing or slow memory worker (each call has a
bound) is logged and the turn goes on without it, rather than failing the user's request.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

from workers.sdk import Context, InvocationError

from .spec import AgentRecord
from .tools import FunctionInfo

__all__ = ["RECALL", "STORE", "enabled", "recall", "store_turn"]

log = logging.getLogger(__name__)

RECALL = "memory::recall"
STORE = "memory::store"
RECALL_LIMIT = 5
MIN_SCORE = 0.3
"""Recalled memories scoring under this (0..1, see memory's ranking) are not shown to the model."""
MAX_CHARS = 1000
"""Characters of one recalled memory put in the prompt (the memory itself is whole)."""
MAX_QUERY_CHARS = 8000
TIMEOUT_S = 30.0


def enabled(agent: AgentRecord, functions: Sequence[FunctionInfo]) -> bool:
    """True when the agent has memory scopes and a memory worker serves ``memory::recall``."""
    return bool(agent.capabilities.memory_scopes) and any(f.function_id == RECALL for f in functions)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts: keep the text ones
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _may_store_self(globs: Sequence[str]) -> bool:
    return any(fnmatchcase("self", g) or g.startswith(("self.", "self:")) for g in globs)


async def recall(ctx: Context, agent: AgentRecord, functions: Sequence[FunctionInfo],
                 turn: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The system message of memories relevant to the turn (none when there are none)."""
    if not enabled(agent, functions):
        return []
    query = next((_text(m.get("content")) for m in reversed(turn) if m.get("role") == "user"), "")
    if not query.strip():
        return []
    payload = {"agent_id": agent.agent_id, "query": query[:MAX_QUERY_CHARS], "limit": RECALL_LIMIT,
               "min_score": MIN_SCORE}
    try:
        answer = await ctx.trigger(RECALL, payload, timeout=TIMEOUT_S)
    except InvocationError as exc:
        log.warning("%s: recall failed (%s); answering without memories", agent.agent_id, exc)
        return []
    memories = answer.get("memories") if isinstance(answer, dict) else None
    lines = []
    for m in memories or []:
        if not isinstance(m, dict) or not isinstance(m.get("content"), str):
            continue
        when = datetime.fromtimestamp(float(m.get("created_at") or 0), UTC).strftime("%Y-%m-%d")
        content = m["content"] if len(m["content"]) <= MAX_CHARS else m["content"][:MAX_CHARS] + "…"
        lines.append(f"- [{m.get('role') or m.get('kind') or 'note'}, {when}] {content}")
    if not lines:
        return []
    header = "Relevant memories from earlier conversations (most relevant first; they may be outdated):"
    return [{"role": "system", "content": header + "\n" + "\n".join(lines)}]


async def store_turn(ctx: Context, agent: AgentRecord, functions: Sequence[FunctionInfo],
                     session_id: str | None, turn: Sequence[dict[str, Any]], answer: str) -> None:
    """Store the turn's user messages and the answer as the agent's own memories."""
    if not enabled(agent, functions) or not _may_store_self(agent.capabilities.memory_scopes):
        return
    items = [{"content": text, "role": "user"} for m in turn if m.get("role") == "user"
             for text in [_text(m.get("content"))] if text.strip()]
    if answer.strip():
        items.append({"content": answer, "role": "assistant"})
    if not items:
        return
    payload: dict[str, Any] = {"agent_id": agent.agent_id, "items": items}
    if session_id:
        payload["session_id"] = session_id
    try:
        await ctx.trigger(STORE, payload, timeout=TIMEOUT_S)
    except InvocationError as exc:
        log.warning("%s: the turn was not stored in memory (%s)", agent.agent_id, exc)
