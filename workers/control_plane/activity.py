"""The council's activity log: hash-chained, appended atomically, verifiable.

Each entry ``{seq, prev, ts, kind, actor, detail, hash}`` lives in state scope ``council:log``
under ``seq`` zero-padded to ten digits (so ``state::list`` returns the log in order). ``hash``
is the SHA-256 of the entry's other fields as canonical JSON (sorted keys, no spaces) and
``prev`` is the previous entry's hash (64 zeros for the first). An append claims its ``seq`` by
create-if-absent on that key, so two concurrent appends never share a position and never fork
the chain: the loser re-reads the winner's entry and links after it. ``council:meta/head`` is a
hint of the last entry (the log itself is the truth), so an append reads one or two keys.

:func:`verify` recomputes every hash and link, and names the first entry that is wrong: a
changed field breaks its own hash, a removed or inserted entry breaks the ``seq`` run or the next
``prev``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ._state import RealmState

__all__ = ["GENESIS", "append", "entries", "entry_hash", "verify"]

LOG, META, HEAD = "council:log", "council:meta", "head"
GENESIS = "0" * 64


def entry_hash(entry: dict[str, Any]) -> str:
    """The hash of ``entry``: SHA-256 over its fields but ``hash``, as canonical JSON."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _key(seq: int) -> str:
    return f"{seq:010d}"


async def append(rs: RealmState, now: float, kind: str, actor: str | None,
                 detail: Any) -> dict[str, Any]:
    """Append one entry to ``rs.realm``'s log and return it."""
    head = await rs.get(META, HEAD)
    seq, prev = (head["seq"], head["hash"]) if isinstance(head, dict) else (0, GENESIS)
    while True:
        following = await rs.get(LOG, _key(seq + 1))
        if isinstance(following, dict):
            seq, prev = seq + 1, str(following.get("hash"))
            continue
        entry: dict[str, Any] = {"seq": seq + 1, "prev": prev, "ts": now, "kind": kind,
                                 "actor": actor, "detail": detail}
        entry["hash"] = entry_hash(entry)
        ok, current = await rs.cas(LOG, _key(seq + 1), None, entry)
        if ok:
            await rs.set(META, HEAD, {"seq": entry["seq"], "hash": entry["hash"]})
            return entry
        seq, prev = seq + 1, str((current or {}).get("hash"))


async def entries(rs: RealmState) -> list[dict[str, Any]]:
    """The whole log of ``rs.realm``, in order."""
    return [e for e in await rs.list(LOG) if isinstance(e, dict)]


def verify(log: list[dict[str, Any]]) -> dict[str, Any]:
    """Check a log.

    Returns:
        ``{valid: true, entries: n}``, or ``{valid: false, entries: n, broken_at: seq,
        reason}`` naming the first entry that does not hold.
    """
    prev = GENESIS
    for position, entry in enumerate(log, start=1):
        seq = entry.get("seq")
        reason = None
        if seq != position:
            reason = f"expected entry {position} here, found {seq!r} (an entry was removed or added)"
        elif entry.get("prev") != prev:
            reason = "its prev does not match the hash of the entry before it"
        elif entry.get("hash") != entry_hash(entry):
            reason = "its content does not match its hash (the entry was changed)"
        if reason is not None:
            return {"valid": False, "entries": len(log), "broken_at": position, "reason": reason}
        prev = str(entry["hash"])
    return {"valid": True, "entries": len(log)}
