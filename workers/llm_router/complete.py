"""Calling models: one litellm call per attempt, retries with backoff, fallback along a chain.

Theory of operation
-------------------
:meth:`Completer.complete` walks a fallback chain of :class:`Target` models. Each attempt is one
``litellm.acompletion`` with litellm's and the openai client's own retries switched off
(``num_retries=0, max_retries=0``): retrying is ours, so every attempt is visible, bounded and
recorded. A failed attempt is classified (:mod:`workers.llm_router.failures`):

* retryable (429, 5xx, timeout, connection) → wait :func:`backoff_delay` (``Retry-After`` wins),
  try the same model again, up to its ``max_retries``; then the next model;
* this model's problem (401/403/404, context window) → the next model at once;
* the request's problem (400) → :class:`BadRequest` at once: another provider would refuse too.

When every model failed, :class:`UpstreamError` lists each attempt. Each attempt is bounded by
the model's ``timeout_s`` twice over: litellm's own timeout, and an ``anyio.fail_after`` a little
later in case a provider client ignores it.

Streaming (a ``sink`` is given): each litellm chunk is converted to OpenAI chunk frames and handed
to the sink *as it arrives*; the timeout then bounds the wait for each next chunk, not the whole
answer. Until the first frame is sent an attempt may still be retried or fall back; after it, a
failure ends the call (the consumer has seen part of an answer). The aggregate is rebuilt from
the chunks with ``litellm.stream_chunk_builder``, so it carries usage like a plain completion.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import anyio

from ._litellm import litellm
from .catalog import ModelInfo
from .config import Defaults, ModelSpec, RetrySettings
from .errors import BadRequest, UpstreamError
from .failures import Failure, Kind, backoff_delay, classify
from .shapes import chunk_frames

__all__ = ["Completer", "Outcome", "Sink", "Target"]

log = logging.getLogger(__name__)

GRACE_S = 1.0
"""How long after a model's ``timeout_s`` our own deadline fires if litellm's did not."""


@dataclass(frozen=True, slots=True)
class Target:
    """A model the router may call: how to reach it, what the catalog says, where it came from."""

    spec: ModelSpec
    info: ModelInfo
    source: Literal["config", "ollama", "direct"] = "config"

    @property
    def model(self) -> str:
        return self.spec.model


class Sink(Protocol):
    """Where streamed chunk frames go (the ``stream_to`` channel)."""

    async def send(self, frame: dict[str, Any]) -> None:
        """Deliver one OpenAI ``chat.completion.chunk`` dict; raise ``StreamError`` if it cannot."""
        ...


@dataclass(slots=True)
class Outcome:
    """A successful call: litellm's (aggregated) response, the model that gave it, every attempt."""

    response: Any
    target: Target
    attempts: list[dict[str, Any]]
    stream_id: str | None = None


@dataclass(slots=True)
class _Progress:
    started: bool = False
    head: dict[str, Any] = field(default_factory=dict)


class _EmptyStream(Exception):
    """The upstream closed a stream without a single chunk."""


class Completer:
    """Runs completions along fallback chains.

    Args:
        defaults: per-model defaults (timeout, retries).
        retry: the backoff parameters.
        sleep: how to wait between retries (tests pass a recorder).
        draw: the jitter's random source, uniform in [0, 1).
        acompletion: litellm's ``acompletion`` (replaceable for tests of this class alone).
    """

    def __init__(self, defaults: Defaults, retry: RetrySettings, *,
                 sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
                 draw: Callable[[], float] = random.random,
                 acompletion: Callable[..., Awaitable[Any]] | None = None) -> None:
        self.defaults, self.retry = defaults, retry
        self._sleep, self._draw = sleep, draw
        self._acompletion = acompletion or litellm.acompletion

    async def complete(self, chain: Sequence[Target], params: dict[str, Any], *,
                       sink: Sink | None = None, skipped: Sequence[dict[str, Any]] = ()) -> Outcome:
        """Get one completion from the first model of ``chain`` that can give it.

        Args:
            chain: the models to try, in order (not empty).
            params: OpenAI request fields (``messages``, ``tools``, ``temperature``…), no Nones.
            sink: stream chunk frames there as they arrive (then ``stream`` is implied).
            skipped: models left out of the chain before the call, reported first in attempts.

        Returns:
            The response and the attempts that led to it.

        Raises:
            BadRequest: an upstream refused the request itself (400-class).
            UpstreamError: every model failed, or a stream failed after it started.
            StreamError: the sink failed.
        """
        attempts: list[dict[str, Any]] = list(skipped)
        for target in chain:
            retries = self._retries(target.spec)
            for retry in range(retries + 1):
                progress = _Progress()
                try:
                    if sink is None:
                        response = await self._once(target.spec, params)
                    else:
                        response = await self._stream(target.spec, params, sink, progress)
                except Exception as exc:
                    failure = classify(exc) or (
                        Failure(Kind.SERVER, "the upstream closed the stream without data")
                        if isinstance(exc, _EmptyStream) else None)
                    if failure is None:
                        raise
                    record = {"model": target.model, **failure.to_dict()}
                    attempts.append(record)
                    log.warning("%s attempt %d failed: %s", target.model, retry + 1, failure.message)
                    if progress.started:
                        raise UpstreamError(attempts, "the stream failed after it started") from exc
                    if not failure.falls_back:
                        raise BadRequest(f"{target.model} refused the request: {failure.message}") from exc
                    if not failure.retryable or retry == retries:
                        break
                    delay = backoff_delay(retry, self.retry, failure.retry_after, self._draw())
                    record["delay_s"] = round(delay, 3)
                    await self._sleep(delay)
                    continue
                attempts.append({"model": target.model})
                return Outcome(response, target, attempts, progress.head.get("id"))
        raise UpstreamError(attempts)

    def _retries(self, spec: ModelSpec) -> int:
        return self.defaults.max_retries if spec.max_retries is None else spec.max_retries

    def _timeout(self, spec: ModelSpec) -> float:
        return self.defaults.timeout_s if spec.timeout_s is None else spec.timeout_s

    def _kwargs(self, spec: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **spec.params,
            **params,
            "model": spec.model,
            "api_base": spec.api_base,
            "api_key": spec.api_key.get_secret_value() if spec.api_key is not None else None,
            "timeout": self._timeout(spec),
            "num_retries": 0,   # litellm's retries: off, we retry
            "max_retries": 0,   # the openai client's retries: off, we retry
            "drop_params": True,  # a fallback provider may not take every OpenAI parameter
            # litellm 1.106 imports its MCP gateway (an optional extra) for any call with tools.
            "_skip_mcp_handler": True,
        }

    async def _once(self, spec: ModelSpec, params: dict[str, Any]) -> Any:
        with anyio.fail_after(self._timeout(spec) + GRACE_S):
            return await self._acompletion(**self._kwargs(spec, params))

    async def _stream(self, spec: ModelSpec, params: dict[str, Any], sink: Sink,
                      progress: _Progress) -> Any:
        timeout = self._timeout(spec) + GRACE_S
        kwargs = {**self._kwargs(spec, params), "stream": True, "stream_options": {"include_usage": True}}
        with anyio.fail_after(timeout):
            stream = await self._acompletion(**kwargs)
        chunks: list[Any] = []
        try:
            iterator = stream.__aiter__()
            while True:
                with anyio.fail_after(timeout):  # the wait for the next chunk, not the whole answer
                    try:
                        chunk = await iterator.__anext__()
                    except StopAsyncIteration:
                        break
                chunks.append(chunk)
                if not progress.head:
                    progress.head = {"id": chunk.id, "created": int(chunk.created), "model": chunk.model}
                for frame in chunk_frames(chunk, **progress.head):
                    progress.started = True
                    await sink.send(frame)
        finally:
            await stream.aclose()
        if not chunks:
            raise _EmptyStream
        built = litellm.stream_chunk_builder(chunks, messages=params.get("messages"))
        if built is None:
            raise _EmptyStream
        built.id, built.created = progress.head["id"], progress.head["created"]
        return built
