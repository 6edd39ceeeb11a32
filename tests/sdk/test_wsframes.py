"""Client framing: what we write parses in websockets, and what websockets writes we can cut."""

from __future__ import annotations

import os

import pytest
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State

from workers.sdk._wsframes import (
    OP_BINARY,
    OP_TEXT,
    PLAIN,
    REST,
    WHOLE,
    MaskSource,
    classify,
    client_frame,
    locate,
)

SIZES = [0, 1, 125, 126, 127, 65535, 65536, 70000]


def server_bytes(frame: Frame) -> bytes:
    return frame.serialize(mask=False)


@pytest.mark.parametrize("size", SIZES)
def test_our_client_frames_parse_in_a_websockets_server(size: int) -> None:
    payload = os.urandom(size)
    masks = MaskSource()
    server = Protocol(Side.SERVER, state=State.OPEN, max_size=None)
    server.receive_data(client_frame(OP_BINARY, payload, masks()))
    server.receive_data(client_frame(OP_TEXT, b"caf\xc3\xa9", masks()))
    binary, text = server.events_received()
    assert (binary.opcode, binary.fin, binary.data) == (Opcode.BINARY, True, payload)
    assert (text.opcode, text.data) == (Opcode.TEXT, "café".encode())
    assert server.parser_exc is None


@pytest.mark.parametrize("size", SIZES)
def test_locate_finds_payload_and_end_in_every_length_class(size: int) -> None:
    wire = server_bytes(Frame(Opcode.BINARY, os.urandom(size))) + b"next"
    b0, b1, start, end = locate(wire, 0) or (0, 0, 0, 0)
    assert wire[end:] == b"next" and end - start == size
    assert classify(b0, b1, end - start, 2**26) == PLAIN
    # Every strict prefix of the header is "incomplete", never a wrong answer.
    for cut in range(start):
        assert locate(wire[:cut], 0) is None
    assert locate(b"xx" + wire, 2) == (b0, b1, start + 2, end + 2)


@pytest.mark.parametrize(
    ("frame", "kind"),
    [
        (Frame(Opcode.TEXT, b"{}"), PLAIN),
        (Frame(Opcode.BINARY, b"\x80"), PLAIN),
        (Frame(Opcode.BINARY, b"part", fin=False), WHOLE),
        (Frame(Opcode.CONT, b"rest"), WHOLE),
        (Frame(Opcode.PING, b"p"), WHOLE),
        (Frame(Opcode.PONG, b"p"), WHOLE),
        (Frame(Opcode.CLOSE, b"\x03\xe8"), WHOLE),
        (Frame(Opcode.BINARY, b"x", rsv1=True), REST),
    ],
)
def test_classify(frame: Frame, kind: int) -> None:
    wire = frame.serialize(mask=False) if not frame.rsv1 else _raw(frame)
    b0, b1, start, end = locate(wire, 0) or (0, 0, 0, 0)
    assert classify(b0, b1, end - start, 2**26) == kind


def _raw(frame: Frame) -> bytes:
    # Frame.serialize refuses reserved bits; build the header by hand.
    return bytes((0x80 | 0x40 | frame.opcode, len(frame.data))) + bytes(frame.data)


def test_masked_or_oversized_server_frames_go_to_websockets_with_the_rest() -> None:
    masked = Frame(Opcode.BINARY, b"abc").serialize(mask=True)
    b0, b1, start, end = locate(masked, 0) or (0, 0, 0, 0)
    assert classify(b0, b1, end - start, 2**26) == REST
    big = server_bytes(Frame(Opcode.BINARY, b"x" * 200))
    b0, b1, start, end = locate(big, 0) or (0, 0, 0, 0)
    assert classify(b0, b1, end - start, 100) == REST


def test_masks_are_four_random_bytes_across_blocks() -> None:
    masks = MaskSource()
    drawn = [masks() for _ in range(3000)]  # crosses two 4 KB blocks
    assert all(len(m) == 4 for m in drawn)
    assert len(set(drawn)) > 2900
