"""What the HTTP module says and hears, as data. Pure: no I/O, no clock.

* :func:`request_input` builds a handler's input exactly as iii does (iii-protocol.md §2), plus
  ``raw_body``: for a request whose content type is not JSON, the body as UTF-8 text (None when
  it is empty or not valid UTF-8; the bytes are always on the ``request_body`` channel).
* :func:`reply_from_result` turns a handler's ``{status_code?, headers?, body?}`` into a status,
  header list and body bytes. As in iii, an object result without ``body`` answers ``{}``; unlike
  iii, a non-object result (a list, a string…) is the JSON body itself rather than ``{}``.
* :func:`envelope` is the engine-made error body ``{"error": {"code", "message", "error_id"?}}``.
* :func:`apply_control` reads the streaming control frames ``set_status`` / ``set_headers``.
* :class:`Cors` decides the CORS headers of a response and answers preflights.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from .http_routes import Route

__all__ = ["Reply", "Head", "Header", "Cors", "request_input", "parse_query", "reply_from_result", "envelope",
           "apply_control", "head_headers", "clean_header", "request_id_of", "STATUS_OF_CODE"]

Header = tuple[bytes, bytes]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
# Framing is ours to decide: a handler cannot set these.
_HOP_BY_HOP = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer"})
_NO_BODY = frozenset({204, 304})

STATUS_OF_CODE: dict[str, int] = {
    # A handler's own error codes answer 500; these engine-side codes say more.
    "timeout": 504,
    "forbidden": 403,
    "function_not_found": 503,
    "invocation_stopped": 502,
}


@dataclass(slots=True)
class Reply:
    """A complete (non-streamed) response."""

    status: int
    headers: list[Header]
    body: bytes


@dataclass(slots=True)
class Head:
    """The status and headers a streaming handler set before its first body chunk."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


def envelope(code: str, message: str, *, error_id: str | None = None, **extra: Any) -> bytes:
    """The engine's error body ``{"error": {"code", "message"[, "error_id"]}[, extra…]}``."""
    error: dict[str, Any] = {"code": code, "message": message}
    if error_id is not None:
        error["error_id"] = error_id
    return json.dumps({"error": error, **extra}, separators=(",", ":")).encode()


def request_id_of(incoming: str | None) -> str | None:
    """The client's ``x-request-id`` if it is sane (1–128 of ``[A-Za-z0-9._:-]``), else None."""
    if incoming and _REQUEST_ID.fullmatch(incoming):
        return incoming
    return None


def parse_query(query_string: bytes) -> dict[str, str]:
    """Query parameters, percent-decoded as UTF-8; for a repeated key the last value wins."""
    if not query_string:
        return {}
    return dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))


def request_input(route: Route, path_params: dict[str, str], query: dict[str, str], headers: dict[str, str],
                  method: str, body: Any, raw_body: str | None, request_ref: dict[str, str] | None,
                  response_ref: dict[str, str] | None) -> dict[str, Any]:
    """A handler's input (iii's ``HttpRequest``) plus ``raw_body``; the channel refs are filled
    in last (a condition function sees the input without them)."""
    return {
        "query_params": query,
        "path_params": path_params,
        "headers": headers,
        "path": route.path,
        "method": method,
        "body": body,
        "raw_body": raw_body,
        "trigger": {"type": "http", "path": route.path, "method": route.method},
        "request_body": request_ref,
        "response": response_ref,
    }


def clean_header(name: Any, value: Any) -> Header | None:
    """A handler-set header as ASGI bytes, or None if it is unsafe or ours to set."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        return None
    text = str(value).strip()
    lower = name.lower()
    if lower in _HOP_BY_HOP or _BAD_VALUE.search(text):
        return None
    try:
        return lower.encode("ascii"), text.encode("latin-1")
    except UnicodeEncodeError:
        return None


def _header_pairs(raw: Any) -> list[tuple[Any, Any]]:
    if isinstance(raw, dict):
        return list(raw.items())
    if isinstance(raw, list):
        pairs = []
        for line in raw:
            if isinstance(line, str) and ":" in line:
                name, _, value = line.partition(":")
                pairs.append((name.strip(), value.strip()))
        return pairs
    return []


def _status(raw: Any) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool) and 200 <= raw <= 599:
        return raw
    return 200


def reply_from_result(result: Any) -> Reply:
    """Build the response for a handler's result.

    Raises:
        TypeError, ValueError: the body cannot be encoded as JSON.
    """
    if isinstance(result, dict):
        status = _status(result.get("status_code"))
        headers = [h for h in (clean_header(k, v) for k, v in _header_pairs(result.get("headers"))) if h is not None]
        body = result.get("body", {})
    else:
        status, headers, body = 200, [], result
    content_type = next((v for k, v in headers if k == b"content-type"), None)
    if isinstance(body, (bytes, bytearray)):
        data = bytes(body)
        if content_type is None:
            headers.append((b"content-type", b"application/octet-stream"))
    elif content_type is not None and isinstance(body, str):
        data = body.encode()
    elif content_type is not None and body is None:
        data = b""
    else:
        data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        if content_type is None:
            headers.append((b"content-type", b"application/json"))
    if status in _NO_BODY:
        data = b""
        headers = [h for h in headers if h[0] != b"content-type"]
    return Reply(status, headers, data)


def apply_control(frame: str, head: Head) -> bool:
    """Apply one text frame of a response channel to ``head``; False if it is not a control frame.

    ``{"type":"set_status","status_code":N}`` (200–599) and ``{"type":"set_headers","headers":{…}}``
    (merged, later wins) are understood; anything else is ignored, as iii does.
    """
    try:
        msg = json.loads(frame)
    except ValueError:
        return False
    if not isinstance(msg, dict):
        return False
    if msg.get("type") == "set_status":
        code = msg.get("status_code")
        if isinstance(code, int) and not isinstance(code, bool) and 200 <= code <= 599:
            head.status = code
            return True
    elif msg.get("type") == "set_headers" and isinstance(msg.get("headers"), dict):
        for name, value in msg["headers"].items():
            if isinstance(name, str) and isinstance(value, str):
                head.headers[name] = value
        return True
    return False


def head_headers(head: Head) -> list[Header]:
    """The clean ASGI headers of a streamed response's :class:`Head`."""
    return [h for h in (clean_header(k, v) for k, v in head.headers.items()) if h is not None]


@dataclass(frozen=True, slots=True)
class Cors:
    """CORS policy: empty ``origins`` / ``methods`` mean any, as in iii."""

    origins: frozenset[str] = frozenset()
    methods: tuple[str, ...] = ()

    @classmethod
    def of(cls, allowed_origins: list[str], allowed_methods: list[str]) -> Cors:
        return cls(frozenset(allowed_origins), tuple(m.upper() for m in allowed_methods))

    def _origin(self, origin: str) -> bytes | None:
        if not self.origins or "*" in self.origins:
            return b"*"
        return origin.encode("latin-1") if origin in self.origins else None

    def headers_for(self, origin: str | None) -> list[Header]:
        """Headers to add to an ordinary response to a request from ``origin``."""
        if origin is None:
            return []
        allow = self._origin(origin)
        if allow is None:
            return []
        out = [(b"access-control-allow-origin", allow), (b"access-control-expose-headers", b"x-request-id")]
        if allow != b"*":
            out.append((b"vary", b"origin"))
        return out

    def preflight(self, origin: str, method: str, request_headers: str | None) -> list[Header] | None:
        """Headers answering a preflight, or None when the origin or the method is not allowed."""
        allow = self._origin(origin)
        method = method.upper()
        if allow is None or (self.methods and method not in self.methods):
            return None
        methods = ", ".join(self.methods) if self.methods else method
        out = [(b"access-control-allow-origin", allow), (b"access-control-allow-methods", methods.encode("latin-1")),
               (b"access-control-max-age", b"600")]
        if request_headers and not _BAD_VALUE.search(request_headers):
            out.append((b"access-control-allow-headers", request_headers.encode("latin-1")))
        if allow != b"*":
            out.append((b"vary", b"origin"))
        return out
