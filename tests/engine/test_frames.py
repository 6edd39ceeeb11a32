"""The server-side framing: what websockets' client writes, we read; what we write, it reads.

websockets' sans-I/O :class:`~websockets.protocol.Protocol` is the reference on both ends, so
these tests need no event loop and no socket.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State

from engine import frames as f


def client() -> Protocol:
    return Protocol(Side.CLIENT, state=State.OPEN, max_size=None)


def wire(*messages: str | bytes) -> bytes:
    """What a websockets client sends for ``messages``."""
    c = client()
    for m in messages:
        c.send_text(m.encode()) if isinstance(m, str) else c.send_binary(m)
    return b"".join(c.data_to_send())


def raw_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, masked: bool = True) -> bytes:
    """A client frame built by hand, for the frames a well-behaved client never sends."""
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    n = len(payload)
    bit = 0x80 if masked else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([bit | 127]) + n.to_bytes(8, "big")
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def read(data: bytes, max_size: int = 1 << 20) -> list[f.Message]:
    return f.FrameReader(max_size).feed(data)


def close_code(data: bytes, max_size: int = 1 << 20) -> int:
    with pytest.raises(f.CloseError) as info:
        read(data, max_size)
    return info.value.code


# -- reading --------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_every_length_encoding_reads_back(size: int) -> None:
    blob, text = os.urandom(size), "é" * (size // 2)
    assert read(wire(blob, text)) == [blob, text]


messages = st.lists(st.binary(max_size=300) | st.text(max_size=100), min_size=1, max_size=8)


@settings(max_examples=200)
@given(messages, st.lists(st.integers(min_value=1, max_value=400), max_size=20))
def test_any_chunking_reads_the_same_messages(sent: list[str | bytes], cuts: list[int]) -> None:
    data = wire(*sent)
    reader, got, pos = f.FrameReader(1 << 20), [], 0
    for cut in cuts:
        got += reader.feed(data[pos:pos + cut])
        pos += cut
    got += reader.feed(data[pos:])
    assert got == sent


def test_one_byte_at_a_time_never_waits_for_bytes_that_will_not_come() -> None:
    data = wire(b"x" * 200, "tiny", b"")
    reader, got = f.FrameReader(1 << 20), []
    for i in range(len(data)):
        got += reader.feed(data[i:i + 1])
    assert got == [b"x" * 200, "tiny", b""]


def test_fragments_are_joined_and_control_frames_pass_between_them() -> None:
    c = client()
    c.send_text(b"he", fin=False)
    c.send_ping(b"p")
    c.send_continuation(b"llo", fin=True)
    c.send_binary(b"a", fin=False)
    c.send_continuation(b"b", fin=True)
    reader = f.FrameReader(1 << 20)
    assert reader.feed(b"".join(c.data_to_send())) == [f.Control(f.PING, b"p"), "hello", b"ab"]
    assert reader.controls


def test_a_batch_without_control_frames_says_so() -> None:
    reader = f.FrameReader(1 << 20)
    reader.feed(wire(b"a", b"b"))
    assert not reader.controls


def test_close_frames_are_validated_and_passed_on() -> None:
    c = client()
    c.send_close(1000, "bye")
    assert read(b"".join(c.data_to_send())) == [f.Control(f.CLOSE, b"\x03\xe8bye")]
    assert f.parse_close(b"") == (1005, "")
    assert f.parse_close(b"\x0f\xa0app") == (4000, "app")


@pytest.mark.parametrize(("frame", "code"), [
    (raw_frame(0x2, b"x", masked=False), 1002),
    (raw_frame(0x2, b"x", rsv=0x40), 1002),
    (raw_frame(0x3, b"x"), 1002),
    (raw_frame(0x9, b"x" * 126), 1002),
    (raw_frame(0x9, b"x", fin=False), 1002),
    (raw_frame(0x0, b"x"), 1002),
    (raw_frame(0x1, b"\xff\xfe"), 1007),
    (raw_frame(0x8, b"\x03"), 1002),
    (raw_frame(0x8, b"\x03\xed"), 1002),  # 1005 may not be sent
    (raw_frame(0x8, b"\x03\xe8\xff"), 1007),
], ids=["unmasked", "rsv", "opcode", "long-ping", "fragmented-ping", "orphan-continuation", "bad-utf8",
        "short-close", "reserved-close-code", "bad-close-reason"])
def test_protocol_violations_name_their_close_code(frame: bytes, code: int) -> None:
    assert close_code(frame) == code


def test_a_new_message_inside_a_fragmented_one_is_refused() -> None:
    assert close_code(raw_frame(0x1, b"a", fin=False) + raw_frame(0x1, b"b")) == 1002
    assert close_code(raw_frame(0x2, b"a", fin=False) + raw_frame(0x2, b"b", fin=False)) == 1002


def test_too_big_is_refused_from_the_header_alone() -> None:
    header_only = raw_frame(0x2, b"x" * 2000)[:8]  # 2-byte length + mask: no payload yet
    assert close_code(header_only, max_size=1000) == 1009
    assert read(wire(b"x" * 1000), max_size=1000) == [b"x" * 1000]


def test_too_big_counts_every_fragment() -> None:
    data = raw_frame(0x2, b"x" * 600, fin=False) + raw_frame(0x0, b"x" * 600)
    assert close_code(data, max_size=1000) == 1009


# -- writing --------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_server_frames_read_back_in_a_websockets_client(size: int) -> None:
    payload = os.urandom(size)
    c = client()
    c.receive_data(f.encode_frame(f.BINARY, payload) + f.encode_frame(f.TEXT, b"hi"))
    assert c.events_received() == [Frame(Opcode.BINARY, payload), Frame(Opcode.TEXT, b"hi")]


def test_close_frames_keep_a_valid_reason_when_cut() -> None:
    frame = f.encode_close(1008, "é" * 100)  # 200 bytes of reason: cut to 123, never mid-character
    c = client()
    c.receive_data(frame)
    assert c.close_rcvd is not None and c.close_rcvd.code == 1008
    assert len(c.close_rcvd.reason.encode()) <= 123
