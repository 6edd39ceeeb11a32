"""The audit hash chain, pure: canonical JSON, entry hashes, building and verifying entries.

Theory of operation
-------------------
An entry is ``{id, seq, prev_hash, ts, realm, type, agent_id, detail, hash}``. Its ``hash`` is
the SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8, no NaN) of
``{seq, prev_hash, ts, realm, type, agent_id, detail}``; ``prev_hash`` is the hash of entry
``seq - 1`` (:data:`GENESIS` for ``seq == 1``) and ``id`` is the first 24 hex digits of the hash,
so it is covered too. Hence changing any field of an entry breaks its own hash, and removing,
inserting or reordering entries breaks a ``prev_hash`` link or the run of sequence numbers.

A :class:`Walker` takes entries in storage order and reports the *first* broken link with a reason:

* ``missing``: no entry ``seq`` although later ones exist (a deleted entry), or the head record
  says the chain is longer (a truncated tail);
* ``misplaced``: where entry ``seq`` belongs sits one that says another seq (moved or swapped);
* ``hash_mismatch``: the entry's content does not hash to its ``hash`` (it was edited);
* ``broken_link``: its ``prev_hash`` is not the previous entry's hash (reordered or re-forged).

This is tamper-*evident* against anyone who edits storage without recomputing every later hash;
someone who rewrites the whole tail consistently is caught only by comparing the head hash with
a copy kept elsewhere (``security::verify_audit`` returns it for that purpose).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["GENESIS", "Head", "Verdict", "Walker", "canonical", "entry_hash", "head_of",
           "make_entry"]

GENESIS = "0" * 64
ID_CHARS = 24
_HASHED = ("seq", "prev_hash", "ts", "realm", "type", "agent_id", "detail")


def canonical(value: Any) -> bytes:
    """The canonical JSON encoding of ``value``.

    Raises:
        ValueError, TypeError: ``value`` is not plain JSON (NaN, bytes, objects…).
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def entry_hash(entry: Mapping[str, Any]) -> str:
    """The hash an entry should carry, from its hashed fields."""
    return hashlib.sha256(canonical({k: entry.get(k) for k in _HASHED})).hexdigest()


@dataclass(frozen=True, slots=True)
class Head:
    """The last entry of a chain: its seq and hash (``Head(0, GENESIS)`` for an empty chain)."""

    seq: int = 0
    hash: str = GENESIS

    def record(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash}


def head_of(value: Any) -> Head | None:
    """A :class:`Head` from a stored head record or entry, or None if it is not one."""
    if not isinstance(value, dict):
        return None
    seq, digest = value.get("seq"), value.get("hash")
    if isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0 and isinstance(digest, str):
        return Head(seq, digest)
    return None


def make_entry(head: Head, *, ts: float, realm: str | None, type: str, agent_id: str | None,
               detail: Any) -> dict[str, Any]:
    """The entry that follows ``head``."""
    entry: dict[str, Any] = {"seq": head.seq + 1, "prev_hash": head.hash, "ts": ts, "realm": realm,
                             "type": type, "agent_id": agent_id, "detail": detail}
    digest = entry_hash(entry)
    return {"id": digest[:ID_CHARS], **entry, "hash": digest}


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of a :class:`Walker`."""

    valid: bool
    entries: int
    """Entries checked and found sound (before the first broken one)."""
    last: Head
    first_broken_seq: int | None = None
    reason: str | None = None

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {"valid": self.valid, "entries": self.entries,
                               "head": self.last.record()}
        if not self.valid:
            out["first_broken_seq"] = self.first_broken_seq
            out["reason"] = self.reason
        return out


class Walker:
    """Checks the entries that follow ``start``, fed in storage (key) order, page by page.

    Args:
        start: the entry before the first one fed (``Head()`` from the beginning).
        end_seq: the seq the chain must reach (the head record's, or the caller's bound); None:
            wherever the entries end.
    """

    def __init__(self, start: Head, end_seq: int | None = None) -> None:
        self.prev, self.end_seq, self.count = start, end_seq, 0
        self.verdict: Verdict | None = None

    @property
    def expected(self) -> int:
        return self.prev.seq + 1

    @property
    def done(self) -> bool:
        """A fault was found, or ``end_seq`` was reached: feed no more."""
        return self.verdict is not None or (
            self.end_seq is not None and self.expected > self.end_seq)

    def feed(self, entries: Sequence[Any]) -> None:
        """Check the next entries (one storage page, in key order)."""
        claimed = {e.get("seq") for e in entries if isinstance(e, dict)}
        for entry in entries:
            if self.done:
                return
            seq = entry.get("seq") if isinstance(entry, dict) else None
            if seq != self.expected:
                self._fail(self._gap(seq, entry, claimed))
                return
            fault = _fault(entry, self.prev)
            if fault is not None:
                self._fail(fault)
                return
            self.prev = Head(self.expected, entry["hash"])
            self.count += 1

    def finish(self) -> Verdict:
        """The verdict, once every entry was fed (or :attr:`done`)."""
        if self.verdict is not None:
            return self.verdict
        if self.end_seq is not None and self.prev.seq < self.end_seq:
            self._fail(f"missing: the chain should reach {self.end_seq} but ends at {self.prev.seq}")
            assert self.verdict is not None
            return self.verdict
        return Verdict(True, self.count, self.prev)

    def _fail(self, reason: str) -> None:
        self.verdict = Verdict(False, self.count, self.prev, self.expected, reason)

    def _gap(self, seq: Any, entry: Any, claimed: set[Any]) -> str:
        want = self.expected
        if isinstance(seq, int) and seq > want and want not in claimed and _fault(entry, None) is None:
            return f"missing: no entry {want} (the next one stored is {seq})"
        return f"misplaced: the entry stored where {want} belongs says seq {seq!r}"


def _fault(entry: Any, prev: Head | None) -> str | None:
    """Why ``entry`` is unsound after ``prev`` (None: only check its own hash), or None."""
    if not isinstance(entry, dict) or not isinstance(entry.get("hash"), str):
        return "hash_mismatch: not an audit entry"
    try:
        digest = entry_hash(entry)
    except (TypeError, ValueError):
        return f"hash_mismatch: entry {entry.get('seq')} is not canonical JSON"
    if digest != entry["hash"] or entry.get("id") != digest[:ID_CHARS]:
        return f"hash_mismatch: entry {entry.get('seq')} was modified"
    if prev is not None and entry.get("prev_hash") != prev.hash:
        return f"broken_link: entry {entry.get('seq')} does not follow entry {prev.seq}"
    return None
