"""The opening handshake of a server-side WebSocket, sans I/O: upgrade request in, response out.

Theory of operation
-------------------
A handshake runs once per connection, off every hot path, so it reuses websockets' sans-I/O
pieces rather than our own: :meth:`websockets.http11.Request.parse` reads the HTTP request from a
:class:`websockets.streams.StreamReader` fed whatever the socket received, and
:class:`websockets.server.ServerProtocol` checks the request and builds the response (``accept``
for the 101 or the error websockets picks for a bad upgrade, ``reject`` for a refusal).

Bytes that arrive right behind the request (a client may send frames before it reads the 101)
are not part of it: :meth:`Handshake.leftover` hands them over for :mod:`engine.frames` to parse.

Like :mod:`engine.frames`, this module is pure: no I/O, no clock. The shell,
:class:`engine.websocket.WebSocket`, writes the response, runs the handshake timeout and asks its
listener whether to accept.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, cast

from websockets.http11 import Request, Response
from websockets.server import ServerProtocol
from websockets.streams import StreamReader
from websockets.typing import Subprotocol

__all__ = ["Handshake"]


class Handshake:
    """The server side of one connection's opening handshake.

    Args:
        subprotocols: the subprotocols this server speaks, in order of preference.
    """

    __slots__ = ("subprotocol", "_subprotocols", "_buffer", "_parser")

    def __init__(self, subprotocols: list[str]) -> None:
        self.subprotocol: str | None = None
        """The subprotocol the last :meth:`accept` agreed on (None: the client offered none of ours)."""
        self._subprotocols = subprotocols
        self._buffer = StreamReader()
        self._parser: Generator[None, None, Request] = Request.parse(self._buffer.read_line)
        next(self._parser)  # run to the first read: the parser now waits for bytes

    def receive_data(self, data: bytes) -> Request | None:
        """Take the next bytes of the connection; return the request once they complete it.

        Call it with every chunk read until it returns a request, then take :meth:`leftover`.

        Raises:
            Exception: the request is malformed or oversized, as websockets' parser reports it
                (``ValueError``, ``EOFError``, ``SecurityError``, ``NotImplementedError``). Answer
                nothing and close the connection.
        """
        self._buffer.feed_data(data)
        try:
            next(self._parser)
        except StopIteration as done:
            return cast(Request, done.value)
        return None  # the request is not complete yet

    def leftover(self) -> bytes:
        """The bytes received behind the request (the first frames); the buffer is emptied."""
        rest = bytes(self._buffer.buffer)
        self._buffer.buffer.clear()
        return rest

    def accept(self, request: Request) -> Response:
        """The 101 response, or the error response websockets picks for a bad upgrade request.

        Sets :attr:`subprotocol` to the one agreed on.
        """
        protocol = self._protocol()
        response = protocol.accept(request)
        self.subprotocol = protocol.subprotocol
        return response

    def reject(self, status: int, text: str) -> Response:
        """A plain-text HTTP error response; the connection is to be closed after it."""
        return self._protocol().reject(status, text)

    def _protocol(self) -> ServerProtocol:
        return ServerProtocol(subprotocols=cast(list[Subprotocol], self._subprotocols),
                              select_subprotocol=_select_subprotocol)


def _select_subprotocol(protocol: ServerProtocol, offered: Any) -> Subprotocol | None:
    # Our SDK offers agentos.msgpack; iii SDKs offer nothing and get JSON.
    available = protocol.available_subprotocols or ()
    return next((s for s in available if s in offered), None)
