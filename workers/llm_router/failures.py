"""What went wrong with one upstream call, and how long to wait before the next attempt.

This is the one boundary where litellm's (and the openai client's) exceptions are translated:
:func:`classify` maps each to a :class:`Failure` whose :class:`Kind` decides what the attempt
loop does next:

=============  =======  ==========  ===========================================================
kind           retry    fall back   from
=============  =======  ==========  ===========================================================
rate_limit     yes      yes         429 (``Retry-After`` honoured)
timeout        yes      yes         the model's ``timeout_s``, client or ours
connection     yes      yes         refused, reset, DNS
server         yes      yes         5xx, 408, 409
auth           no       yes         401, 402, 403 — this provider's key or account is wrong
not_found      no       yes         404 — this provider does not have the model
context        no       yes         the conversation exceeds this model's window
bad_request    no       no          400/422 — the request itself is wrong: surfaced at once
=============  =======  ==========  ===========================================================

:func:`backoff_delay` is pure: the random draw is a parameter.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import openai

from ._litellm import litellm
from .config import RetrySettings

__all__ = ["Failure", "Kind", "backoff_delay", "classify", "parse_retry_after"]


class Kind(enum.Enum):
    RATE_LIMIT = "rate_limit"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    SERVER = "server"
    AUTH = "auth"
    NOT_FOUND = "not_found"
    CONTEXT = "context"
    BAD_REQUEST = "bad_request"


_RETRYABLE = frozenset({Kind.RATE_LIMIT, Kind.TIMEOUT, Kind.CONNECTION, Kind.SERVER})


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed upstream call.

    Attributes:
        kind: what kind of failure (decides retry and fallback).
        message: a short description, safe to show (no credentials).
        status: the upstream HTTP status, when there was one.
        retry_after: seconds the upstream asked us to wait, when it did.
    """

    kind: Kind
    message: str
    status: int | None = None
    retry_after: float | None = None

    @property
    def retryable(self) -> bool:
        """Worth another attempt on the same model."""
        return self.kind in _RETRYABLE

    @property
    def falls_back(self) -> bool:
        """Worth trying the next model; False means the request itself is at fault."""
        return self.kind is not Kind.BAD_REQUEST

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.message, "kind": self.kind.value}
        if self.status is not None:
            out["status"] = self.status
        if self.retry_after is not None:
            out["retry_after"] = self.retry_after
        return out


_PREFIX = re.compile(r"^(litellm\.\w+:\s*)+(\w+Error:\s*)?")


def _message(exc: BaseException) -> str:
    text = _PREFIX.sub("", str(exc).strip()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (delta-seconds only), or None."""
    if not headers:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue  # an HTTP-date: ignored, our own backoff applies
        if seconds >= 0:
            return seconds
    return None


def _headers(exc: BaseException) -> Mapping[str, str] | None:
    headers = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
    return headers if isinstance(headers, Mapping) or hasattr(headers, "get") else None


def _kind_of_status(status: int | None) -> Kind | None:
    if status is None:
        return None
    if status == 429:
        return Kind.RATE_LIMIT
    if status >= 500 or status in (408, 409):
        return Kind.SERVER
    if status in (401, 402, 403):
        return Kind.AUTH
    if status == 404:
        return Kind.NOT_FOUND
    if 400 <= status < 500:
        return Kind.BAD_REQUEST
    return None


def classify(exc: BaseException) -> Failure | None:
    """Translate an exception raised by one upstream call.

    Returns:
        The failure, or None when ``exc`` is not an upstream failure (a bug: re-raise it).
    """
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) else None
    kind: Kind | None
    if isinstance(exc, litellm.exceptions.ContextWindowExceededError):
        kind = Kind.CONTEXT
    elif isinstance(exc, litellm.exceptions.ContentPolicyViolationError
                        | litellm.exceptions.UnsupportedParamsError):
        kind = Kind.BAD_REQUEST
    elif isinstance(exc, openai.RateLimitError):
        kind = Kind.RATE_LIMIT
    elif isinstance(exc, openai.APITimeoutError | TimeoutError):
        kind = Kind.TIMEOUT
    elif isinstance(exc, openai.APIConnectionError | OSError):
        kind = Kind.CONNECTION
    elif isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        kind = Kind.AUTH
    elif isinstance(exc, openai.NotFoundError):
        kind = Kind.NOT_FOUND
    elif isinstance(exc, openai.OpenAIError):
        # litellm raises BadRequestError for client-side problems too (unknown provider, missing
        # key, 402): the status decides; an error without one is this model's problem.
        kind = _kind_of_status(status)
        if kind is None:
            kind = Kind.AUTH if "api_key" in str(exc).lower() else Kind.SERVER
        if isinstance(exc, litellm.exceptions.LiteLLMUnknownProvider):
            kind = Kind.NOT_FOUND
    else:
        return None
    return Failure(kind, _message(exc), status, parse_retry_after(_headers(exc)))


def backoff_delay(retry: int, settings: RetrySettings, retry_after: float | None, draw: float) -> float:
    """Seconds to wait before retry number ``retry`` (0 for the first retry) on the same model.

    Args:
        retry: how many retries came before this one.
        settings: the backoff parameters.
        retry_after: what the upstream asked for, if anything (wins, capped).
        draw: a uniform random number in [0, 1) — the jitter.

    Returns:
        ``min(initial * multiplier**retry, max)`` scaled by ``1 ± jitter``; or ``retry_after``
        capped at ``max_retry_after_s``.
    """
    if retry_after is not None:
        return min(retry_after, settings.max_retry_after_s)
    base = min(settings.initial_backoff_s * settings.multiplier ** retry, settings.max_backoff_s)
    return max(0.0, base * (1 + settings.jitter * (2 * draw - 1)))
