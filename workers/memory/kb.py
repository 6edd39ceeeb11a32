"""The knowledge base: ``kb::ingest`` documents, ``kb::search`` them with citations.

Theory of operation
-------------------
A collection is the partition ``kb:<collection>`` of the caller's realm; its documents are
listed in ``kb_docs:<collection>`` / ``<document name>`` as ``{name, hash, version, format,
chunks, characters, pages, ingested_at, metadata}`` (a chunk's ``source`` names its document
and version, so the entry stays small however long the document). That entry is the commit point
of an ingestion:

1. refuse early what cannot go in (size over ``max_document_bytes`` / ``max_document_chars``,
   unreadable bytes, no text), before anything is written;
2. read the document into sections (:mod:`.readers`), cut each into chunks of about
   ``kb_chunk_chars`` (:func:`~.chunking.split_text`), embed them all;
3. write the chunks as ``kb`` items of a new *version* (committed segments, see
   :mod:`.storage`), then compare-and-set the document entry to point at that version;
4. forget the chunks of the version it replaced.

A crash between 3 and the entry leaves chunks no entry names: they are dropped when the
collection loads (:meth:`KnowledgeBase.partition`), so a half-ingested document is never
searchable. Re-ingesting identical bytes is a no-op (``deduplicated``). Each search result
carries its ``citation``: document, page (PDF), heading (Markdown, DOCX), chunk number and the
character range within its section.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from typing import Any

import anyio.to_thread
from pydantic import Field, model_validator

from workers.sdk import Context

from .chunking import split_text
from .config import MemoryConfig
from .errors import Conflict, DocumentTooLarge, InvalidArguments, NotFound
from .items import new_id
from .partition import Partition
from .readers import Format, detect_format, read_document
from .requests import Request
from .scopes import kb_partition
from .storage import StateClient
from .store import MemoryStore, NewItem

__all__ = ["KbDeleteRequest", "KbIngestRequest", "KbListRequest", "KbSearchRequest", "KnowledgeBase"]

Collection = Field(default="default", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DocName = Field(min_length=1, max_length=300, description="The document's name (file name or id)")


class KbIngestRequest(Request):
    """Exactly one of ``text`` (text, Markdown) and ``content_base64`` (any format)."""

    name: str = DocName
    collection: str = Collection
    text: str | None = None
    content_base64: str | None = None
    format: Format | None = Field(default=None, description="Default: from the name's extension")
    metadata: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one(self) -> KbIngestRequest:
        if (self.text is None) == (self.content_base64 is None):
            raise ValueError("give exactly one of 'text' and 'content_base64'")
        return self


class KbSearchRequest(Request):
    query: str = Field(min_length=1, description="What to look for")
    collection: str = Collection
    limit: int = Field(default=5, ge=1, le=50)
    min_score: float = Field(default=0.0, ge=0, le=1)


class KbListRequest(Request):
    collection: str = Collection


class KbDeleteRequest(Request):
    name: str = DocName
    collection: str = Collection


def _docs(collection: str) -> str:
    return f"kb_docs:{collection}"


def _chunks_of(part: Partition, name: str, version: Any) -> list[str]:
    """The ids of the chunks of one version of a document."""
    return [item.id for item in part.items.values()
            if (item.source or {}).get("document") == name and (item.source or {}).get("version") == version]


class KnowledgeBase:
    def __init__(self, store: MemoryStore, config: MemoryConfig) -> None:
        self.store, self.limits = store, config.limits
        self.weights = config.recall.kb_weights

    async def partition(self, ctx: Context, collection: str) -> Partition:
        """The collection's partition, without chunks of uncommitted versions."""
        part = await self.store.partition(ctx, kb_partition(collection))
        if not part.verified:
            async with part.lock:
                if not part.verified:
                    entries = await StateClient(ctx).list(_docs(collection))
                    live = {e.get("version") for e in entries if isinstance(e, dict)}
                    for item in list(part.items.values()):
                        if (item.source or {}).get("version") not in live:
                            part.remove(item.id)
                    part.verified = True
        return part

    def _payload(self, request: KbIngestRequest) -> bytes | str:
        limit = self.limits.max_document_bytes
        if request.text is not None:
            size: int = len(request.text.encode())
            payload: bytes | str = request.text
        else:
            assert request.content_base64 is not None
            size = len(request.content_base64) * 3 // 4
            if size <= limit:
                try:
                    payload = base64.b64decode(request.content_base64, validate=True)
                except (binascii.Error, ValueError) as exc:
                    raise InvalidArguments(f"content_base64 is not base64: {exc}") from exc
                size = len(payload)
        if size > limit:
            raise DocumentTooLarge(f"document {request.name!r} is {size} bytes, over the limit of "
                                   f"{limit} (limits.max_document_bytes); split it")
        if size == 0:
            raise InvalidArguments(f"document {request.name!r} is empty")
        return payload

    async def ingest(self, ctx: Context, request: KbIngestRequest) -> dict[str, Any]:
        """``kb::ingest`` (see the module docstring)."""
        payload = self._payload(request)
        fmt = detect_format(request.name, request.format)
        sections = await anyio.to_thread.run_sync(read_document, payload, fmt)
        characters = sum(len(s.text) for s in sections)
        if characters > self.limits.max_document_chars:
            raise DocumentTooLarge(f"document {request.name!r} holds {characters} characters of "
                                   f"text, over the limit of {self.limits.max_document_chars}")
        digest = hashlib.sha256(payload.encode() if isinstance(payload, str) else payload).hexdigest()
        client = StateClient(ctx)
        scope = _docs(request.collection)
        old = await client.get(scope, request.name)
        summary = {"document": request.name, "collection": request.collection, "format": fmt}
        if isinstance(old, dict) and old.get("hash") == digest:
            return {**summary, "version": old["version"], "chunks": old["chunks"],
                    "characters": old["characters"], "deduplicated": True, "replaced": False}
        version = uuid.uuid4().hex[:16]
        new: list[NewItem] = []
        for section in sections:
            for start, end in split_text(section.text, self.limits.kb_chunk_chars,
                                         self.limits.kb_chunk_overlap):
                source = {"document": request.name, "version": version, "chunk": len(new),
                          "page": section.page, "heading": section.heading,
                          "start": start, "end": end}
                new.append(NewItem(id=new_id("kb"), kind="kb", content=section.text[start:end],
                                   importance=0.5, source=source, hash_key=f"{version}:{len(new)}",
                                   metadata=request.metadata))
        encoded = await self.store.encode([n.content for n in new])
        part = await self.partition(ctx, request.collection)
        written = await self.store.write(ctx, part, new, encoded, kind="kb")
        ids = [w.id for w in written]
        entry = {"name": request.name, "hash": digest, "version": version, "format": fmt,
                 "chunks": len(ids), "characters": characters,
                 "pages": max((s.page or 0 for s in sections), default=0) or None,
                 "ingested_at": self.store.clock(), "metadata": request.metadata}
        try:
            ok, _ = await client.cas(scope, request.name, old, entry)
        except Exception:
            await self.store.forget(ctx, part, ids)
            raise
        if not ok:
            await self.store.forget(ctx, part, ids)
            raise Conflict(f"document {request.name!r} was changed by another ingestion; retry")
        if isinstance(old, dict):
            await self.store.forget(ctx, part, _chunks_of(part, request.name, old.get("version")))
        return {**summary, "version": version, "chunks": len(ids), "characters": characters,
                "pages": entry["pages"], "deduplicated": False, "replaced": isinstance(old, dict)}

    async def search(self, ctx: Context, request: KbSearchRequest) -> dict[str, Any]:
        """``kb::search``: the best chunks, each with its citation and score explanation."""
        part = await self.partition(ctx, request.collection)
        hits = await self.store.search(ctx, [(request.collection, part)], request.query,
                                       request.limit, self.weights, request.min_score, track=False)
        results = []
        for _, hit in hits:
            src = hit.item.source or {}
            where = [f"p. {src['page']}"] if src.get("page") else []
            where += [str(src["heading"])] if src.get("heading") else []
            results.append({
                "id": hit.item.id, "content": hit.item.content, "score": hit.score,
                "citation": {"document": src.get("document"), "page": src.get("page"),
                             "heading": src.get("heading"), "chunk": src.get("chunk"),
                             "start": src.get("start"), "end": src.get("end"),
                             "text": ", ".join([str(src.get("document")), *where])},
                "explain": hit.explain,
            })
        return {"collection": request.collection, "results": results}

    async def list(self, ctx: Context, request: KbListRequest) -> dict[str, Any]:
        """``kb::list``: the collection's documents."""
        entries = await StateClient(ctx).list(_docs(request.collection))
        docs = [{k: e.get(k) for k in ("name", "format", "chunks", "characters", "pages",
                                       "ingested_at", "metadata")}
                for e in entries if isinstance(e, dict)]
        return {"collection": request.collection, "documents": docs}

    async def delete(self, ctx: Context, request: KbDeleteRequest) -> dict[str, Any]:
        """``kb::delete``: remove a document and its chunks."""
        client = StateClient(ctx)
        part = await self.partition(ctx, request.collection)
        old = await client.delete(_docs(request.collection), request.name)
        if not isinstance(old, dict):
            raise NotFound(f"no document {request.name!r} in collection {request.collection!r}")
        forgotten, _ = await self.store.forget(ctx, part, _chunks_of(part, request.name, old.get("version")))
        return {"document": request.name, "collection": request.collection, "chunks": len(forgotten)}
