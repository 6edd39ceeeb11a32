"""The two hot-path frames, ``invokefunction`` and ``invocationresult``, written as wire dicts.

They are nearly all of a worker's traffic. Building the pydantic model and dumping it costs about
3.5 µs a frame (validation, then :func:`engine.protocol.to_wire`); writing the same dict directly
costs a fraction of that. The builders here produce exactly what ``to_wire`` produces for the
equivalent model (``tests/sdk/test_frames.py`` pins it for every optional field), and
:func:`encode` applies the codec the way ``encode_msgpack``/``encode_json`` do. Every other frame
(registrations, pongs, …) still goes through the models: only these two are hot.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import base64
import json
from typing import Any, TypeAlias

import msgpack

from engine.protocol import ErrorBody

__all__ = ["WireFrame", "VOID_ACTION", "enqueue_action", "invoke_frame", "result_frame", "encode"]

WireFrame: TypeAlias = dict[str, Any]
"""One frame as the codec sees it: the ``to_wire`` dict of a message."""

VOID_ACTION: WireFrame = {"type": "void"}
"""The ``action`` of a fire-and-forget call (never mutated)."""


def enqueue_action(queue: str) -> WireFrame:
    """The ``action`` of a call handed to the durable queue ``queue``."""
    return {"type": "enqueue", "queue": queue}


def invoke_frame(
    invocation_id: str | None,
    function_id: str,
    data: Any,
    traceparent: str | None = None,
    baggage: str | None = None,
    action: WireFrame | None = None,
    metadata: dict[str, Any] | None = None,
    namespace: str | None = None,
) -> WireFrame:
    """The wire dict of ``InvokeFunction(...)`` with these fields (None ones omitted).

    ``invocation_id`` and ``data`` are always present, as iii peers expect.
    """
    frame: WireFrame = {
        "type": "invokefunction",
        "invocation_id": invocation_id,
        "function_id": function_id,
        "data": data,
    }
    if traceparent is not None:
        frame["traceparent"] = traceparent
    if baggage is not None:
        frame["baggage"] = baggage
    if action is not None:
        frame["action"] = action
    if metadata is not None:
        frame["metadata"] = metadata
    if namespace is not None:
        frame["namespace"] = namespace
    return frame


def result_frame(
    invocation_id: str, function_id: str, result: Any = None, error: ErrorBody | None = None
) -> WireFrame:
    """The wire dict of ``InvocationResult(...)``: the answer to one invocation."""
    frame: WireFrame = {
        "type": "invocationresult",
        "invocation_id": invocation_id,
        "function_id": function_id,
    }
    if result is not None:
        frame["result"] = result
    if error is not None:
        frame["error"] = error.model_dump(exclude_none=True)
    return frame


def encode(frame: WireFrame, use_msgpack: bool) -> bytes | str:
    """Encode a wire dict: msgpack bytes, or a compact JSON string (bytes as base64).

    Raises:
        TypeError, ValueError: a value the codec cannot carry (e.g. a ``set``).
    """
    if use_msgpack:
        packed: bytes = msgpack.packb(frame, use_bin_type=True)
        return packed
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    # As engine.protocol.encode_json: JSON has no bytes, iii peers expect base64.
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
