"""The ``stream_to`` channel as a :class:`~workers.llm_router.complete.Sink`.

Each OpenAI chunk goes out as one JSON text frame. A send that waits longer than
``stream_send_timeout_s`` (a reader that stopped reading fills the engine's bounded buffer) or
fails (the reader went away) ends the call with ``llm_stream_error``. Before the channel closes
on an error, the reader gets one last frame ``{"error": {message, type, code}}`` — what OpenAI
sends mid-stream — so it learns why the stream ended early.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio

from workers.sdk import Context
from workers.sdk.channels import ChannelError, ChannelWriter
from workers.sdk.errors import DefinitionError

from .errors import LlmError, StreamError
from .payloads import ChannelRef

__all__ = ["ChannelSink"]

log = logging.getLogger(__name__)


class ChannelSink:
    """Writes chunk frames to a channel writer. ``async with`` opens it and always closes it.

    Args:
        ctx: the invocation's context (the channel is opened on the same engine).
        ref: the writer reference.
        send_timeout_s: how long one frame may wait for the reader.

    Raises:
        StreamError: on enter, the channel refused the writer (unknown channel, wrong key).
    """

    def __init__(self, ctx: Context, ref: ChannelRef, send_timeout_s: float) -> None:
        self.ref = ref
        self.send_timeout_s = send_timeout_s
        try:
            self._writer = ChannelWriter.from_ref(ctx, ref.model_dump())
        except DefinitionError as exc:
            raise StreamError(f"cannot stream here: {exc}") from exc
        self.frames = 0

    async def __aenter__(self) -> ChannelSink:
        try:
            await self._writer.__aenter__()
        except ChannelError as exc:
            raise StreamError(f"stream_to: {exc}") from exc
        return self

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self._writer.close()
        except ChannelError as err:
            log.debug("closing stream channel %s: %s", self.ref.channel_id, err)

    async def send(self, frame: dict[str, Any]) -> None:
        """Write one frame.

        Raises:
            StreamError: the reader is gone, or did not take the frame in time.
        """
        text = json.dumps(frame, separators=(",", ":"))
        try:
            with anyio.fail_after(self.send_timeout_s):
                await self._writer.send_text(text)
        except ChannelError as exc:
            raise StreamError(f"the stream's reader went away: {exc}") from exc
        except TimeoutError as exc:
            raise StreamError(f"the stream's reader stalled for {self.send_timeout_s}s") from exc
        self.frames += 1

    async def fail(self, error: BaseException) -> None:
        """Tell the reader why the stream ends early (best effort: the call fails anyway).

        An :class:`LlmError` is passed on as is; anything else (a bug) as a generic
        ``invocation_failed`` whose details stay in the worker's log.
        """
        if isinstance(error, LlmError):
            code, message = error.code, error.message
        else:
            code, message = "invocation_failed", "the llm-router failed; see its log"
        frame = {"error": {"message": message, "type": "llm_router_error", "code": code}}
        try:
            await self.send(frame)
        except StreamError as exc:
            log.debug("could not send the error frame on %s: %s", self.ref.channel_id, exc)
