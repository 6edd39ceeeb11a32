"""The stream socket's wire format and the stream functions' inputs: pure, no event loop."""

from __future__ import annotations

import json

import pytest

from engine.errors import InvalidArguments
from engine.modules.stream_protocol import (
    UNAUTHORIZED,
    BadMessage,
    Join,
    Leave,
    SendInput,
    SetInput,
    StreamMessage,
    decode,
    error_frame,
    parse_input,
)


def test_join_decodes_from_text_and_binary() -> None:
    frame = {"type": "join", "data": {"subscriptionId": "s1", "streamName": "chat", "groupId": "room", "id": "m1"}}
    for raw in (json.dumps(frame), json.dumps(frame).encode()):
        msg = decode(raw)
        assert isinstance(msg, Join)
        assert (msg.data.subscriptionId, msg.data.streamName, msg.data.groupId, msg.data.id) == ("s1", "chat", "room", "m1")


def test_join_without_item_and_leave_with_only_the_subscription() -> None:
    join = decode('{"type":"join","data":{"subscriptionId":"s","streamName":"x","groupId":"g","extra":1}}')
    assert isinstance(join, Join) and join.data.id is None
    leave = decode('{"type":"leave","data":{"subscriptionId":"s"}}')
    assert isinstance(leave, Leave) and leave.data.subscriptionId == "s"


@pytest.mark.parametrize("blank", ["", "   ", b"", b"\n"])
def test_blank_frames_are_ignored(blank: str | bytes) -> None:
    assert decode(blank) is None


@pytest.mark.parametrize(
    ("frame", "needle"),
    [
        ("{{{", "not valid JSON"),
        ("[" * 100_000, "not valid JSON"),
        ("[1, 2]", "expected an object"),
        ('"join"', "expected an object"),
        ("{}", "expected an object"),
        ('{"type": "hello"}', "unknown message type 'hello'"),
        ('{"type": "join"}', "data"),
        ('{"type": "join", "data": {"subscriptionId": "s", "groupId": "g"}}', "data.streamName"),
        ('{"type": "join", "data": {"subscriptionId": "s", "streamName": "", "groupId": "g"}}', "data.streamName"),
        ('{"type": "join", "data": {"subscriptionId": "s", "streamName": "x", "groupId": "g", "id": 5}}', "data.id"),
        ('{"type": "leave", "data": {}}', "data.subscriptionId"),
    ],
)
def test_hostile_frames_raise_bad_message(frame: str, needle: str) -> None:
    with pytest.raises(BadMessage) as info:
        decode(frame)
    assert needle in str(info.value)
    assert info.value.code == "invalid_message"


def test_error_frame() -> None:
    assert json.loads(error_frame("invalid_message", "nope")) == {
        "type": "error", "error": {"code": "invalid_message", "message": "nope"}}


def test_stream_messages_encode_as_iii_does() -> None:
    change = StreamMessage.change(1700, "chat", "room", "m1", "create", {"text": "hi"})
    assert json.loads(change.encode()) == {
        "type": "stream", "timestamp": 1700, "streamName": "chat", "groupId": "room", "id": "m1",
        "event": {"type": "create", "data": {"text": "hi"}}}
    custom = StreamMessage.custom(1, "chat", "room", None, "typing", {"u": 1})
    assert json.loads(custom.encode())["event"] == {"type": "event", "event": {"type": "typing", "data": {"u": 1}}}
    refused = StreamMessage(2, "chat", "room", None, UNAUTHORIZED)
    assert json.loads(refused.encode())["event"] == {"type": "unauthorized"}
    assert json.loads(StreamMessage.change(3, "s", "g", None, "sync", []).encode())["id"] is None


def test_inputs_ignore_extra_keys_and_name_the_bad_field() -> None:
    inp = parse_input(SetInput, {"stream_name": "s", "group_id": "g", "item_id": "i", "data": [1],
                                 "_caller_worker_id": "w"}, "stream::set")
    assert (inp.stream_name, inp.data) == ("s", [1])
    with pytest.raises(InvalidArguments, match="stream::set: 'item_id' field required"):
        parse_input(SetInput, {"stream_name": "s", "group_id": "g"}, "stream::set")
    with pytest.raises(InvalidArguments, match="'stream_name'"):
        parse_input(SetInput, {"stream_name": 3, "group_id": "g", "item_id": "i"}, "stream::set")
    with pytest.raises(InvalidArguments, match="'payload'"):
        parse_input(SetInput, [1], "stream::set")
    with pytest.raises(InvalidArguments, match="'type'"):
        parse_input(SendInput, {"stream_name": "s", "group_id": "g", "data": 1}, "stream::send")
    assert parse_input(SendInput, {"stream_name": "s", "group_id": "g", "type": "t"}, "stream::send").id is None
