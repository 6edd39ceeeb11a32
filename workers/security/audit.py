"""The audit log: one tamper-evident hash chain per realm, appended atomically.

Theory of operation
-------------------
Storage (state, so keyed by the caller's realm by the engine): entry ``seq`` lives in scope
``security:audit:<seq // 1000>`` under the key ``<seq, 12 digits>``, so a page lists in seq order
with one ``state::list``; the head record ``{seq, hash}`` lives in scope ``security:audit``, key
``head``. Entries are never rewritten.

**Append** claims the next slot with ``state::cas(expected=None)``: a slot can be claimed once, so
two writers can never both become entry ``n`` (no fork), and a writer only claims slot ``n + 1``
after it has seen entry ``n`` (its hash becomes ``prev_hash``), so seqs stay contiguous. A writer
that loses the race reads the winner from the CAS answer, chains onto it and tries the next slot.
The head record is then advanced by compare-and-set (never backwards). It is only a hint: a
writer that died between the two steps leaves it behind, and the next writer catches up through
the slots. Inside one worker a per-realm lock makes appends single-writer (no lost races, two
state calls each); several processes or engines sharing a store stay correct through the CAS.

**Verify** walks the pages with :class:`~.chain.Walker` up to the head record (or ``to_seq``)
and names the first broken seq. **List** pages forward from ``after_seq``.

Functions: ``security::audit`` (also bound to the pubsub topic ``audit``, so any worker can
``publish {topic: "audit", data: {type, agent_id?, detail}}`` fire-and-forget; pubsub is
realm-keyed, so those land in the publisher's realm only if this worker subscribed there — a
realm-less worker sees the default realm), ``security::verify_audit``, ``security::audit_list``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Annotated, Any

import anyio
from pydantic import BaseModel, ConfigDict, Field

from workers.sdk import Context

from . import _state
from .chain import Head, Verdict, Walker, canonical, head_of, make_entry
from .errors import AuditCorrupt, Conflict, InvalidArguments, parse_request

__all__ = ["AuditLog", "AuditRequest", "HEAD_SCOPE", "PAGE", "page_scope", "slot_key"]

log = logging.getLogger(__name__)

HEAD_SCOPE = "security:audit"
HEAD_KEY = "head"
PAGE = 1000
MAX_ATTEMPTS = 10_000
"""Slots a writer may find taken in a row; each loss means another append succeeded."""
MAX_LIST_PAGES = 50


def page_scope(seq: int) -> str:
    return f"{HEAD_SCOPE}:{seq // PAGE}"


def slot_key(seq: int) -> str:
    return f"{seq:012d}"


class AuditRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Annotated[str, Field(min_length=1, max_length=128)]
    agent_id: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    detail: Any = None


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    from_seq: Annotated[int, Field(ge=1)] = 1
    to_seq: Annotated[int, Field(ge=1)] | None = None


class ListRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    after_seq: Annotated[int, Field(ge=0)] = 0
    type: str | None = None
    agent_id: str | None = None


class AuditLog:
    """Appends to, verifies and lists the audit chain of the caller's realm.

    Args:
        max_detail_bytes: the largest ``detail`` (canonical JSON) accepted.
        clock: epoch seconds for ``ts``.
    """

    def __init__(self, max_detail_bytes: int = 32_768, clock: Callable[[], float] = time.time) -> None:
        self.max_detail_bytes = max_detail_bytes
        self.clock = clock
        self._locks: dict[str | None, anyio.Lock] = {}
        self._heads: dict[str | None, Head] = {}
        self._stored: dict[str | None, Any] = {}

    def _plain(self, detail: Any) -> Any:
        try:
            encoded = canonical(detail)
        except (TypeError, ValueError, RecursionError) as exc:
            raise InvalidArguments(f"detail must be plain JSON: {type(exc).__name__}") from exc
        if len(encoded) > self.max_detail_bytes:
            raise InvalidArguments(
                f"detail is {len(encoded)} bytes of JSON, over {self.max_detail_bytes}")
        return json.loads(encoded)

    async def _load_head(self, ctx: Context) -> Head:
        raw = await _state.get(ctx, HEAD_SCOPE, HEAD_KEY)
        self._stored[ctx.realm] = raw
        return head_of(raw) or Head()

    async def append(self, ctx: Context, type: str, agent_id: str | None, detail: Any) -> dict[str, Any]:
        """Append one entry to the chain of ``ctx``'s realm.

        Returns:
            ``{id, seq, hash}`` of the new entry.

        Raises:
            InvalidArguments: ``detail`` is not plain JSON or too large.
            AuditCorrupt: a taken slot holds something that is not an entry.
            Conflict: :data:`MAX_ATTEMPTS` slots in a row were taken by other writers.
        """
        detail = self._plain(detail)
        realm = ctx.realm
        lock = self._locks.setdefault(realm, anyio.Lock())
        async with lock:
            head = self._heads.get(realm) or await self._load_head(ctx)
            for _ in range(MAX_ATTEMPTS):
                entry = make_entry(head, ts=self.clock(), realm=realm, type=type,
                                   agent_id=agent_id, detail=detail)
                seq = entry["seq"]
                ok, current = await _state.cas(ctx, page_scope(seq), slot_key(seq), None, entry)
                if ok:
                    break
                taken = head_of(current)
                if taken is None or taken.seq != seq:
                    log.error("audit slot %d of realm %r holds a non-entry", seq, realm)
                    raise AuditCorrupt(f"audit slot {seq} holds something that is not an entry")
                stored = await self._load_head(ctx)
                head = stored if stored.seq > taken.seq else taken
            else:
                raise Conflict("the audit log kept moving; try again")
            new = Head(seq, entry["hash"])
            self._heads[realm] = new
            await self._advance(ctx, new)
        return {"id": entry["id"], "seq": seq, "hash": entry["hash"]}

    async def _advance(self, ctx: Context, new: Head) -> None:
        """Move the head record to ``new`` unless another writer already moved it further."""
        expected = self._stored.get(ctx.realm)
        for _ in range(16):
            ok, current = await _state.cas(ctx, HEAD_SCOPE, HEAD_KEY, expected, new.record())
            if ok:
                self._stored[ctx.realm] = new.record()
                return
            stored = head_of(current)
            if stored is not None and stored.seq >= new.seq:
                self._stored[ctx.realm] = current
                return
            expected = current
        log.warning("could not advance the audit head of realm %r to %d", ctx.realm, new.seq)

    # -- handlers ------------------------------------------------------------------------------

    async def audit(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``security::audit {type, agent_id?, detail}`` → ``{id, seq, hash}``."""
        req = parse_request(AuditRequest, data)
        return await self.append(ctx, req.type, req.agent_id, req.detail)

    async def verify_audit(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``security::verify_audit {from_seq?, to_seq?}`` →
        ``{valid, entries, head, first_broken_seq?, reason?}``."""
        req = parse_request(VerifyRequest, data)
        stored = head_of(await _state.get(ctx, HEAD_SCOPE, HEAD_KEY))
        end = stored.seq if stored is not None else None
        if req.to_seq is not None:
            end = req.to_seq if end is None else min(end, req.to_seq)
        start = Head()
        if req.from_seq > 1:
            anchor = await self._find(ctx, req.from_seq - 1)
            if anchor is None:
                return Verdict(False, 0, Head(), req.from_seq - 1,
                               f"missing: no entry {req.from_seq - 1} to start from").public()
            start = anchor
        walker = Walker(start, end)
        page = start.seq // PAGE if start.seq else 0
        while not walker.done:
            entries = await _state.values(ctx, page_scope(page * PAGE))
            if not entries and (end is None or page > end // PAGE):
                break
            walker.feed([e for e in entries if not _before(e, start.seq)])
            page += 1
        return walker.finish().public()

    async def _find(self, ctx: Context, seq: int) -> Head | None:
        """Entry ``seq`` as the anchor of a range: its stored seq and hash, or None if absent.

        Only what the next entry links to matters here; the entry's own soundness belongs to a
        range that includes it.
        """
        found = head_of(await _state.get(ctx, page_scope(seq), slot_key(seq)))
        return found if found is not None and found.seq == seq else None

    async def audit_list(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``security::audit_list {limit, after_seq, type?, agent_id?}`` →
        ``{entries, next_after_seq}`` (pass ``next_after_seq`` back to page on)."""
        req = parse_request(ListRequest, data)
        stored = head_of(await _state.get(ctx, HEAD_SCOPE, HEAD_KEY)) or Head()
        out: list[dict[str, Any]] = []
        cursor = req.after_seq
        page = (req.after_seq + 1) // PAGE
        for _ in range(MAX_LIST_PAGES):
            entries = await _state.values(ctx, page_scope(page * PAGE))
            if not entries and page > stored.seq // PAGE:
                break
            for entry in entries:
                seq = entry.get("seq") if isinstance(entry, dict) else None
                if not isinstance(seq, int) or seq <= cursor:
                    continue
                cursor = seq
                if (req.type is None or entry.get("type") == req.type) and \
                        (req.agent_id is None or entry.get("agent_id") == req.agent_id):
                    out.append(entry)
                    if len(out) >= req.limit:
                        return {"entries": out, "next_after_seq": cursor}
            page += 1
        return {"entries": out, "next_after_seq": cursor}


def _before(entry: Any, seq: int) -> bool:
    claimed = entry.get("seq") if isinstance(entry, dict) else None
    return isinstance(claimed, int) and claimed <= seq
