"""Data channels from a worker: the one-way byte/text pipes the engine relays (iii §1.9).

A channel has two ends, each named by a reference ``{channel_id, access_key, direction}``:
``engine::channels::create`` makes one and answers both references, and the HTTP module puts a
``request_body`` (read) and a ``response`` (write) reference in every request it hands a
handler. An end is a WebSocket to ``<engine url>/ws/channels/{id}?key=…&dir=read|write``,
opened on first use (or on ``async with``)::

    writer, reader = await open_channel(conn)          # both ends, e.g. to pass one on
    async with writer:                                 # closing ends the stream
        await writer.send_bytes(b"…")
    data = await reader.read_all()

In an ``http``-triggered handler, stream the response instead of returning it::

    @function("demo::events")
    async def events(req: dict, ctx: Context) -> None:
        async with http_response(ChannelWriter.from_ref(ctx, req["response"])) as res:
            await res.set_status(200)
            await res.sse("tick", {"n": 1})            # content-type: text/event-stream

Frames keep their kind and order: ``send_text`` frames arrive as ``str``, ``send_bytes`` as
``bytes`` (split into 64 KiB frames, so any reader's frame limit is met). A writer faster than
its reader is paused by the engine, never buffered without bound. One task writes to a writer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self
from urllib.parse import quote

import anyio.lowlevel
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidStatus,
)

from .context import Context
from .errors import DefinitionError, SdkError
from .options import ConnectOptions

if TYPE_CHECKING:
    from .connection import Connection

__all__ = [
    "ChannelError", "ChannelReader", "ChannelWriter", "HttpResponse", "Frame", "channel_from_ref",
    "http_response", "is_channel_ref", "open_channel",
]

Frame = str | bytes
Direction = Literal["read", "write"]

FRAME_BYTES = 64 * 1024
"""Largest binary frame a writer sends; longer ``send_bytes`` payloads are split."""
_OPEN_TIMEOUT = 10.0
_CLOSE_TIMEOUT = 2.0


class ChannelError(SdkError):
    """A channel end could not be opened (unknown channel or key, engine unreachable), or the
    other side went away (a writer whose reader is gone)."""


def is_channel_ref(value: Any) -> bool:
    """True if ``value`` is a channel reference ``{channel_id, access_key, direction}``."""
    return (isinstance(value, Mapping) and isinstance(value.get("channel_id"), str)
            and isinstance(value.get("access_key"), str) and value.get("direction") in ("read", "write"))


def _endpoint(source: Connection | Context | str) -> tuple[str, str | None]:
    """The engine URL (and token) to open channel ends on."""
    if isinstance(source, str):
        return source, None
    holder: Any = source.dispatcher if isinstance(source, Context) else source
    options = getattr(holder, "options", None)
    if isinstance(options, ConnectOptions):
        return options.url, options.token
    raise DefinitionError("channels need a Connection, the Context of a handler it serves, or the engine URL")


def _url(base: str, ref: Mapping[str, Any]) -> str:
    base, _, query = base.partition("?")
    own = f"key={quote(ref['access_key'], safe='')}&dir={ref['direction']}"
    return f"{base.rstrip('/')}/ws/channels/{quote(ref['channel_id'], safe='')}?{f'{query}&' if query else ''}{own}"


class _End:
    """One end of a channel: a lazily opened WebSocket."""

    direction: Direction

    def __init__(self, source: Connection | Context | str, ref: Mapping[str, Any]) -> None:
        if not is_channel_ref(ref):
            raise DefinitionError(f"not a channel reference: {ref!r}")
        if ref["direction"] != self.direction:
            raise DefinitionError(f"{type(self).__name__} needs a {self.direction!r} reference, got {ref['direction']!r}")
        base, self._token = _endpoint(source)
        self.channel_id: str = ref["channel_id"]
        self.url = _url(base, ref)
        self._ws: ClientConnection | None = None

    @classmethod
    def from_ref(cls, source: Connection | Context | str, ref: Mapping[str, Any]) -> Self:
        """The end named by ``ref`` (from a payload), opened through ``source``'s engine.

        Raises:
            DefinitionError: ``ref`` is not a reference for this direction, or ``source`` has no URL.
        """
        return cls(source, ref)

    async def _open(self) -> ClientConnection:
        if self._ws is None:
            headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
            try:
                self._ws = await ws_connect(self.url, additional_headers=headers, compression=None, max_size=None,
                                            open_timeout=_OPEN_TIMEOUT, close_timeout=_CLOSE_TIMEOUT)
            except InvalidStatus as exc:
                raise ChannelError(f"channel {self.channel_id} refused the {self.direction} end: HTTP "
                                   f"{exc.response.status_code} (unknown channel, wrong key, or already open)") from exc
            except (OSError, TimeoutError, InvalidHandshake) as exc:
                raise ChannelError(f"cannot open channel {self.channel_id}: {exc}") from exc
        return self._ws

    async def aclose(self) -> None:
        """Close this end (for a writer: end the stream). Idempotent."""
        ws = await self._open() if self.direction == "write" else self._ws
        if ws is not None:
            await ws.close()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()


class ChannelReader(_End):
    """The read end: an async iterator of frames (``str`` or ``bytes``) until the writer closes.

    Raises (while iterating):
        ChannelError: the end cannot be opened, or the connection broke mid-stream.
    """

    direction: Direction = "read"

    async def __aenter__(self) -> ChannelReader:
        await self._open()
        return self

    def __aiter__(self) -> ChannelReader:
        return self

    async def __anext__(self) -> Frame:
        ws = await self._open()
        try:
            return await ws.recv()
        except ConnectionClosedOK:
            raise StopAsyncIteration from None
        except ConnectionClosed as exc:
            raise ChannelError(f"channel {self.channel_id} broke: {exc}") from exc

    async def read_all(self) -> bytes:
        """Every frame until the end, joined (text frames as UTF-8)."""
        parts = [frame.encode() if isinstance(frame, str) else frame async for frame in self]
        return b"".join(parts)


class ChannelWriter(_End):
    """The write end. ``close()`` (or leaving ``async with``) ends the stream for the reader.

    Raises (on send):
        ChannelError: the end cannot be opened, or the reader is gone.
    """

    direction: Direction = "write"

    async def __aenter__(self) -> ChannelWriter:
        await self._open()
        return self

    async def _send(self, frame: Frame) -> None:
        ws = await self._open()
        try:
            await ws.send(frame)
            # A send into a roomy socket buffer never yields: let the rest of the worker (other
            # handlers, keep-alive pings, the close of a departed reader) run between frames.
            await anyio.lowlevel.checkpoint()
        except ConnectionClosed as exc:
            raise ChannelError(f"channel {self.channel_id}: the reader is gone ({exc.rcvd.reason if exc.rcvd else exc})") from exc

    async def send_text(self, text: str) -> None:
        """Write one text frame."""
        await self._send(text)

    async def send_bytes(self, data: bytes | bytearray | memoryview) -> None:
        """Write bytes, as frames of at most 64 KiB."""
        view = memoryview(data)
        for start in range(0, len(view), FRAME_BYTES):
            await self._send(bytes(view[start:start + FRAME_BYTES]))

    async def close(self) -> None:
        """End the stream (opening the end first if nothing was written, so the reader learns)."""
        await self.aclose()


async def open_channel(conn: Connection, buffer_size: int | None = None) -> tuple[ChannelWriter, ChannelReader]:
    """Create a channel on the engine (``engine::channels::create``) and return both ends.

    Args:
        buffer_size: frames the engine buffers between the ends (engine default: 64).

    Raises:
        InvocationError: the engine refused (e.g. ``invalid_arguments`` for a bad size).
    """
    refs = await conn.trigger("engine::channels::create", {} if buffer_size is None else {"buffer_size": buffer_size})
    return ChannelWriter(conn, refs["writer"]), ChannelReader(conn, refs["reader"])


def channel_from_ref(source: Connection | Context | str, ref: Mapping[str, Any]) -> ChannelReader | ChannelWriter:
    """The end a reference from a payload names: a reader for ``read``, a writer for ``write``.

    Args:
        source: the connection (or a handler's context, or the engine URL) to open it through.

    Raises:
        DefinitionError: ``ref`` is not a channel reference.
    """
    if not is_channel_ref(ref):
        raise DefinitionError(f"not a channel reference: {ref!r}")
    return ChannelReader(source, ref) if ref["direction"] == "read" else ChannelWriter(source, ref)


class HttpResponse:
    """Streams an HTTP response through a handler's ``response`` channel (then return None).

    Status and headers must come before the first body chunk: the engine starts the response
    when the first chunk arrives. Leaving ``async with`` closes the stream.
    """

    def __init__(self, writer: ChannelWriter) -> None:
        self.writer = writer
        self.body_started = False
        self._content_type = False

    async def __aenter__(self) -> HttpResponse:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def set_status(self, status_code: int) -> None:
        """Set the status (200–599) of the response."""
        await self.writer.send_text(json.dumps({"type": "set_status", "status_code": status_code}))

    async def set_headers(self, headers: Mapping[str, str]) -> None:
        """Set (merge) response headers."""
        self._content_type = self._content_type or any(k.lower() == "content-type" for k in headers)
        await self.writer.send_text(json.dumps({"type": "set_headers", "headers": dict(headers)}))

    async def write(self, chunk: bytes | str) -> None:
        """Write a body chunk (text is sent UTF-8 encoded); the first one starts the response."""
        self.body_started = True
        await self.writer.send_bytes(chunk.encode() if isinstance(chunk, str) else chunk)

    async def sse(self, event: str | None, data: Any, *, id: str | None = None) -> None:
        """Write one server-sent event; ``data`` that is not a string is sent as JSON.

        Before the body starts, sets ``content-type: text/event-stream`` and
        ``cache-control: no-cache`` unless a content type was set.

        Raises:
            DefinitionError: ``event`` or ``id`` contains a line break.
        """
        if any(v is not None and ("\n" in v or "\r" in v) for v in (event, id)):
            raise DefinitionError("an SSE event name or id cannot contain line breaks")
        if not self.body_started and not self._content_type:
            await self.set_headers({"content-type": "text/event-stream", "cache-control": "no-cache"})
        text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
        lines = [f"event: {event}"] if event is not None else []
        if id is not None:
            lines.append(f"id: {id}")
        lines += [f"data: {line}" for line in text.splitlines() or [""]]
        await self.write("\n".join(lines) + "\n\n")

    async def close(self) -> None:
        """End the response."""
        await self.writer.close()


def http_response(writer: ChannelWriter) -> HttpResponse:
    """Streaming-response helpers (``set_status``, ``set_headers``, ``write``, ``sse``) over the
    ``response`` channel writer of an ``http``-triggered handler."""
    return HttpResponse(writer)
