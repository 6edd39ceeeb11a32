"""WebSocket framing for the bulk of a client's traffic (RFC 6455 §5.2), without the generality.

websockets' sans-I/O protocol does everything that needs judgement: the opening handshake,
control frames (ping, pong, close), fragmented messages, and failing the connection on a bad
frame. It parses and serialises each frame through generators, an enum and a frame object, and
draws each client mask from ``os.urandom``: about 4 µs to read and 2 µs to write a 1 KB frame,
more than half of a worker's CPU per call. Nearly every frame a worker sees is one complete,
unmasked text or binary frame from the engine, and nearly every frame it sends is one complete
masked frame, so this module handles exactly those two shapes:

* :func:`locate` reads a frame header; :func:`classify` says whether the frame is *plain* (a
  complete, final, unmasked text/binary frame within the size limit: decode it directly), must go
  to websockets whole (control frames, fragments, unknown opcodes), or means the peer broke the
  protocol (a masked frame, reserved bits, an oversized payload: hand websockets the rest of the
  stream, and it fails the connection with the right close code).
* :func:`client_frame` serialises one masked frame. :class:`MaskSource` hands out masking keys
  from the kernel's randomness, read 1,024 keys at a time (RFC 6455 §5.3 wants them
  unpredictable, not fresh from a syscall).

Pure: no I/O, no clock.
"""

from __future__ import annotations

import os
import struct
from typing import Final

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets ships the C speedup for our platforms
    from websockets.utils import apply_mask

__all__ = [
    "OP_TEXT",
    "OP_BINARY",
    "PLAIN",
    "WHOLE",
    "REST",
    "locate",
    "classify",
    "client_frame",
    "MaskSource",
]

OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2

PLAIN: Final = 0
"""A complete, final, unmasked text or binary frame: the payload is the message."""
WHOLE: Final = 1
"""A frame websockets must see whole (control frames, fragments, unknown opcodes)."""
REST: Final = 2
"""A frame no server may send us: websockets gets the rest of the stream and fails it."""

_FIN: Final = 0x80
_RSV: Final = 0x70
_MASKED: Final = 0x80
_LEN16 = struct.Struct("!H")
_LEN64 = struct.Struct("!Q")
_HEAD16 = struct.Struct("!BBH")
_HEAD64 = struct.Struct("!BBQ")


def locate(data: bytes, pos: int) -> tuple[int, int, int, int] | None:
    """The frame starting at ``data[pos]``: ``(byte 0, byte 1, payload start, frame end)``.

    The frame may extend past ``len(data)`` (it is incomplete). Returns None while even the
    header is incomplete. The mask bit is reported, never skipped: servers do not mask.
    """
    size = len(data)
    if size - pos < 2:
        return None
    b0, b1 = data[pos], data[pos + 1]
    length = b1 & 0x7F
    start = pos + 2
    if length == 126:
        if size - pos < 4:
            return None
        (length,) = _LEN16.unpack_from(data, start)
        start += 2
    elif length == 127:
        if size - pos < 10:
            return None
        (length,) = _LEN64.unpack_from(data, start)
        start += 8
    return b0, b1, start, start + length


def classify(b0: int, b1: int, length: int, max_size: int) -> int:
    """:data:`PLAIN`, :data:`WHOLE` or :data:`REST` for a frame header (see the module doc)."""
    if b1 & _MASKED or b0 & _RSV or length > max_size:
        return REST
    opcode = b0 & 0x0F
    if b0 & _FIN and (opcode == OP_BINARY or opcode == OP_TEXT):
        return PLAIN
    return WHOLE


def client_frame(opcode: int, payload: bytes, mask: bytes) -> bytes:
    """One final, masked frame carrying ``payload`` (what a client must send)."""
    length = len(payload)
    if length < 126:
        header = bytes((_FIN | opcode, _MASKED | length))
    elif length < 65536:
        header = _HEAD16.pack(_FIN | opcode, _MASKED | 126, length)
    else:
        header = _HEAD64.pack(_FIN | opcode, _MASKED | 127, length)
    return header + mask + apply_mask(payload, mask)


class MaskSource:
    """Masking keys: ``masks()`` returns 4 fresh random bytes, read in blocks from the kernel."""

    __slots__ = ("_block", "_next")

    _BLOCK = 4096

    def __init__(self) -> None:
        self._block = b""
        self._next = 0

    def __call__(self) -> bytes:
        i = self._next
        if i >= len(self._block):
            self._block = os.urandom(self._BLOCK)
            i = 0
        self._next = i + 4
        return self._block[i : i + 4]
