"""Shared type aliases of the SDK."""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

__all__ = ["Codec", "CallKind", "JSONSchema", "Metadata", "DEFAULT_URL", "REALM_BAGGAGE_KEY", "ROLE_BAGGAGE_KEY"]

Codec: TypeAlias = Literal["msgpack", "json"]
"""Frame encoding: msgpack binary frames (our engine) or JSON text frames (any iii engine)."""

CallKind: TypeAlias = Literal["sync", "void", "enqueue"]
"""How a call is made: wait for the result, fire and forget, or through a durable queue."""

JSONSchema: TypeAlias = dict[str, Any]
Metadata: TypeAlias = dict[str, Any]

DEFAULT_URL = "ws://127.0.0.1:49134"

REALM_BAGGAGE_KEY = "agentos-realm"
"""W3C baggage entry carrying the invocation's realm (the engine sets it from the credential)."""

ROLE_BAGGAGE_KEY = "agentos-role"
"""W3C baggage entry with the caller's role (the engine sets it; absent means ``system``)."""
