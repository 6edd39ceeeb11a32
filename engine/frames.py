"""RFC 6455 framing for the server side of a WebSocket: parse client frames, build server frames.

Theory of operation
-------------------
The bus reads many small messages per ``data_received`` and writes many per peer, so framing is
on every hot path. websockets' sans-I/O :class:`~websockets.protocol.Protocol` parses with a
generator per frame (~4 µs a frame in a batch) and is kept for the opening handshake only (see
:mod:`engine.ws_handshake`); this module is the framing that replaces it once a connection is open.

:class:`FrameReader` is fed the bytes of one connection in arrival order and returns what they
completed: whole messages (``str`` for text, ``bytes`` for binary, fragments already joined) and
control frames. It keeps at most one partial frame and, while a frame's payload is arriving in
pieces, joins the pieces only once (a 16 MiB frame in 64 KiB reads is not copied 256 times).

Everything a client can get wrong ends the connection with the close code RFC 6455 §7.4.1 names,
raised as :class:`CloseError`: unmasked frames, reserved bits or opcodes, bad control frames or
fragment sequences (1002), text that is not UTF-8 (1007), a message over ``max_size`` (1009,
raised as soon as a header announces it: the payload is never buffered). The checks are the ones
websockets makes, so the connection behaves as it did over websockets' own parser.

:func:`encode_frame` builds an unmasked server frame (servers never mask, §5.1). Like the reader,
this module is pure: no I/O, no clock.
"""

from __future__ import annotations

import struct
from typing import Final, NamedTuple

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets built without its C extension
    from websockets.utils import apply_mask

__all__ = [
    "TEXT",
    "BINARY",
    "CLOSE",
    "PING",
    "PONG",
    "Control",
    "Data",
    "Message",
    "CloseError",
    "FrameReader",
    "encode_frame",
    "encode_close",
    "parse_close",
]

CONT: Final = 0x0
TEXT: Final = 0x1
BINARY: Final = 0x2
CLOSE: Final = 0x8
PING: Final = 0x9
PONG: Final = 0xA
_DATA = frozenset({TEXT, BINARY})
_CONTROL = frozenset({CLOSE, PING, PONG})

# Close codes a peer may send (RFC 6455 §7.4.1 and the IANA registry), as websockets accepts them.
_EXTERNAL_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})

_H16 = struct.Struct("!BBH")
_H64 = struct.Struct("!BBQ")


class CloseError(Exception):
    """The peer broke the protocol: fail the connection with ``code`` (RFC 6455 §7.1.7)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code} {reason}")
        self.code = code
        self.reason = reason


class Control(NamedTuple):
    """A control frame the reader passes on: ``opcode`` is CLOSE, PING or PONG."""

    opcode: int
    payload: bytes


Data = str | bytes
"""A data message: ``str`` for text, ``bytes`` for binary."""

Message = str | bytes | Control
"""What :meth:`FrameReader.feed` returns per completed frame or message."""


class FrameReader:
    """Parses the masked frames a client sends, joining fragmented messages.

    Args:
        max_size: the largest message (all its fragments together) accepted, in bytes.
    """

    __slots__ = ("max_size", "controls", "_rest", "_need", "_parts", "_opcode", "_size")

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self.controls = False
        """True when the last :meth:`feed` returned a control frame (most batches hold none)."""
        self._rest: list[bytes] = []  # the bytes of an incomplete frame, in pieces
        self._need = 0  # how many bytes _rest must hold before parsing is worth trying again
        self._parts: list[bytes] = []  # the fragments of an incomplete message
        self._opcode = 0  # TEXT or BINARY while a fragmented message is open, else 0
        self._size = 0

    def feed(self, data: bytes) -> list[Message]:
        """Take the next bytes of the stream; return the messages and control frames they end.

        Call it with every chunk read from the socket, in order.

        Raises:
            CloseError: the stream broke the protocol; the reader must not be fed again.
        """
        self.controls = False
        rest = self._rest
        if rest:
            rest.append(data)
            self._need -= len(data)
            if self._need > 0:
                return []
            data = b"".join(rest)
            rest.clear()
        out: list[Message] = []
        end = len(data)
        pos = 0
        max_size = self.max_size
        while True:
            avail = end - pos
            if avail < 2:
                break
            head1 = data[pos]
            head2 = data[pos + 1]
            if not head2 & 0x80:
                raise CloseError(1002, "incorrect masking")
            length = head2 & 0x7F
            if length < 126:
                start = pos + 6
            elif length == 126:
                if avail < 4:
                    break
                length = (data[pos + 2] << 8) | data[pos + 3]
                start = pos + 8
            else:
                if avail < 10:
                    break
                length = int.from_bytes(data[pos + 2:pos + 10], "big")
                start = pos + 14
            if head1 == 0x82 or head1 == 0x81:  # FIN, no RSV bits, binary or text: nearly every frame
                if self._opcode:
                    raise CloseError(1002, "expected a continuation frame")
                if length > max_size:
                    raise CloseError(1009, f"frame with {length} bytes exceeds limit of {max_size} bytes")
                stop = start + length
                if stop > end:
                    break
                payload = apply_mask(data[start:stop], data[start - 4:start])
                pos = stop
                out.append(payload if head1 == 0x82 else _text(payload))
                continue
            fin = bool(head1 & 0x80)
            opcode = head1 & 0x0F
            if head1 & 0x70:
                raise CloseError(1002, "reserved bits must be 0")
            if opcode in _CONTROL:
                if not fin:
                    raise CloseError(1002, "fragmented control frame")
                if length > 125:
                    raise CloseError(1002, "control frame too long")
            elif opcode in _DATA or opcode == CONT:
                if length > max_size - self._size:
                    limit = max_size - self._size
                    raise CloseError(1009, f"frame with {length} bytes exceeds limit of {limit} bytes")
            else:
                raise CloseError(1002, "invalid opcode")
            stop = start + length
            if stop > end:
                break
            payload = apply_mask(data[start:stop], data[start - 4:start])
            pos = stop
            if opcode in _CONTROL:
                if opcode == CLOSE:
                    parse_close(payload)  # validates; the shell echoes the payload
                out.append(Control(opcode, payload))
                self.controls = True
            else:
                done = self._fragment(opcode, fin, payload)
                if done is not None:
                    out.append(done)
        if pos < end:
            tail = data[pos:]
            rest.append(tail)
            self._need = _frame_size(tail) - len(tail)
        return out

    def _fragment(self, opcode: int, fin: bool, payload: bytes) -> str | bytes | None:
        if opcode == CONT:
            if not self._opcode:
                raise CloseError(1002, "unexpected continuation frame")
        else:
            if self._opcode:
                raise CloseError(1002, "expected a continuation frame")
            self._opcode = opcode
        self._parts.append(payload)
        self._size += len(payload)
        if not fin:
            return None
        message = b"".join(self._parts)
        kind = self._opcode
        self._parts.clear()
        self._opcode = self._size = 0
        return message if kind == BINARY else _text(message)


def _frame_size(tail: bytes) -> int:
    """Bytes the frame that starts ``tail`` needs in all: exact once its length is readable,
    else a lower bound (its shortest possible header), so a waiting reader never over-asks."""
    if len(tail) < 2:
        return 2
    length = tail[1] & 0x7F
    if length < 126:
        return 6 + length
    if length == 126:
        return 8 + ((tail[2] << 8) | tail[3]) if len(tail) >= 4 else 8
    return 14 + int.from_bytes(tail[2:10], "big") if len(tail) >= 10 else 14


def _text(payload: bytes) -> str:
    try:
        return payload.decode()
    except UnicodeDecodeError as exc:
        raise CloseError(1007, f"invalid UTF-8 at position {exc.start}") from exc


def parse_close(payload: bytes) -> tuple[int, str]:
    """The code and reason of a close frame's payload (1005 when it has none).

    Raises:
        CloseError: a one-byte payload, a code no peer may send, or a reason that is not UTF-8.
    """
    if not payload:
        return 1005, ""
    if len(payload) == 1:
        raise CloseError(1002, "close frame too short")
    code = (payload[0] << 8) | payload[1]
    if not (code in _EXTERNAL_CODES or 3000 <= code < 5000):
        raise CloseError(1002, "invalid status code")
    return code, _text(payload[2:])


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked, unfragmented server frame (header and payload)."""
    n = len(payload)
    if n < 126:
        return bytes((0x80 | opcode, n)) + payload
    if n < 65536:
        return _H16.pack(0x80 | opcode, 126, n) + payload
    return _H64.pack(0x80 | opcode, 127, n) + payload


def encode_close(code: int, reason: str = "") -> bytes:
    """A close frame; the reason is cut to fit the 125-byte control payload."""
    body = code.to_bytes(2, "big") + reason.encode()[:123].decode(errors="ignore").encode()
    return encode_frame(CLOSE, body)
