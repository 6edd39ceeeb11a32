"""Errors of the api worker, and the one table that turns a worker's error code into HTTP.

One root, drawn here::

    ApiError                     an answer the client gets: status, OpenAI ``type``, ``code``, ``param``
    ├── InvalidRequest           400 invalid_request_error   the request body is wrong (``param`` names where)
    ├── ModelNotFound            404 invalid_request_error   ``model`` names no agent / alias (code model_not_found)
    ├── NotFound                 404 not_found_error         a REST resource (an agent) does not exist
    └── RateLimited              429 rate_limit_error        this key spent its bucket (``retry_after`` seconds)

Everything the api worker answers with an error goes out in the OpenAI envelope
``{"error": {"message", "type", "param", "code"}}`` (:meth:`ApiError.envelope`), REST routes
included, so one client-side parser serves every route.

Errors of the workers we call arrive as :class:`~workers.sdk.InvocationError` with a wire
``code``; :func:`from_invocation` is the single boundary that maps them (:data:`STATUS_OF`).
Unknown codes are a 500 whose message hides the detail (it is logged with the code instead).
Statuses the OpenAI client would retry but where a retry cannot help (503 "no provider
configured", 409 "agent paused") carry ``x-should-retry: false``, which that client honours.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from workers.sdk import InvocationError

__all__ = [
    "STATUS_OF",
    "ApiError",
    "InvalidRequest",
    "ModelNotFound",
    "NotFound",
    "RateLimited",
    "from_invocation",
]

log = logging.getLogger(__name__)

_NO_RETRY = {"x-should-retry": "false"}


class ApiError(Exception):
    """An error answer. Raise a subclass, or build one directly for a mapped worker error.

    Attributes:
        status: the HTTP status.
        type: the OpenAI error ``type`` (``invalid_request_error``, ``rate_limit_error``…).
        code: a stable machine-readable code (``model_not_found``, ``llm_forbidden_model``…).
        param: the request field at fault, e.g. ``messages[2].role``, or None.
        headers: extra response headers (``retry-after``, ``x-should-retry``).
    """

    STATUS: ClassVar[int] = 500
    TYPE: ClassVar[str] = "server_error"
    CODE: ClassVar[str | None] = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None,
                 status: int | None = None, type: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.CODE
        self.status = status if status is not None else self.STATUS
        self.type = type if type is not None else self.TYPE
        self.headers = dict(headers or {})

    def envelope(self) -> dict[str, Any]:
        """The OpenAI error body ``{"error": {message, type, param, code}}``."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.code}}

    def reply(self) -> dict[str, Any]:
        """The ``http`` handler result answering this error."""
        return {"status_code": self.status, "headers": self.headers, "body": self.envelope()}


class InvalidRequest(ApiError):
    STATUS, TYPE, CODE = 400, "invalid_request_error", "invalid_request"


class ModelNotFound(ApiError):
    STATUS, TYPE, CODE = 404, "invalid_request_error", "model_not_found"

    def __init__(self, model: str, detail: str | None = None) -> None:
        text = f"The model {model!r} does not exist or you do not have access to it."
        super().__init__(f"{text} {detail}" if detail else text, param="model")


class NotFound(ApiError):
    STATUS, TYPE, CODE = 404, "not_found_error", "not_found"


class RateLimited(ApiError):
    STATUS, TYPE, CODE = 429, "rate_limit_error", "rate_limit_exceeded"

    def __init__(self, message: str, retry_after: float) -> None:
        seconds = max(1, int(-(-retry_after // 1)))  # whole seconds, rounded up
        super().__init__(message, headers={"retry-after": str(seconds)})
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class _Mapping:
    status: int
    type: str
    no_retry: bool = False


STATUS_OF: dict[str, _Mapping] = {
    # requests the callee refused
    "invalid_arguments": _Mapping(400, "invalid_request_error"),
    "llm_bad_request": _Mapping(400, "invalid_request_error"),
    "injection_detected": _Mapping(400, "invalid_request_error", no_retry=True),
    # who may use what
    "forbidden": _Mapping(403, "permission_error"),
    "llm_forbidden_model": _Mapping(403, "permission_error"),
    "budget_exceeded": _Mapping(402, "insufficient_quota"),
    # agents
    "agent_not_found": _Mapping(404, "not_found_error"),
    "template_not_found": _Mapping(404, "not_found_error"),
    "run_not_found": _Mapping(404, "not_found_error"),
    "not_found": _Mapping(404, "not_found_error"),
    "already_decided": _Mapping(409, "conflict_error", no_retry=True),
    "too_many_pending": _Mapping(429, "rate_limit_error", no_retry=True),
    "agent_exists": _Mapping(409, "conflict_error", no_retry=True),
    "agent_paused": _Mapping(409, "conflict_error", no_retry=True),
    "agent_archived": _Mapping(409, "conflict_error", no_retry=True),
    "invalid_transition": _Mapping(409, "conflict_error", no_retry=True),
    "conflict": _Mapping(409, "conflict_error"),
    # the service behind us
    "llm_not_configured": _Mapping(503, "service_unavailable_error", no_retry=True),
    "llm_budget_check_failed": _Mapping(503, "service_unavailable_error"),
    "scan_failed": _Mapping(503, "service_unavailable_error"),
    "function_not_found": _Mapping(503, "service_unavailable_error"),
    "worker_overloaded": _Mapping(503, "service_unavailable_error"),
    "llm_upstream_error": _Mapping(502, "upstream_error"),
    "llm_stream_error": _Mapping(502, "upstream_error"),
    "llm_bad_response": _Mapping(502, "upstream_error"),
    "invocation_stopped": _Mapping(502, "server_error"),
    "connection_lost": _Mapping(502, "server_error"),
    "channel_error": _Mapping(502, "server_error"),
    "timeout": _Mapping(504, "timeout_error"),
}
"""Wire error code of a worker we call → HTTP status and OpenAI error ``type``."""

_UNKNOWN_ALIAS = "unknown model alias"
"""How llm-router's ``llm_bad_request`` starts when the model names no alias (→ 404)."""


def from_invocation(exc: InvocationError, *, model: str | None = None) -> ApiError:
    """The answer for a failed call to another worker. Call it where the call was made.

    Args:
        exc: the failure.
        model: the request's ``model``, when the call served a chat completion (an unknown
            agent or alias is then a 404 ``model_not_found`` on ``param: model``).

    Returns:
        An :class:`ApiError` carrying the worker's ``code`` (unknown codes: a 500 whose message
        is generic; the original is logged).
    """
    if model is not None and (exc.code == "agent_not_found" or (
            exc.code == "llm_bad_request" and exc.message.startswith(_UNKNOWN_ALIAS))):
        return ModelNotFound(model, exc.message)
    if exc.code == "function_not_found":
        target = exc.function_id or "a function the api needs"
        return ApiError(f"{target} is not registered: is the worker that serves it running?",
                        status=503, type="service_unavailable_error", code="service_unavailable")
    mapping = STATUS_OF.get(exc.code)
    if mapping is None:
        log.error("unmapped error from %s: %s", exc.function_id or "a worker", exc)
        return ApiError("internal error: a worker failed; see the api worker's log",
                        code="internal_error")
    return ApiError(exc.message, status=mapping.status, type=mapping.type, code=exc.code,
                    headers=_NO_RETRY if mapping.no_retry else None)
