"""The attempt loop on its own: real litellm against the fake, with the backoff recorded."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes import Error, FakeUpstream, Text
from workers.llm_router import BadRequest, UpstreamError
from workers.llm_router.catalog import describe
from workers.llm_router.complete import Completer, Target
from workers.llm_router.config import Defaults, ModelSpec, RetrySettings

from .conftest import spec, user

RETRY = RetrySettings(initial_backoff_s=0.5, multiplier=2, max_backoff_s=10, jitter=0.5, max_retry_after_s=3)


class Recorder:
    """Stands in for ``anyio.sleep``: records the delays, waits for nothing."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


class ListSink:
    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    async def send(self, frame: dict[str, Any]) -> None:
        self.frames.append(frame)


def target(upstream: FakeUpstream, model: str = "gpt-4o-mini", **extra: Any) -> Target:
    model_spec = ModelSpec.model_validate(spec(upstream, model, **extra))
    return Target(model_spec, describe(model_spec))


def completer(sleep: Recorder, *, max_retries: int = 2) -> Completer:
    return Completer(Defaults(max_retries=max_retries, timeout_s=10), RETRY, sleep=sleep, draw=lambda: 0.5)


async def test_exponential_backoff_between_retries(fake: FakeUpstream) -> None:
    fake.script(Error(500), Error(502), Text("third"))
    sleep = Recorder()
    outcome = await completer(sleep).complete([target(fake)], {"messages": user("hi")})
    assert outcome.response.choices[0].message.content == "third"
    assert sleep.delays == [0.5, 1.0]
    assert [a.get("delay_s") for a in outcome.attempts] == [0.5, 1.0, None]
    assert len(fake.chat_requests) == 3


async def test_retry_after_wins_but_is_capped(fake: FakeUpstream) -> None:
    fake.script(Error.rate_limited(retry_after=2), Error.rate_limited(retry_after=60), Text("ok"))
    sleep = Recorder()
    await completer(sleep).complete([target(fake)], {"messages": user("hi")})
    assert sleep.delays == [2.0, 3.0]


async def test_retries_are_bounded_per_model_then_the_chain_moves_on(fake: FakeUpstream,
                                                                     fake2: FakeUpstream) -> None:
    fake.default = Error(500)
    sleep = Recorder()
    chain = [target(fake, max_retries=1), target(fake2, "gpt-4o")]
    outcome = await completer(sleep).complete(chain, {"messages": user("hi")})
    assert (len(fake.chat_requests), len(fake2.chat_requests)) == (2, 1)
    assert sleep.delays == [0.5]  # no wait before switching models
    assert outcome.target.model == "openai/gpt-4o"


async def test_litellm_and_the_openai_client_do_not_retry_on_their_own(fake: FakeUpstream) -> None:
    fake.default = Error(503)
    with pytest.raises(UpstreamError) as caught:
        await completer(Recorder(), max_retries=0).complete([target(fake)], {"messages": user("hi")})
    assert len(fake.chat_requests) == 1
    assert fake.chat_requests[0].headers.get("x-stainless-retry-count") == "0"
    assert caught.value.attempts == [{"model": "openai/gpt-4o-mini", "error": "OpenAIException - scripted upstream error",
                                      "kind": "server", "status": 503}]


async def test_a_bad_request_stops_everything(fake: FakeUpstream, fake2: FakeUpstream) -> None:
    fake.script(Error(400, "unsupported value: temperature"))
    with pytest.raises(BadRequest, match="unsupported value: temperature"):
        await completer(Recorder()).complete([target(fake), target(fake2)], {"messages": user("hi")})
    assert fake2.requests == []


async def test_a_stream_that_breaks_after_it_started_is_not_retried(fake: FakeUpstream,
                                                                   fake2: FakeUpstream) -> None:
    fake.script(Text("one two three four", break_after=3))
    sink = ListSink()
    with pytest.raises(UpstreamError, match="after it started"):
        await completer(Recorder()).complete([target(fake), target(fake2)], {"messages": user("hi")}, sink=sink)
    assert "".join(c["delta"].get("content", "") for f in sink.frames for c in f["choices"]) == "one two "
    assert (len(fake.chat_requests), fake2.requests) == (1, [])


async def test_skipped_models_are_reported_first(fake: FakeUpstream) -> None:
    skipped = [{"model": "openai/tiny", "error": "skipped: too small", "kind": "skipped"}]
    outcome = await completer(Recorder()).complete([target(fake)], {"messages": user("hi")}, skipped=skipped)
    assert outcome.attempts == [*skipped, {"model": "openai/gpt-4o-mini"}]
