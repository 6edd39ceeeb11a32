"""The stream socket's wire format and the ``stream::*`` inputs: pure, no I/O, no clock.

Theory of operation
-------------------
A stream client (browser, iii client SDK) speaks JSON over the module's own WebSocket, in text
or binary frames (iii-protocol.md §2, ``E:workers/stream/structs.rs``)::

    → {"type": "join",  "data": {"subscriptionId", "streamName", "groupId", "id"?}}
    → {"type": "leave", "data": {"subscriptionId", ...}}
    ← {"type": "stream", "timestamp": ms, "streamName", "groupId", "id",
       "event": {"type": "sync" | "create" | "update" | "delete", "data"}
              | {"type": "event", "event": {"type", "data"}}
              | {"type": "unauthorized"}}
    ← {"type": "error", "error": {"code", "message"}}     (ours: a frame we could not use)

:func:`decode` turns one inbound frame into a :data:`ClientMessage` model or raises
:class:`BadMessage`; past it no code touches a raw dict. Outbound frames are built once as a
:class:`StreamMessage` and encoded once, whatever the number of clients that receive them. The
function inputs are pydantic models too; :func:`parse_input` maps a mismatch to
``invalid_arguments`` naming the field. Extra keys are ignored (the router adds
``_caller_worker_id`` to object payloads).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from ..errors import InvalidArguments

__all__ = [
    "BadMessage", "ClientMessage", "Join", "JoinData", "Leave", "LeaveData", "StreamMessage",
    "ItemRef", "GroupRef", "StreamRef", "SetInput", "UpdateInput", "SendInput",
    "decode", "error_frame", "parse_input", "UNAUTHORIZED",
]

Name = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
"""A stream name, group id, item id or subscription id: non-empty, bounded."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


# -- client → server ---------------------------------------------------------------------------


class JoinData(_Model):
    subscriptionId: Name
    streamName: Name
    groupId: Name
    id: Name | None = None


class LeaveData(_Model):
    subscriptionId: Name


class Join(_Model):
    type: Literal["join"]
    data: JoinData


class Leave(_Model):
    type: Literal["leave"]
    data: LeaveData


ClientMessage = Annotated[Join | Leave, Field(discriminator="type")]
_CLIENT: TypeAdapter[Join | Leave] = TypeAdapter(ClientMessage)


class BadMessage(ValueError):
    """An inbound frame the server cannot use; answered with an ``error`` frame, never fatal."""

    code: ClassVar[str] = "invalid_message"


def decode(frame: str | bytes) -> Join | Leave | None:
    """Decode one client frame.

    Returns:
        The message, or None for a blank frame (ignored, as iii does).

    Raises:
        BadMessage: not JSON, not an object, an unknown ``type`` or a missing/mistyped field.
    """
    if not frame.strip():
        return None
    try:
        return _CLIENT.validate_json(frame)
    except ValidationError as exc:
        raise BadMessage(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    kind = err["type"]
    if kind == "json_invalid":
        return "frame is not valid JSON"
    if kind in ("union_tag_not_found", "dict_type", "model_attributes_type", "model_type"):
        return "expected an object with \"type\": \"join\" or \"leave\""
    if kind == "union_tag_invalid":
        return f"unknown message type {err['input'].get('type')!r}: expected join or leave"
    where = ".".join(str(part) for part in err["loc"][1:])
    return f"{where}: {err['msg']}"


def error_frame(code: str, message: str) -> str:
    """The ``{"type": "error"}`` frame answering a frame the server could not use."""
    return json.dumps({"type": "error", "error": {"code": code, "message": message}}, separators=(",", ":"))


# -- server → client ---------------------------------------------------------------------------

UNAUTHORIZED: dict[str, Any] = {"type": "unauthorized"}


@dataclass(frozen=True, slots=True)
class StreamMessage:
    """One ``{"type": "stream"}`` frame: an item change, a sync, a custom event or a refusal.

    ``event`` is the inner object: ``{"type": "create", "data": …}``,
    ``{"type": "event", "event": {"type", "data"}}`` or :data:`UNAUTHORIZED`.
    """

    timestamp: int
    stream_name: str
    group_id: str
    id: str | None
    event: dict[str, Any]

    @classmethod
    def change(cls, timestamp: int, stream_name: str, group_id: str, item_id: str | None,
               kind: str, data: Any) -> StreamMessage:
        """A ``sync``, ``create``, ``update`` or ``delete`` message."""
        return cls(timestamp, stream_name, group_id, item_id, {"type": kind, "data": data})

    @classmethod
    def custom(cls, timestamp: int, stream_name: str, group_id: str, item_id: str | None,
               event_type: str, data: Any) -> StreamMessage:
        """A custom event from ``stream::send``."""
        return cls(timestamp, stream_name, group_id, item_id,
                   {"type": "event", "event": {"type": event_type, "data": data}})

    def to_dict(self) -> dict[str, Any]:
        return {"type": "stream", "timestamp": self.timestamp, "streamName": self.stream_name,
                "groupId": self.group_id, "id": self.id, "event": self.event}

    def encode(self) -> str:
        """The JSON text sent to clients (encode once, send to many)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)


# -- function inputs ---------------------------------------------------------------------------


class StreamRef(_Model):
    """``stream::list_groups``: one stream."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=False)
    stream_name: Name


class GroupRef(StreamRef):
    """``stream::list``: one group of a stream."""

    group_id: Name


class ItemRef(GroupRef):
    """``stream::get`` / ``stream::delete``: one item."""

    item_id: Name


class SetInput(ItemRef):
    data: Any = None


class UpdateInput(ItemRef):
    ops: list[Any]


class SendInput(GroupRef):
    """``stream::send``: a custom event; ``id`` targets the subscribers of one item."""

    type: Name
    data: Any = None
    id: Name | None = None


M = TypeVar("M", bound=BaseModel)


def parse_input(model: type[M], data: Any, function_id: str) -> M:
    """Validate the payload of a ``stream::*`` call.

    Raises:
        InvalidArguments: the payload does not fit; the message names the first bad field.
    """
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in err["loc"]) or "payload"
        raise InvalidArguments(f"{function_id}: '{where}' {err['msg'].lower()}") from None
