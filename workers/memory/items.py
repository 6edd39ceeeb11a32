"""One stored memory (or knowledge-base chunk): :class:`Item` and its storage record.

An item is what a caller stores and gets back; its vectors (one per embedded window of its
content) live in the partition's :class:`~.vectors.VectorIndex` at ``rows``, and ``spans`` say
which characters of ``content`` each row embeds. The storage record (:meth:`Item.record`) holds
everything, vectors included (base64), so a partition is rebuilt from its records alone.

Kinds: ``memory`` (a stored turn or note), ``summary`` (a compacted session), ``kb`` (a chunk of
an ingested document, with ``source`` citing document, page, heading and character range).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from .chunking import Span

__all__ = ["Item", "Kind", "new_id"]

Kind = Literal["memory", "summary", "kb"]


def new_id(prefix: str = "mem") -> str:
    """A fresh item id."""
    return f"{prefix}_{uuid.uuid4().hex}"


@dataclass(slots=True)
class Item:
    id: str
    kind: str
    content: str
    hash: str
    importance: float
    created_at: float
    spans: list[Span]
    role: str | None = None
    agent_id: str | None = None
    session_id: str | None = None
    metadata: dict[str, Any] | None = None
    source: dict[str, Any] | None = None
    accessed_at: float = 0.0
    access_count: int = 0
    decayed_at: float = 0.0
    merged_from: list[str] = field(default_factory=list)
    merged_hashes: list[str] = field(default_factory=list)
    segment: int = -1
    rows: list[int] = field(default_factory=list)

    @property
    def last_active(self) -> float:
        return max(self.created_at, self.accessed_at)

    def record(self, vectors: list[str]) -> dict[str, Any]:
        """The stored form, with the base64 ``vectors`` of its rows."""
        rec: dict[str, Any] = {
            "id": self.id, "kind": self.kind, "content": self.content, "hash": self.hash,
            "importance": self.importance, "created_at": self.created_at,
            "spans": [list(s) for s in self.spans], "vectors": vectors,
        }
        for name in ("role", "agent_id", "session_id", "metadata", "source"):
            value = getattr(self, name)
            if value is not None:
                rec[name] = value
        if self.decayed_at:
            rec["decayed_at"] = self.decayed_at
        if self.merged_from:
            rec["merged_from"] = self.merged_from
            rec["merged_hashes"] = self.merged_hashes
        return rec

    @classmethod
    def from_record(cls, rec: dict[str, Any], segment: int) -> tuple[Item, list[str]]:
        """The item of a stored record and its base64 vectors.

        Raises:
            KeyError, TypeError, ValueError: the record is malformed.
        """
        item = cls(
            id=str(rec["id"]), kind=str(rec["kind"]), content=str(rec["content"]),
            hash=str(rec["hash"]), importance=float(rec["importance"]),
            created_at=float(rec["created_at"]),
            spans=[(int(s), int(e)) for s, e in rec["spans"]],
            role=rec.get("role"), agent_id=rec.get("agent_id"), session_id=rec.get("session_id"),
            metadata=rec.get("metadata"), source=rec.get("source"),
            decayed_at=float(rec.get("decayed_at", 0.0)),
            merged_from=list(rec.get("merged_from", [])),
            merged_hashes=list(rec.get("merged_hashes", [])),
            segment=segment,
        )
        vectors = rec["vectors"]
        if not isinstance(vectors, list) or len(vectors) != len(item.spans):
            raise ValueError(f"item {item.id} has {len(item.spans)} spans but not as many vectors")
        return item, vectors

    def public(self, scope: str | None = None) -> dict[str, Any]:
        """What callers get back (no vectors)."""
        out: dict[str, Any] = {
            "id": self.id, "kind": self.kind, "content": self.content, "role": self.role,
            "importance": round(self.importance, 6), "created_at": self.created_at,
            "session_id": self.session_id,
        }
        if scope is not None:
            out["scope"] = scope
        if self.accessed_at:
            out["accessed_at"] = self.accessed_at
            out["access_count"] = self.access_count
        for name in ("metadata", "source"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.merged_from:
            out["merged_from"] = self.merged_from
        return out
