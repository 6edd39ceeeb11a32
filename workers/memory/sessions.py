"""Sessions: which memories make up a conversation, and compacting old turns into a summary.

A session is the state value ``memory_sessions:<agent_id>`` / ``<session_id>``::

    {session_id, refs: [{id, role, scope, ts}…], updated_at}

``memory::store`` with a ``session_id`` appends one reference per stored item (a deduplicated
item is referenced again: the turn did happen). ``memory::session::get`` resolves references to
the items (following consolidation merges); a forgotten item is reported in ``missing``.

``memory::session::compact`` summarises every reference but the last ``keep_last`` through
``llm::complete`` (in pieces of ``chunk_chars`` when long, then a summary of the summaries),
stores the summary as one ``summary`` item (importance 0.9) and swaps the old references for
it with a compare-and-set, so turns appended meanwhile are kept. The old items stay in memory
(recall may still find them; consolidation ages them out). If the swap loses to another
compaction, the summary is forgotten again and ``conflict`` is answered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field

from workers.sdk import Context

from .config import SessionConfig
from .errors import Conflict, LlmBadResponse, NotFound
from .items import Item, new_id
from .requests import AgentId, Request, SessionId
from .scopes import AgentAccess, allowed, canonical_scope, partition_of
from .storage import StateClient
from .store import MemoryStore, NewItem

__all__ = ["CompactRequest", "SessionRequest", "Sessions", "add_refs", "scope_of"]

CAS_ATTEMPTS = 5
SUMMARY_IMPORTANCE = 0.9
PROMPT = ("You compress conversation history for an assistant's long-term memory. Summarise the "
          "conversation below in a few short paragraphs: keep facts, decisions, preferences, "
          "names, numbers and open questions; drop pleasantries. Plain text, no preamble.")


def scope_of(agent_id: str) -> str:
    return f"memory_sessions:{agent_id}"


class SessionRequest(Request):
    agent_id: AgentId
    session_id: SessionId | None = None
    limit: int | None = Field(default=None, ge=1, le=1000)


class CompactRequest(Request):
    agent_id: AgentId
    session_id: SessionId
    keep_last: int | None = Field(default=None, ge=0, le=1000)
    model: str | None = Field(default=None, min_length=1, max_length=200)


async def add_refs(ctx: Context, agent_id: str, session_id: str, refs: Sequence[dict[str, Any]],
                   now: float) -> None:
    """Append ``refs`` to a session (one atomic update)."""
    ops: list[dict[str, Any]] = [{"type": "append", "path": ["refs"], "value": r} for r in refs]
    ops += [{"type": "set", "path": ["session_id"], "value": session_id},
            {"type": "set", "path": ["updated_at"], "value": now}]
    await StateClient(ctx).update(scope_of(agent_id), session_id, ops)


class Sessions:
    def __init__(self, store: MemoryStore, config: SessionConfig) -> None:
        self.store, self.config = store, config

    async def list_sessions(self, ctx: Context, access: AgentAccess) -> dict[str, Any]:
        """``memory::session::list``: the agent's sessions, most recently updated first."""
        values = await StateClient(ctx).list(scope_of(access.agent_id))
        sessions = [
            {"session_id": v.get("session_id"), "messages": len(v.get("refs") or []),
             "summaries": sum(1 for r in v.get("refs") or [] if r.get("role") == "summary"),
             "updated_at": v.get("updated_at")}
            for v in values if isinstance(v, dict) and v.get("session_id")
        ]
        sessions.sort(key=lambda s: -(s["updated_at"] or 0))
        return {"agent_id": access.agent_id, "sessions": sessions}

    async def _read(self, ctx: Context, agent_id: str, session_id: str) -> dict[str, Any]:
        value = await StateClient(ctx).get(scope_of(agent_id), session_id)
        if not isinstance(value, dict):
            raise NotFound(f"agent {agent_id} has no session {session_id!r}")
        return value

    async def _resolve(self, ctx: Context, access: AgentAccess,
                       refs: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], Item | None]]:
        out = []
        for ref in refs:
            scope = canonical_scope(str(ref.get("scope", "self")))
            item = None
            if allowed(scope, access.globs):
                part = await self.store.partition(ctx, partition_of(access.agent_id, scope))
                item = part.resolve(str(ref.get("id")))
            out.append((ref, item))
        return out

    async def get(self, ctx: Context, access: AgentAccess, session_id: str,
                  limit: int | None) -> dict[str, Any]:
        """``memory::session::get``: the session's items in order (the last ``limit``)."""
        value = await self._read(ctx, access.agent_id, session_id)
        refs = list(value.get("refs") or [])
        if limit is not None:
            refs = refs[-limit:]
        messages, missing = [], []
        for ref, item in await self._resolve(ctx, access, refs):
            if item is None:
                missing.append(ref.get("id"))
                continue
            messages.append({**item.public(str(ref.get("scope", "self"))), "ts": ref.get("ts")})
        return {"agent_id": access.agent_id, "session_id": session_id, "messages": messages,
                "missing": missing, "updated_at": value.get("updated_at")}

    async def compact(self, ctx: Context, access: AgentAccess, request: CompactRequest) -> dict[str, Any]:
        """``memory::session::compact`` (see the module docstring).

        Raises:
            NotFound: no such session. Conflict: another compaction won the race.
            LlmBadResponse, InvocationError: ``llm::complete`` failed (nothing changed).
        """
        partition = access.check("self")
        keep = self.config.keep_last if request.keep_last is None else request.keep_last
        value = await self._read(ctx, access.agent_id, request.session_id)
        refs = list(value.get("refs") or [])
        old = refs[: len(refs) - keep] if keep else refs
        result: dict[str, Any] = {"session_id": request.session_id, "compacted": 0,
                                  "kept": len(refs) - len(old), "summary_id": None}
        if len(old) < 2:
            result["kept"] = len(refs)
            return result
        lines = [f"{item.role or ref.get('role') or 'note'}: {item.content}"
                 for ref, item in await self._resolve(ctx, access, old) if item is not None]
        summary = await self._summarise(ctx, lines, request.model or self.config.model)
        part = await self.store.partition(ctx, partition)
        [encoded] = await self.store.encode([summary])
        entry = NewItem(id=new_id("sum"), kind="summary", content=summary,
                        importance=SUMMARY_IMPORTANCE, role="system", agent_id=access.agent_id,
                        session_id=request.session_id,
                        metadata={"compacted_refs": len(old), "first_ts": old[0].get("ts"),
                                  "last_ts": old[-1].get("ts")})
        [written] = await self.store.write(ctx, part, [entry], [encoded], kind="memory")
        summary_ref = {"id": written.id, "role": "summary", "scope": "self",
                       "ts": self.store.clock()}
        client = StateClient(ctx)
        current = value
        for _ in range(CAS_ATTEMPTS):
            now_refs = list(current.get("refs") or []) if isinstance(current, dict) else []
            if now_refs[: len(old)] != old:
                break
            new_value = {**current, "refs": [summary_ref, *now_refs[len(old):]],
                         "updated_at": self.store.clock()}
            ok, current = await client.cas(scope_of(access.agent_id), request.session_id,
                                           current, new_value)
            if ok:
                result.update(compacted=len(old), summary_id=written.id, summary=summary,
                              kept=len(now_refs) - len(old))
                return result
        if not written.deduplicated:
            await self.store.forget(ctx, part, [written.id])
        raise Conflict(f"session {request.session_id} changed under the compaction; try again")

    async def _summarise(self, ctx: Context, lines: Sequence[str], model: str) -> str:
        size = self.config.chunk_chars
        pieces, current = [], ""
        for line in lines:
            for start in range(0, len(line), size):  # a very long turn spans several pieces
                part = line[start:start + size]
                if current and len(current) + len(part) + 1 > size:
                    pieces.append(current)
                    current = ""
                current += part + "\n"
        pieces.append(current)
        partial = [await self._complete(ctx, model, p) for p in pieces]
        if len(partial) == 1:
            return partial[0]
        return await self._complete(ctx, model, "\n\n".join(partial))

    async def _complete(self, ctx: Context, model: str, transcript: str) -> str:
        body = {"model": model, "max_tokens": self.config.summary_max_tokens,
                "messages": [{"role": "system", "content": PROMPT},
                             {"role": "user", "content": transcript}]}
        answer = await ctx.trigger("llm::complete", body, timeout=self.config.llm_timeout_s)
        try:
            text = answer["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise LlmBadResponse(f"llm::complete answered no summary: {answer!r:.200}") from exc
        if not isinstance(text, str) or not text.strip():
            raise LlmBadResponse("llm::complete answered an empty summary")
        return text.strip()
