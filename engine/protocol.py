"""The iii wire protocol: every message as a pydantic model, and the two codecs.

Theory of operation
-------------------
Workers and the engine exchange one message per WebSocket frame. A message is a JSON object
(text frame, what the official iii SDKs send) or a msgpack map (binary frame, when the client
negotiated the ``agentos.msgpack`` subprotocol, what our SDK does). Both carry the same shape: a
``type`` tag naming the variant plus its fields, as listed in iii-protocol.md §1.2.

This module is pure: no I/O, no clock, no event loop. ``decode_json``/``decode_msgpack`` turn a
frame into one of the models of :data:`Message` (a ``type``-discriminated union validated by one
module-level ``TypeAdapter``; known tags go straight to their member's validator, which is the
same schema without the union's lookup); ``encode_json``/``encode_msgpack`` do the reverse. Past
the decoder no code touches a raw dict.

Every inbound frame is validated. What the engine writes itself is already trusted, so its two
hot messages, a call it forwards or makes (:class:`OutboundInvoke`) and an answer it gives
(:class:`OutboundResult`), are NamedTuples that encode to the same wire shape as the models
without paying pydantic's construction on the way out.

Leniency follows iii: unknown fields are ignored (Node 0.22 sends ``message_type``, Python 0.25
sends ``features``), a missing ``data`` on ``invokefunction`` is ``None``. Strictness where it
matters: an unknown ``type``, a missing required field, a non-UUID ``invocation_id`` or bytes that
are not a frame at all raise :class:`FrameError`, which the connection turns into an error answer
without closing the socket.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal, NamedTuple, TypeAlias

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
    "OutboundInvoke",
    "OutboundResult",
    "Outbound",
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

_BY_TYPE: dict[str, Any] = {
    model.model_fields["type"].default: model.__pydantic_validator__.validate_python
    for model in (RegisterFunction, UnregisterFunction, RegisterTrigger, UnregisterTrigger, TriggerRegistrationResult,
                  RegisterTriggerType, UnregisterTriggerType, RegisterService, InvokeFunction, InvocationResult,
                  WorkerRegistered, Reattach, RegistrationRejected, Ping, Pong, ErrorMessage)
}
"""The union's own per-tag validators: dispatching on ``type`` first skips the union's tag
lookup and wrapper (1.9 → 1.3 µs a frame). Same schemas, same errors (bar the loc prefix)."""

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
    kind = obj.get("type")
    validate = _BY_TYPE.get(kind) if type(kind) is str else None
    try:
        if validate is None:
            return _MESSAGE.validate_python(obj)  # an unknown tag: the union words the error
        return validate(obj)  # type: ignore[no-any-return]
    except ValidationError as exc:
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
        obj = _unpackb(frame, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises a zoo of types (ExtraData, ValueError, …)
        raise FrameError(f"malformed msgpack frame: {exc.__class__.__name__}") from exc
    if type(obj) is dict:  # decode(), inlined for the frames every call carries
        kind = obj.get("type")
        validate = _BY_TYPE.get(kind) if type(kind) is str else None
        if validate is not None:
            try:
                return validate(obj)  # type: ignore[no-any-return]
            except ValidationError:
                pass  # decode() words the error
    return decode(obj)


_unpackb = msgpack.unpackb


def to_wire(message: Outbound) -> dict[str, Any]:
    """The wire dict of a message: optional fields omitted when None, as iii does.

    Payloads (``data``, ``result``) are passed through as they are, bytes included: msgpack
    carries bytes natively, and the JSON codec writes them as base64 strings.
    """
    fast = _FAST_WIRE.get(type(message))
    if fast is not None:
        return fast(message)
    assert isinstance(message, BaseModel)
    out = message.model_dump(exclude_none=True)
    for name in _ALWAYS.get(out["type"], ()):
        out.setdefault(name, None)
    return out


class OutboundInvoke(NamedTuple):
    """A call the engine writes to a worker (it forwards one or makes its own).

    The inbound :class:`InvokeFunction` is validated; this is the engine's own, already-trusted
    value, so it skips pydantic (``model_construct`` costs ~4 µs, this ~0.2 µs). It encodes to the
    same wire shape as an ``InvokeFunction`` without an action or namespace.
    """

    invocation_id: str | None
    function_id: str
    data: Any = None
    traceparent: str | None = None
    baggage: str | None = None
    metadata: dict[str, Any] | None = None
    type: Literal["invokefunction"] = "invokefunction"
    action: None = None
    namespace: None = None


class OutboundResult(NamedTuple):
    """An answer the engine writes itself (a built-in's result, an error for a call it could not
    route): encoded like an :class:`InvocationResult`, without pydantic on the way out."""

    invocation_id: str | None
    function_id: str
    result: Any = None
    error: ErrorBody | None = None
    type: Literal["invocationresult"] = "invocationresult"
    traceparent: None = None
    baggage: None = None


def _outbound_wire(m: Any) -> dict[str, Any]:
    out = {"type": "invokefunction", "invocation_id": m.invocation_id, "function_id": m.function_id, "data": m.data}
    if m.traceparent is not None:
        out["traceparent"] = m.traceparent
    if m.baggage is not None:
        out["baggage"] = m.baggage
    if m.metadata is not None:
        out["metadata"] = m.metadata
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


_FAST_WIRE: dict[type, Callable[[Any], dict[str, Any]]] = {
    InvokeFunction: _invoke_wire, InvocationResult: _result_wire, OutboundInvoke: _outbound_wire, OutboundResult: _result_wire,
}

Outbound: TypeAlias = BaseModel | OutboundInvoke | OutboundResult
"""What the encoders take: a message model, or one of the engine's own calls and answers."""


def encode_json(message: Outbound) -> str:
    """Encode a message as a compact JSON text frame."""
    return _JSON.encode(to_wire(message))


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_json_default)
"""One encoder for every frame: ``json.dumps`` with options builds a new one each call (~35% of
its cost for a 1 KB frame). It keeps no state between calls."""


def encode_msgpack(message: Outbound) -> bytes:
    """Encode a message as a msgpack binary frame."""
    fast = _FAST_WIRE.get(type(message))
    obj = fast(message) if fast is not None else to_wire(message)
    try:
        packer = _PACKERS.packer
    except AttributeError:
        packer = _PACKERS.packer = msgpack.Packer(use_bin_type=True)
    packed: bytes = packer.pack(obj)
    return packed


_PACKERS = threading.local()
"""One reused ``Packer`` per thread (~0.5 µs less than ``packb`` a frame; a Packer is not
thread-safe, and this module also serves worker processes that run handlers in threads). A
Packer resets itself when packing fails, so an error cannot leave it dirty."""
