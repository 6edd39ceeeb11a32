"""One HTTP exchange as the api sees it: the request the ``http`` module hands a handler, and
the result a handler returns.

The module's input (``{query_params, path_params, headers, path, method, body, raw_body,
request_body, response, trigger}``) is validated once into :class:`HttpRequest`; past it no
handler reads the raw dict. A handler answers with :func:`reply` (``{status_code, headers,
body}``), or streams through ``request.response`` and returns None.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ApiError, InvalidRequest

__all__ = ["HttpRequest", "json_body", "parse_request", "reply"]


class HttpRequest(BaseModel):
    """What the ``http`` module says about a request (headers are lower-cased by the engine)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    method: str = "GET"
    path: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
    query_params: dict[str, str] = Field(default_factory=dict)
    path_params: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    raw_body: str | None = None
    response: dict[str, Any] | None = None
    """The writer reference of the response channel (for streamed answers)."""


def parse_request(data: Any) -> HttpRequest:
    """The handler input as an :class:`HttpRequest`.

    Raises:
        ApiError: the input is not what the ``http`` module sends (500: a wiring bug, not the client's).
    """
    try:
        return HttpRequest.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise ApiError(f"the api was invoked with a malformed HTTP request: {exc.error_count()} problems",
                       code="bad_http_input") from exc


def json_body(request: HttpRequest, *, required: bool = True) -> Any:
    """The request body as JSON: parsed by the engine for a JSON content type, else from its text.

    Raises:
        InvalidRequest: no body when one is required, or a body that is not JSON.
    """
    if request.body is not None:
        return request.body
    if request.raw_body is None or not request.raw_body.strip():
        if required:
            raise InvalidRequest("a JSON request body is required (content-type: application/json)")
        return None
    try:
        return json.loads(request.raw_body)
    except ValueError as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from exc


def reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A complete JSON response."""
    out: dict[str, Any] = {"status_code": status, "body": body}
    if headers:
        out["headers"] = headers
    return out
