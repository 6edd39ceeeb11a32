"""Errors of the llm-router worker.

One root, drawn here::

    LlmError (workers.sdk.InvocationError)   a call answered with an error; ``code`` goes on the wire
    ├── NotConfigured           llm_not_configured       ~503  no usable model for the request
    ├── ForbiddenModel          llm_forbidden_model      ~403  the realm's policy refuses the alias
    ├── BadRequest              llm_bad_request          ~400  invalid payload, or the upstream said 400
    ├── BudgetExceeded          budget_exceeded          ~402  ``ledger::check`` answered allowed: false
    ├── BudgetCheckFailed       llm_budget_check_failed  ~503  ``ledger::check`` exists but failed
    ├── StreamError             llm_stream_error         ~502  the ``stream_to`` channel broke or stalled
    └── UpstreamError           llm_upstream_error       ~502  every model of the chain failed
    LlmConfigError (ValueError)  misuse: ``llm.yaml`` cannot be used (raised at start, never on the wire)

Raising an ``LlmError`` from a handler answers the invocation with its ``code`` and ``message``
(the SDK does that for any ``InvocationError``). :data:`HTTP_STATUS` is the status an HTTP front
end (the api worker) should use for each code.

Foreign errors (litellm, httpx, websockets) are translated where they happen: litellm's in
:mod:`workers.llm_router.failures`, the channel's in :mod:`workers.llm_router.channel`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from workers.sdk import InvocationError

__all__ = [
    "HTTP_STATUS",
    "BadRequest",
    "BudgetCheckFailed",
    "BudgetExceeded",
    "ForbiddenModel",
    "LlmConfigError",
    "LlmError",
    "NotConfigured",
    "StreamError",
    "UpstreamError",
]

NOT_CONFIGURED_HINT = (
    "no LLM provider is configured: set OPENAI_API_KEY or add a model to llm.yaml "
    "(aliases.default), or run Ollama on 127.0.0.1:11434"
)


class LlmError(InvocationError):
    """Root of the router's wire errors; the class fixes the ``code``."""

    CODE: ClassVar[str] = "llm_error"
    STATUS: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(self.CODE, message)


class NotConfigured(LlmError):
    """No model can serve the request (nothing configured, keys missing, Ollama absent)."""

    CODE = "llm_not_configured"
    STATUS = 503

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(NOT_CONFIGURED_HINT if detail is None else f"{detail}; {NOT_CONFIGURED_HINT}")


class ForbiddenModel(LlmError):
    """The caller's realm may not use this alias or model (``realm_policy`` in llm.yaml)."""

    CODE = "llm_forbidden_model"
    STATUS = 403


class BadRequest(LlmError):
    """The payload is invalid, or an upstream refused the request itself (400-class)."""

    CODE = "llm_bad_request"
    STATUS = 400


class BudgetExceeded(LlmError):
    """``ledger::check`` answered ``{allowed: false}``: the agent or realm is over budget."""

    CODE = "budget_exceeded"
    STATUS = 402


class BudgetCheckFailed(LlmError):
    """``ledger::check`` is registered but failed or timed out: refuse rather than overspend."""

    CODE = "llm_budget_check_failed"
    STATUS = 503


class StreamError(LlmError):
    """The ``stream_to`` channel could not be opened, or broke or stalled mid-stream."""

    CODE = "llm_stream_error"
    STATUS = 502


class UpstreamError(LlmError):
    """Every model of the fallback chain failed. ``attempts`` lists what was tried.

    Attributes:
        attempts: one ``{model, error, ...}`` dict per attempt, in order.
    """

    CODE = "llm_upstream_error"
    STATUS = 502

    def __init__(self, attempts: Sequence[dict[str, Any]], headline: str = "every model failed") -> None:
        self.attempts = list(attempts)
        lines = "; ".join(f"{a['model']}: {a.get('error') or 'ok'}" for a in self.attempts)
        super().__init__(f"{headline} ({len(self.attempts)} attempts): {lines}")


class LlmConfigError(ValueError):
    """``llm.yaml`` cannot be used; ``str(err)`` has one line per problem.

    Attributes:
        problems: the lines, each ``file: key.path: what is wrong``.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


HTTP_STATUS: dict[str, int] = {
    cls.CODE: cls.STATUS
    for cls in (NotConfigured, ForbiddenModel, BadRequest, BudgetExceeded, BudgetCheckFailed,
                StreamError, UpstreamError)
}
"""Error code → the HTTP status an HTTP front end should answer with."""
