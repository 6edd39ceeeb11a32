"""The iii wire protocol: every message as a pydantic model, and the two codecs.

Theory of operation
-------------------
Workers and the engine exchange one message per WebSocket frame. A message is a JSON object
(text frame, what the official iii SDKs send) or a msgpack map (binary frame, when the client
negotiated the ``agentos.msgpack`` subprotocol, what our SDK does). Both carry the same shape: a
``type`` tag naming the variant plus its fields, as listed in iii-protocol.md §1.2.

This module is pure: no I/O, no clock, no event loop. ``decode_json``/``decode_msgpack`` turn a
frame into one of the models of :data:`Message` (a ``type``-discriminated union validated by one
module-level ``TypeAdapter``); ``encode_json``/``encode_msgpack`` do the reverse. Past the decoder
no code touches a raw dict.

Leniency follows iii: unknown fields are ignored (Node 0.22 sends ``message_type``, Python 0.25
sends ``features``), a missing ``data`` on ``invokefunction`` is ``None``. Strictness where it
matters: an unknown ``type``, a missing required field, a non-UUID ``invocation_id`` or bytes that
are not a frame at all raise :class:`FrameError`, which the connection turns into an error answer
without closing the socket.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Annotated, Any, Literal, TypeAlias

import msgpack
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

__all__ = [
    "MSGPACK_SUBPROTOCOL",
    "Message",
    "FrameError",
    "ErrorBody",
    "VoidAction",
    "EnqueueAction",
    "Action",
    "HttpInvocation",
    "RegisterFunction",
    "UnregisterFunction",
    "RegisterTrigger",
    "UnregisterTrigger",
    "TriggerRegistrationResult",
    "RegisterTriggerType",
    "UnregisterTriggerType",
    "RegisterService",
    "InvokeFunction",
    "InvocationResult",
    "WorkerRegistered",
    "Reattach",
    "RegistrationRejected",
    "Ping",
    "Pong",
    "ErrorMessage",
    "decode",
    "decode_json",
    "decode_msgpack",
    "encode_json",
    "encode_msgpack",
    "to_wire",
    "UUIDStr",
]

MSGPACK_SUBPROTOCOL = "agentos.msgpack"


class FrameError(ValueError):
    """A frame that is not a valid message: bad bytes, unknown ``type`` or missing fields.

    ``code`` is the wire error code the engine answers with; ``invocation_id`` is set when the
    broken frame still told us which call it belonged to, so the caller can be answered.
    """

    code = "serialization_error"

    def __init__(self, message: str, *, invocation_id: str | None = None) -> None:
        super().__init__(message)
        self.invocation_id = invocation_id


UUIDStr = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
"""A UUID in its hyphenated text form, kept as the string the peer sent.

The Rust engine types invocation ids as ``Uuid``, so a non-UUID id makes the frame invalid. The
check runs in pydantic-core's regex engine (~0.1 µs) instead of ``uuid.UUID()`` (~2 µs), and the
string goes back on the wire exactly as it came, so the caller matches its own id.
"""


class _Model(BaseModel):
    # Extra fields are ignored, as serde does on the Rust engine.
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class ErrorBody(_Model):
    """``{code, message, stacktrace?}``: the error half of an invocation result."""

    code: str
    message: str
    stacktrace: str | None = None


class VoidAction(_Model):
    type: Literal["void"] = "void"


class EnqueueAction(_Model):
    type: Literal["enqueue"] = "enqueue"
    queue: str


Action: TypeAlias = Annotated[VoidAction | EnqueueAction, Field(discriminator="type")]


class HttpInvocation(_Model):
    """An HTTP-invoked function: the engine calls ``url`` instead of a worker."""

    url: str
    method: str = "POST"
    timeout_ms: int | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    auth: dict[str, Any] | None = None


class RegisterFunction(_Model):
    type: Literal["registerfunction"] = "registerfunction"
    id: str
    description: str | None = None
    request_format: Any = None
    response_format: Any = None
    metadata: dict[str, Any] | None = None
    invocation: HttpInvocation | None = None


class UnregisterFunction(_Model):
    type: Literal["unregisterfunction"] = "unregisterfunction"
    id: str


class RegisterTrigger(_Model):
    type: Literal["registertrigger"] = "registertrigger"
    id: str
    trigger_type: str
    function_id: str
    config: Any = None
    metadata: dict[str, Any] | None = None
    namespace: str | None = None
    trigger_namespace: str | None = None


class UnregisterTrigger(_Model):
    type: Literal["unregistertrigger"] = "unregistertrigger"
    id: str
    trigger_type: str | None = None


class TriggerRegistrationResult(_Model):
    type: Literal["triggerregistrationresult"] = "triggerregistrationresult"
    id: str
    trigger_type: str
    function_id: str
    error: ErrorBody | None = None


class RegisterTriggerType(_Model):
    type: Literal["registertriggertype"] = "registertriggertype"
    id: str
    description: str = ""
    trigger_request_format: Any = None
    call_request_format: Any = None
    namespace: str | None = None


class UnregisterTriggerType(_Model):
    type: Literal["unregistertriggertype"] = "unregistertriggertype"
    id: str
    namespace: str | None = None


class RegisterService(_Model):
    type: Literal["registerservice"] = "registerservice"
    id: str
    name: str = ""
    description: str | None = None
    parent_service_id: str | None = None


class InvokeFunction(_Model):
    """A call. ``invocation_id`` is None for void calls (no answer is sent)."""

    type: Literal["invokefunction"] = "invokefunction"
    invocation_id: UUIDStr | None = None
    function_id: str
    data: Any = None
    traceparent: str | None = None
    baggage: str | None = None
    action: Action | None = None
    metadata: dict[str, Any] | None = None
    namespace: str | None = None


class InvocationResult(_Model):
    type: Literal["invocationresult"] = "invocationresult"
    invocation_id: UUIDStr
    function_id: str = ""
    result: Any = None
    error: ErrorBody | None = None
    traceparent: str | None = None
    baggage: str | None = None


class WorkerRegistered(_Model):
    type: Literal["workerregistered"] = "workerregistered"
    worker_id: str
    reattach_token: str | None = None
    features: list[str] | None = None


class Reattach(_Model):
    type: Literal["reattach"] = "reattach"
    previous_worker_id: str
    reattach_token: str | None = None


class RegistrationRejected(_Model):
    type: Literal["registrationrejected"] = "registrationrejected"
    code: str
    namespace: str
    worker_name: str | None = None
    function_id: str | None = None
    owner_worker_id: str = ""


class Ping(_Model):
    type: Literal["ping"] = "ping"


class Pong(_Model):
    type: Literal["pong"] = "pong"


class ErrorMessage(_Model):
    """``{"type":"error","error":{…}}``: sent before closing a connection that failed auth."""

    type: Literal["error"] = "error"
    error: ErrorBody


Message: TypeAlias = Annotated[
    RegisterFunction | UnregisterFunction | RegisterTrigger | UnregisterTrigger | TriggerRegistrationResult | RegisterTriggerType | UnregisterTriggerType | RegisterService | InvokeFunction | InvocationResult | WorkerRegistered | Reattach | RegistrationRejected | Ping | Pong | ErrorMessage,
    Field(discriminator="type"),
]

_MESSAGE = TypeAdapter(Message)

# Fields that are always written even when None: iii peers expect them present.
_ALWAYS = {"invokefunction": ("data", "invocation_id")}


def _invocation_id_of(obj: Any) -> str | None:
    if isinstance(obj, dict):
        value = obj.get("invocation_id")
        if isinstance(value, str):
            try:
                uuid.UUID(value)
            except ValueError:
                return None
            return value
    return None


def decode(obj: Any) -> Message:
    """Validate an already-parsed frame (a dict) into a message model.

    Args:
        obj: the parsed JSON or msgpack value of one frame.

    Returns:
        The message model for its ``type``.

    Raises:
        FrameError: not an object, unknown ``type``, or invalid fields.
    """
    if not isinstance(obj, dict):
        raise FrameError(f"frame must be an object, got {type(obj).__name__}")
    try:
        return _MESSAGE.validate_python(obj)
    except ValidationError as exc:
        kind = obj.get("type")
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "frame"
        raise FrameError(
            f"invalid {kind!r} frame: {where}: {first['msg']}",
            invocation_id=_invocation_id_of(obj),
        ) from exc


def decode_json(frame: str | bytes) -> Message:
    """Decode one JSON text (or JSON-in-binary) frame.

    Raises:
        FrameError: malformed JSON or an invalid message.
    """
    try:
        obj = json.loads(frame)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FrameError(f"malformed JSON frame: {exc}") from exc
    return decode(obj)


def decode_msgpack(frame: bytes) -> Message:
    """Decode one msgpack binary frame.

    Raises:
        FrameError: bytes that are not one msgpack object, or an invalid message.
    """
    try:
        obj = msgpack.unpackb(frame, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises a zoo of types (ExtraData, ValueError, …)
        raise FrameError(f"malformed msgpack frame: {exc.__class__.__name__}") from exc
    return decode(obj)


def to_wire(message: BaseModel) -> dict[str, Any]:
    """The wire dict of a message: optional fields omitted when None, as iii does.

    Payloads (``data``, ``result``) are passed through as they are, bytes included: msgpack
    carries bytes natively, and the JSON codec writes them as base64 strings.
    """
    fast = _FAST_WIRE.get(type(message))
    if fast is not None:
        return fast(message)
    out = message.model_dump(exclude_none=True)
    for name in _ALWAYS.get(out["type"], ()):
        out.setdefault(name, None)
    return out


def _invoke_wire(m: Any) -> dict[str, Any]:
    # The hot path: built by hand, ~5x faster than model_dump (bench/invoke.py).
    out = {"type": "invokefunction", "invocation_id": m.invocation_id, "function_id": m.function_id, "data": m.data}
    if m.action is not None:
        out["action"] = m.action.model_dump()
    for name in ("traceparent", "baggage", "metadata", "namespace"):
        value = getattr(m, name)
        if value is not None:
            out[name] = value
    return out


def _result_wire(m: Any) -> dict[str, Any]:
    out = {"type": "invocationresult", "invocation_id": m.invocation_id, "function_id": m.function_id}
    if m.result is not None:
        out["result"] = m.result
    if m.error is not None:
        out["error"] = m.error.model_dump(exclude_none=True)
    for name in ("traceparent", "baggage"):
        value = getattr(m, name)
        if value is not None:
            out[name] = value
    return out


_FAST_WIRE = {InvokeFunction: _invoke_wire, InvocationResult: _result_wire}


def encode_json(message: BaseModel) -> str:
    """Encode a message as a compact JSON text frame."""
    return json.dumps(
        to_wire(message), separators=(",", ":"), ensure_ascii=False, default=_json_default
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode_msgpack(message: BaseModel) -> bytes:
    """Encode a message as a msgpack binary frame."""
    packed: bytes = msgpack.packb(to_wire(message), use_bin_type=True)
    return packed
