"""Failure classification (litellm's exceptions → kinds) and the backoff, from tables."""

from __future__ import annotations

import httpx
import pytest

from workers.llm_router._litellm import litellm
from workers.llm_router.config import RetrySettings
from workers.llm_router.failures import Kind, backoff_delay, classify, parse_retry_after

lx = litellm.exceptions
REQUEST = httpx.Request("POST", "http://upstream/v1/chat/completions")


def response(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=REQUEST)


M, P = "gpt-4o-mini", "openai"

CASES: list[tuple[BaseException, Kind, bool, bool]] = [
    (lx.RateLimitError("slow down", P, M, response=response(429)), Kind.RATE_LIMIT, True, True),
    (lx.Timeout("timed out", M, P), Kind.TIMEOUT, True, True),
    (TimeoutError(), Kind.TIMEOUT, True, True),
    (lx.APIConnectionError("refused", P, M, request=REQUEST), Kind.CONNECTION, True, True),
    (ConnectionResetError("reset"), Kind.CONNECTION, True, True),
    (lx.InternalServerError("boom", P, M, response=response(500)), Kind.SERVER, True, True),
    (lx.ServiceUnavailableError("busy", P, M, response=response(503)), Kind.SERVER, True, True),
    (lx.BadGatewayError("bad gw", P, M, response=response(502)), Kind.SERVER, True, True),
    (lx.APIError(504, "gateway timeout", P, M, request=REQUEST), Kind.SERVER, True, True),
    (lx.APIError(409, "conflict", P, M, request=REQUEST), Kind.SERVER, True, True),
    (lx.AuthenticationError("bad key", P, M, response=response(401)), Kind.AUTH, False, True),
    (lx.PermissionDeniedError("no", P, M, response=response(403)), Kind.AUTH, False, True),
    (lx.NotFoundError("no model", M, P, response=response(404)), Kind.NOT_FOUND, False, True),
    (lx.ContextWindowExceededError("too long", M, P, response=response(400)), Kind.CONTEXT, False, True),
    (lx.BadRequestError("bad messages", M, P, response=response(400)), Kind.BAD_REQUEST, False, False),
    (lx.UnprocessableEntityError("bad", M, P, response=response(422)), Kind.BAD_REQUEST, False, False),
    (lx.ContentPolicyViolationError("refused", M, P, response=response(400)), Kind.BAD_REQUEST, False, False),
]


@pytest.mark.parametrize(("exc", "kind", "retryable", "falls_back"), CASES)
def test_classify(exc: BaseException, kind: Kind, retryable: bool, falls_back: bool) -> None:
    failure = classify(exc)
    assert failure is not None
    assert (failure.kind, failure.retryable, failure.falls_back) == (kind, retryable, falls_back)
    assert not failure.message.startswith("litellm.")


@pytest.mark.parametrize("exc", [ValueError("a bug"), KeyError("k"), RuntimeError("x")])
def test_foreign_errors_are_not_classified(exc: BaseException) -> None:
    assert classify(exc) is None


def test_retry_after_is_read_from_the_response() -> None:
    exc = lx.RateLimitError("slow down", P, M, response=response(429, {"retry-after": "7"}))
    failure = classify(exc)
    assert failure is not None and (failure.status, failure.retry_after) == (429, 7.0)
    assert failure.to_dict() == {"error": failure.message, "kind": "rate_limit", "status": 429, "retry_after": 7.0}


@pytest.mark.parametrize(("headers", "seconds"), [
    (None, None),
    ({}, None),
    ({"retry-after": "3"}, 3.0),
    ({"retry-after": "0.25"}, 0.25),
    ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
    ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),
    ({"retry-after": "-1"}, None),
])
def test_parse_retry_after(headers: dict[str, str] | None, seconds: float | None) -> None:
    assert parse_retry_after(headers) == seconds


SETTINGS = RetrySettings(initial_backoff_s=0.5, multiplier=2, max_backoff_s=3, jitter=0.2, max_retry_after_s=10)


@pytest.mark.parametrize(("retry", "retry_after", "draw", "delay"), [
    (0, None, 0.5, 0.5),      # no jitter at the middle draw
    (1, None, 0.5, 1.0),
    (2, None, 0.5, 2.0),
    (3, None, 0.5, 3.0),      # capped
    (9, None, 0.5, 3.0),
    (0, None, 0.0, 0.4),      # -20 %
    (0, None, 1.0, 0.6),      # +20 % (the draw is < 1 in practice)
    (0, 4.0, 0.9, 4.0),       # Retry-After wins
    (0, 60.0, 0.5, 10.0),     # ... capped
    (5, 0.0, 0.5, 0.0),
])
def test_backoff_delay(retry: int, retry_after: float | None, draw: float, delay: float) -> None:
    assert backoff_delay(retry, SETTINGS, retry_after, draw) == pytest.approx(delay)


def test_messages_are_short_and_clean() -> None:
    failure = classify(lx.InternalServerError("x" * 1000, P, M, response=response(500)))
    assert failure is not None and len(failure.message) <= 300
