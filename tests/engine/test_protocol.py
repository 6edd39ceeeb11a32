"""The codec: every message type round-trips through both codecs; garbage never escapes FrameError."""

from __future__ import annotations

import json
import uuid
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import protocol as p

ids = st.text(min_size=1, max_size=40)
uuids = st.uuids().map(str)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
opt = lambda s: st.none() | s  # noqa: E731
errors = st.builds(p.ErrorBody, code=ids, message=st.text(max_size=50), stacktrace=opt(st.text(max_size=50)))
actions = st.none() | st.just(p.VoidAction()) | st.builds(p.EnqueueAction, queue=ids)

MESSAGES = st.one_of(
    st.builds(p.RegisterFunction, id=ids, description=opt(st.text(max_size=20)), request_format=json_values,
              response_format=json_values, metadata=opt(st.dictionaries(st.text(max_size=5), json_values, max_size=3))),
    st.builds(p.UnregisterFunction, id=ids),
    st.builds(p.RegisterTrigger, id=ids, trigger_type=ids, function_id=ids, config=json_values,
              namespace=opt(ids), trigger_namespace=opt(ids)),
    st.builds(p.UnregisterTrigger, id=ids, trigger_type=opt(ids)),
    st.builds(p.TriggerRegistrationResult, id=ids, trigger_type=ids, function_id=ids, error=opt(errors)),
    st.builds(p.RegisterTriggerType, id=ids, description=st.text(max_size=20), namespace=opt(ids)),
    st.builds(p.UnregisterTriggerType, id=ids, namespace=opt(ids)),
    st.builds(p.RegisterService, id=ids, name=st.text(max_size=10)),
    st.builds(p.InvokeFunction, invocation_id=opt(uuids), function_id=ids, data=json_values, traceparent=opt(ids),
              baggage=opt(ids), action=actions, metadata=opt(st.dictionaries(st.text(max_size=5), json_values, max_size=3)),
              namespace=opt(ids)),
    st.builds(p.InvocationResult, invocation_id=uuids, function_id=ids, result=json_values, error=opt(errors)),
    st.builds(p.WorkerRegistered, worker_id=ids, reattach_token=opt(ids)),
    st.builds(p.Reattach, previous_worker_id=ids, reattach_token=opt(ids)),
    st.builds(p.RegistrationRejected, code=ids, namespace=ids, worker_name=opt(ids), function_id=opt(ids), owner_worker_id=ids),
    st.just(p.Ping()),
    st.just(p.Pong()),
    st.builds(p.ErrorMessage, error=errors),
)


@settings(max_examples=300)
@given(MESSAGES)
def test_every_message_round_trips_through_json(msg: Any) -> None:
    assert p.decode_json(p.encode_json(msg)) == msg


@settings(max_examples=300)
@given(MESSAGES)
def test_every_message_round_trips_through_msgpack(msg: Any) -> None:
    assert p.decode_msgpack(p.encode_msgpack(msg)) == msg


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_garbage_bytes_raise_only_frame_error(blob: bytes) -> None:
    for decode in (p.decode_msgpack, p.decode_json):
        try:
            decode(blob)
        except p.FrameError:
            pass


@settings(max_examples=300)
@given(json_values)
def test_any_json_value_decodes_or_raises_frame_error(value: Any) -> None:
    try:
        p.decode_json(json.dumps(value))
    except p.FrameError:
        pass


def test_unknown_fields_are_ignored_like_iii() -> None:
    # Node 0.22 sends message_type, Python 0.25 sends features/caller.
    msg = p.decode_json('{"type":"registertrigger","id":"t","trigger_type":"http","function_id":"f",'
                        '"config":{},"message_type":"registertrigger"}')
    assert isinstance(msg, p.RegisterTrigger) and msg.config == {}


def test_missing_data_is_null() -> None:
    inv = str(uuid.uuid4())
    msg = p.decode_json(json.dumps({"type": "invokefunction", "function_id": "a::b", "invocation_id": inv}))
    assert isinstance(msg, p.InvokeFunction) and msg.data is None and msg.invocation_id == inv


def test_invocation_ids_go_back_exactly_as_sent() -> None:
    msg = p.decode_json('{"type":"invocationresult","invocation_id":"AEC8B139-0000-0000-0000-00000000000A","function_id":"f"}')
    assert msg.invocation_id == "AEC8B139-0000-0000-0000-00000000000A"  # type: ignore[union-attr]


def test_hand_built_wire_dicts_match_model_dump() -> None:
    inv = str(uuid.uuid4())
    for msg in (p.InvokeFunction(invocation_id=inv, function_id="f", data={"a": 1}, action=p.EnqueueAction(queue="q"), baggage="b"),
                p.InvokeFunction(function_id="f"),
                p.InvocationResult(invocation_id=inv, function_id="f", result=[1]),
                p.InvocationResult(invocation_id=inv, function_id="f", error=p.ErrorBody(code="c", message="m"))):
        generic = msg.model_dump(exclude_none=True)
        generic.setdefault("data", None) if generic["type"] == "invokefunction" else None
        generic.setdefault("invocation_id", None)
        assert p.to_wire(msg) == generic


def test_bad_invocation_id_names_the_field() -> None:
    with pytest.raises(p.FrameError, match="invocation_id"):
        p.decode_json('{"type":"invokefunction","function_id":"f","invocation_id":"not-a-uuid"}')


def test_frame_error_keeps_the_invocation_id_when_it_can() -> None:
    inv = str(uuid.uuid4())
    with pytest.raises(p.FrameError) as info:
        p.decode_json(json.dumps({"type": "invokefunction", "invocation_id": inv}))  # no function_id
    assert info.value.invocation_id == inv


@pytest.mark.parametrize("frame", ['{"type":"nope"}', "[1,2]", '"str"', "{}", '{"type":42}', "{bad json"])
def test_invalid_frames_raise_frame_error(frame: str) -> None:
    with pytest.raises(p.FrameError):
        p.decode_json(frame)


def test_msgpack_carries_bytes_untouched_and_json_writes_base64() -> None:
    msg = p.InvokeFunction(invocation_id=str(uuid.uuid4()), function_id="f", data={"blob": b"\x00\xff"})
    assert p.decode_msgpack(p.encode_msgpack(msg)).data == {"blob": b"\x00\xff"}  # type: ignore[union-attr]
    assert json.loads(p.encode_json(msg))["data"] == {"blob": "AP8="}


def test_invoke_always_writes_data_and_invocation_id() -> None:
    wire = json.loads(p.encode_json(p.InvokeFunction(function_id="f")))
    assert wire == {"type": "invokefunction", "function_id": "f", "data": None, "invocation_id": None}


def test_void_action_is_discriminated() -> None:
    raw = msgpack.packb({"type": "invokefunction", "function_id": "f", "action": {"type": "void"}})
    assert isinstance(p.decode_msgpack(raw).action, p.VoidAction)  # type: ignore[union-attr]
    with pytest.raises(p.FrameError):
        p.decode_json('{"type":"invokefunction","function_id":"f","action":{"type":"explode"}}')


def test_public_surface_is_pinned() -> None:
    assert set(p.__all__) >= {"Message", "decode_json", "decode_msgpack", "encode_json", "encode_msgpack", "FrameError"}
    for name in p.__all__:
        assert hasattr(p, name), name


@settings(max_examples=200)
@given(opt(uuids), ids, json_values, opt(ids), opt(ids), opt(st.dictionaries(st.text(max_size=5), json_values, max_size=3)))
def test_the_engines_outbound_call_encodes_like_the_model(inv: str | None, fid: str, data: Any, tp: str | None,
                                                           bg: str | None, meta: dict[str, Any] | None) -> None:
    ours = p.OutboundInvoke(inv, fid, data, tp, bg, meta)
    model = p.InvokeFunction(invocation_id=inv, function_id=fid, data=data, traceparent=tp, baggage=bg, metadata=meta)
    assert p.to_wire(ours) == p.to_wire(model)
    assert p.decode_msgpack(p.encode_msgpack(ours)) == model
    assert p.decode_json(p.encode_json(ours)) == model


@settings(max_examples=300)
@given(MESSAGES)
def test_dispatch_on_the_tag_validates_like_the_union(msg: Any) -> None:
    wire = p.to_wire(msg)
    assert p.decode(dict(wire)) == p._MESSAGE.validate_python(dict(wire))


def test_the_engines_own_answers_encode_like_the_model() -> None:
    inv = str(uuid.uuid4())
    error = p.ErrorBody(code="c", message="m")
    for ours, model in ((p.OutboundResult(inv, "f", result={"a": 1}), p.InvocationResult(invocation_id=inv, function_id="f", result={"a": 1})),
                        (p.OutboundResult(inv, "f", error=error), p.InvocationResult(invocation_id=inv, function_id="f", error=error))):
        assert p.to_wire(ours) == p.to_wire(model)
        assert p.decode_msgpack(p.encode_msgpack(ours)) == model
