"""What a run streams to its caller over the ``stream_to`` channel.

Frames are JSON text, in this order for each model call: the model's *content* chunks, exactly as
``llm::complete`` streamed them (OpenAI ``chat.completion.chunk`` dicts); then, if the model
called tools, one ``tool_call`` event per call when it starts and one ``tool_result`` event when
it ends::

    {"object": "agentos.tool_event", "event": "tool_call", "id", "function_id", "arguments"}
    {"object": "agentos.tool_event", "event": "tool_result", "id", "function_id", "ok", "content"}
    {"object": "agentos.tool_event", "event": "approval_required", "id", "function_id", "approval_id"}

The run ends with one ``{"object": "agentos.result", ...}`` frame carrying the same dict
``agent::chat`` returns (or ``{"object": "agentos.error", "error": {code, message}}``), and the
channel is closed. Chunks that only carry tool-call deltas, or the ``tool_calls`` finish of an
intermediate model call, are not forwarded: those tool names are private to the run, and a
consumer relaying the stream as SSE must not see the answer "finish" before the tools ran.

Channel ends are the SDK's (:mod:`workers.sdk.channels`); its ``ChannelError`` is translated here
into ours (code ``channel_error``). A caller that hangs up mid-run does not cost the run: the
stream turns *broken*, later frames are dropped, and the run still finishes and answers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import anyio
from pydantic import BaseModel, ConfigDict, Field

from workers.sdk import ChannelError as SdkChannelError
from workers.sdk import ChannelWriter, Context

from .errors import ChannelError

__all__ = ["ChannelRef", "RunStream", "content_chunk", "open_stream"]

log = logging.getLogger(__name__)

TOOL_EVENT = "agentos.tool_event"


class ChannelRef(BaseModel):
    """The *writer* reference of a channel, as ``engine::channels::create`` answers it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    channel_id: str = Field(min_length=1)
    access_key: str = Field(min_length=1)
    direction: Literal["write"]


def content_chunk(frame: str | bytes) -> dict[str, Any] | None:
    """The chunk of an ``llm::complete`` frame worth forwarding to the run's caller, or None.

    Kept: chunks whose delta carries text, and final chunks (``stop``, ``length``, …). Tool-call
    deltas are stripped; usage-only chunks, error frames and malformed frames are dropped. Pure.
    """
    try:
        chunk = json.loads(frame)
    except (ValueError, UnicodeDecodeError):
        log.debug("dropping a non-JSON frame from llm::complete")
        return None
    if not isinstance(chunk, dict) or not isinstance(chunk.get("choices"), list):
        return None
    keep = False
    choices = []
    for choice in chunk["choices"]:
        if not isinstance(choice, dict):
            continue
        raw = choice.get("delta")
        delta = {k: v for k, v in raw.items() if k != "tool_calls"} if isinstance(raw, dict) else {}
        finish = choice.get("finish_reason")
        if finish == "tool_calls":
            finish = None
        if delta.get("content") or finish is not None:
            keep = True
        choices.append({**choice, "delta": delta, "finish_reason": finish})
    return {**chunk, "choices": choices} if keep else None


class RunStream:
    """The caller's view of a run; every method is a no-op when there is no ``stream_to``.

    Tool calls run concurrently, so sends are serialised here (the SDK writer wants one writer).
    """

    def __init__(self, writer: ChannelWriter | None) -> None:
        self._writer = writer
        self._lock = anyio.Lock()
        self.sent = 0
        self.broken = False

    @property
    def enabled(self) -> bool:
        return self._writer is not None

    async def _send(self, obj: dict[str, Any]) -> None:
        if self._writer is None or self.broken:
            return
        async with self._lock:
            try:
                await self._writer.send_text(json.dumps(obj, ensure_ascii=False, default=str))
                self.sent += 1
            except SdkChannelError as exc:
                self.broken = True
                log.info("stream %s ended by its reader (%s); dropping the rest",
                         self._writer.channel_id, exc)

    async def chunk(self, chunk: dict[str, Any]) -> None:
        """Forward one model chunk."""
        await self._send(chunk)

    async def tool_call(self, call_id: str, function_id: str | None, arguments: Any) -> None:
        await self._send({"object": TOOL_EVENT, "event": "tool_call", "id": call_id,
                          "function_id": function_id, "arguments": arguments})

    async def tool_result(
        self, call_id: str, function_id: str | None, ok: bool, content: str
    ) -> None:
        await self._send({"object": TOOL_EVENT, "event": "tool_result", "id": call_id,
                          "function_id": function_id, "ok": ok, "content": content})

    async def approval(self, call_id: str, function_id: str | None, approval_id: str) -> None:
        """The call waits for a human (the run pauses after this round)."""
        await self._send({"object": TOOL_EVENT, "event": "approval_required", "id": call_id,
                          "function_id": function_id, "approval_id": approval_id})

    async def result(self, result: dict[str, Any]) -> None:
        await self._send({"object": "agentos.result", **result})

    async def error(self, code: str, message: str) -> None:
        await self._send({"object": "agentos.error", "error": {"code": code, "message": message}})


@asynccontextmanager
async def open_stream(source: Context | str, ref: ChannelRef | None) -> AsyncIterator[RunStream]:
    """A :class:`RunStream` writing to ``ref`` (closed on exit), or a silent one for None.

    Args:
        source: the handler's context (its connection's engine and token), or an engine URL.

    Raises:
        ChannelError: ``ref`` cannot be opened for writing (unknown channel, wrong key, taken).
    """
    if ref is None:
        yield RunStream(None)
        return
    writer = ChannelWriter.from_ref(source, ref.model_dump())
    try:
        await writer.__aenter__()
    except SdkChannelError as exc:
        raise ChannelError(f"cannot stream to channel {ref.channel_id}: {exc}") from exc
    try:
        yield RunStream(writer)
    finally:
        with anyio.CancelScope(shield=True):  # bounded by the SDK's close timeout
            await writer.aclose()
