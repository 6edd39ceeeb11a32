"""The hand-built hot-path frames are exactly what engine.protocol writes for the same model."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from engine.protocol import (
    EnqueueAction,
    ErrorBody,
    InvocationResult,
    InvokeFunction,
    VoidAction,
    decode_json,
    decode_msgpack,
    encode_json,
    encode_msgpack,
    to_wire,
)
from workers.sdk._frames import VOID_ACTION, encode, enqueue_action, invoke_frame, result_frame

IID = "0a11b1b9-3e54-46b1-8a11-a5ef239d03c2"


@pytest.mark.parametrize(
    ("fields", "action"),
    [
        ({}, None),
        ({"invocation_id": None, "data": None}, None),
        ({"data": {"p": b"\x00\xff", "n": [1, 2.5, None]}}, None),
        ({"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"}, None),
        ({"baggage": "agentos-realm=acme"}, None),
        ({"metadata": {"m": 1}}, None),
        ({"namespace": "orders"}, None),
        ({"invocation_id": None}, "void"),
        ({}, "enqueue"),
    ],
)
def test_invoke_frame_matches_the_model(fields: dict[str, Any], action: str | None) -> None:
    fields = {"invocation_id": IID, "function_id": "a::b", "data": {"x": 1}, **fields}
    model_action = {None: None, "void": VoidAction(), "enqueue": EnqueueAction(queue="slow")}
    wire_action = {None: None, "void": VOID_ACTION, "enqueue": enqueue_action("slow")}
    model = InvokeFunction(**fields, action=model_action[action])
    frame = invoke_frame(
        fields["invocation_id"],
        fields["function_id"],
        fields["data"],
        fields.get("traceparent"),
        fields.get("baggage"),
        wire_action[action],
        fields.get("metadata"),
        fields.get("namespace"),
    )
    assert frame == to_wire(model)
    assert encode(frame, use_msgpack=True) == encode_msgpack(model)
    assert encode(frame, use_msgpack=False) == encode_json(model)
    assert decode_msgpack(encode(frame, use_msgpack=True)) == model


@pytest.mark.parametrize(
    ("result", "error"),
    [
        ({"ok": True}, None),
        (None, None),
        (b"\x00bytes", None),
        (None, ErrorBody(code="invocation_failed", message="boom")),
        (None, ErrorBody(code="invocation_failed", message="boom", stacktrace="Traceback…")),
    ],
)
def test_result_frame_matches_the_model(result: Any, error: ErrorBody | None) -> None:
    model = InvocationResult(invocation_id=IID, function_id="a::b", result=result, error=error)
    frame = result_frame(IID, "a::b", result, error)
    assert frame == to_wire(model)
    assert encode(frame, use_msgpack=True) == encode_msgpack(model)
    assert encode(frame, use_msgpack=False) == encode_json(model)
    assert decode_json(encode(frame, use_msgpack=False)).invocation_id == IID


def test_bytes_travel_as_bytes_in_msgpack_and_base64_in_json() -> None:
    frame = result_frame(IID, "a::b", b"\x00bytes")
    assert msgpack.unpackb(encode(frame, use_msgpack=True))["result"] == b"\x00bytes"
    assert '"result":"AGJ5dGVz"' in str(encode(frame, use_msgpack=False))


@pytest.mark.parametrize("use_msgpack", [True, False])
def test_what_the_codec_cannot_carry_raises(use_msgpack: bool) -> None:
    with pytest.raises((TypeError, ValueError)):
        encode(result_frame(IID, "a::b", {1, 2}), use_msgpack)


def test_the_shared_actions_are_not_mutated() -> None:
    invoke_frame(None, "a::b", None, action=VOID_ACTION)
    assert VOID_ACTION == {"type": "void"}
