"""The llm-router worker: ``llm::complete``, ``llm::route``, ``llm::models``, ``llm::usage``.

:class:`LlmRouter` holds the model table, the completer and the usage counters;
:meth:`LlmRouter.worker` wraps its methods as SDK functions. ``python -m workers.llm_router``
loads ``llm.yaml``, probes Ollama and serves the worker (see :func:`main`).

Around every model call it talks to two optional functions, found by name at call time:

* ``ledger::check {agent_id, realm, estimated_cost}`` before the call — ``{allowed: false}``
  refuses it with ``budget_exceeded``; not registered → go ahead; registered but failing →
  ``llm_budget_check_failed`` (we do not spend blind);
* ``publish {topic: "cost.incurred", data: {...}}`` after it — not registered → nothing; a
  failure is logged, never turned into a failed completion.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread

from workers.sdk import Context, FunctionNotFound, InvocationError, Worker, function, run

from .complete import Completer
from .config import LlmConfig, load_config
from .errors import NOT_CONFIGURED_HINT, BudgetCheckFailed, BudgetExceeded, LlmConfigError, LlmError
from .ollama import probe_ollama
from .payloads import CompleteRequest, RouteRequest, UsageRequest, parse
from .router import ModelTable, Selection
from .routing import complexity
from .shapes import completion_dict, cost_of
from .sink import ChannelSink
from .usage import UsageBook

__all__ = ["ESTIMATED_COMPLETION_TOKENS", "LlmRouter", "main"]

log = logging.getLogger(__name__)

ESTIMATED_COMPLETION_TOKENS = 512
"""Completion size assumed by the budget pre-check when a request sets no ``max_tokens``."""
COST_TOPIC = "cost.incurred"


class LlmRouter:
    """The worker's state. Build with :meth:`start` (probes Ollama) or directly in tests.

    Args:
        config: the loaded ``llm.yaml``.
        ollama_models: the models a local Ollama serves (what :meth:`start` probed).
        completer: how models are called (default: litellm with ``config``'s retry settings).
        clock: unix seconds, for ``ts`` in cost events and ``since`` in usage reports.
    """

    def __init__(self, config: LlmConfig, *, ollama_models: list[str] | None = None,
                 completer: Completer | None = None, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.table = ModelTable(config, ollama_models or [])
        self.completer = completer or Completer(config.defaults, config.retry)
        self.clock = clock
        self.usage = UsageBook(started_at=clock())

    @classmethod
    async def start(cls, config: LlmConfig, **kwargs: Any) -> LlmRouter:
        """Probe for a local Ollama (bounded by ``ollama.probe_timeout_s``), then build."""
        return cls(config, ollama_models=await probe_ollama(config.ollama), **kwargs)

    # -- functions ------------------------------------------------------------------------

    async def complete(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``llm::complete``: one chat completion, streamed to ``stream_to`` when ``stream``.

        Returns:
            The OpenAI ``chat.completion`` dict plus ``cost_usd``, ``provider``, ``alias`` and
            ``attempts`` (the aggregate when streaming).

        Raises:
            LlmError: see :mod:`workers.llm_router.errors` for the codes.
        """
        request = parse(CompleteRequest, data)
        try:
            if request.stream_to is None or not request.stream:
                return await self._complete(request, ctx, None)
            async with ChannelSink(ctx, request.stream_to, self.config.defaults.stream_send_timeout_s) as sink:
                try:
                    return await self._complete(request, ctx, sink)
                except Exception as exc:  # the reader learns why; the error itself propagates
                    await sink.fail(exc)
                    raise
        except LlmError:
            self.usage.record_error(ctx.realm, request.agent_id, request.model or self.config.defaults.alias)
            raise

    async def route(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``llm::route``: which alias and models a conversation would use (``model`` default auto)."""
        request = parse(RouteRequest, data)
        selection = await self._select(request.model or "auto", ctx.realm, request.messages,
                                       request.tools, request.max_tokens)
        head = selection.chain[0]
        estimated_cost = self._estimated_cost(selection, request.max_tokens)
        await self._check_budget(ctx, request.agent_id, estimated_cost)
        route = selection.route
        return {
            "alias": selection.alias,
            "model": head.model,
            "provider": head.info.provider,
            "models": [t.model for t in selection.chain],
            "tier": route.tier if route else None,
            "complexity": route.score if route else complexity(request.messages, len(request.tools or ())),
            "reason": route.reason if route else "requested",
            "estimated_tokens": selection.estimated_tokens,
            "estimated_cost_usd": estimated_cost,
            "context_window": head.info.context_window,
            "supports_tools": head.info.supports_tools,
            "skipped": selection.skipped,
        }

    async def models(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``llm::models``: the aliases the caller may use, their models, and local Ollama models."""
        out: dict[str, Any] = {
            "configured": self.table.configured,
            "default_alias": self.config.defaults.alias,
            "aliases": self.table.describe_aliases(self.config.allowed_aliases(ctx.realm)),
            "ollama": None,
        }
        if self.table.ollama:
            out["ollama"] = {"base_url": self.config.ollama.base_url,
                             "models": [t.model for t in self.table.ollama]}
        if not self.table.configured:
            out["hint"] = NOT_CONFIGURED_HINT
        return out

    async def usage_report(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``llm::usage``: counters since start; a realm-bound caller sees its own realm only."""
        request = parse(UsageRequest, data)
        if ctx.realm is not None:
            return self.usage.report(realm=ctx.realm, agent_id=request.agent_id, model=request.model,
                                     only_realm=True)
        return self.usage.report(realm=request.realm, agent_id=request.agent_id, model=request.model)

    def worker(self) -> Worker:
        """The SDK worker serving this router's four functions."""

        @function("llm::complete", description="Chat completion over the configured models (OpenAI shape, "
                  "usage, cost); fallbacks, retries, streaming to a channel",
                  request_format=CompleteRequest.model_json_schema())
        async def llm_complete(data: Any, ctx: Context) -> dict[str, Any]:
            return await self.complete(data, ctx)

        @function("llm::route", description="Pick the model alias for a conversation (complexity, tools, "
                  "context window, realm policy)", request_format=RouteRequest.model_json_schema())
        async def llm_route(data: Any, ctx: Context) -> dict[str, Any]:
            return await self.route(data, ctx)

        @function("llm::models", description="List model aliases, their fallback chains and availability")
        async def llm_models(data: Any, ctx: Context) -> dict[str, Any]:
            return await self.models(data, ctx)

        @function("llm::usage", description="Requests, tokens and cost per realm, agent and model",
                  request_format=UsageRequest.model_json_schema())
        async def llm_usage(data: Any, ctx: Context) -> dict[str, Any]:
            return await self.usage_report(data, ctx)

        return Worker("llm-router", functions=[llm_complete, llm_route, llm_models, llm_usage],
                      description="LLM router: aliases, fallbacks, cost")

    # -- internals ------------------------------------------------------------------------

    async def _complete(self, request: CompleteRequest, ctx: Context, sink: ChannelSink | None) -> dict[str, Any]:
        selection = await self._select(request.model, ctx.realm, request.messages, request.tools,
                                       request.max_tokens)
        await self._check_budget(ctx, request.agent_id, self._estimated_cost(selection, request.max_tokens))
        outcome = await self.completer.complete(selection.chain, request.params(), sink=sink,
                                                skipped=selection.skipped)
        target = outcome.target
        result = completion_dict(outcome.response)
        cost = cost_of(outcome.response, target.spec, target.info)
        usage = result["usage"]
        self.usage.record(ctx.realm, request.agent_id, target.model, prompt_tokens=usage["prompt_tokens"],
                          completion_tokens=usage["completion_tokens"], cost_usd=cost)
        result.update(cost_usd=cost, provider=target.info.provider, alias=selection.alias,
                      attempts=outcome.attempts)
        await self._publish_cost(ctx, {
            "realm": ctx.realm, "agent_id": request.agent_id, "model": target.model,
            "provider": target.info.provider, "alias": selection.alias, "completion_id": result["id"],
            "prompt_tokens": usage["prompt_tokens"], "completion_tokens": usage["completion_tokens"],
            "cost_usd": cost, "ts": self.clock(), "metadata": request.metadata,
        })
        return result

    async def _select(self, model: str | None, realm: str | None, messages: list[dict[str, Any]],
                      tools: list[dict[str, Any]] | None, max_tokens: int | None) -> Selection:
        # Counting tokens is CPU work proportional to the conversation: not on the event loop.
        return await anyio.to_thread.run_sync(
            functools.partial(self.table.select, model, realm, messages, tools, max_tokens))

    def _estimated_cost(self, selection: Selection, max_tokens: int | None) -> float:
        info = selection.chain[0].info
        return info.estimate_cost(selection.estimated_tokens, max_tokens or ESTIMATED_COMPLETION_TOKENS)

    async def _check_budget(self, ctx: Context, agent_id: str | None, estimated_cost: float) -> None:
        payload = {"agent_id": agent_id, "realm": ctx.realm, "estimated_cost": estimated_cost}
        try:
            answer = await ctx.trigger("ledger::check", payload, timeout=self.config.defaults.ledger_timeout_s)
        except FunctionNotFound:
            return
        except InvocationError as exc:
            raise BudgetCheckFailed(f"ledger::check failed, refusing to spend blind: {exc}") from exc
        if isinstance(answer, dict) and answer.get("allowed") is False:
            reason = answer.get("reason") or "over budget"
            raise BudgetExceeded(f"ledger::check refused the call (agent {agent_id!r}, realm {ctx.realm!r}): {reason}")

    async def _publish_cost(self, ctx: Context, event: dict[str, Any]) -> None:
        try:
            await ctx.trigger("publish", {"topic": COST_TOPIC, "data": event},
                              timeout=self.config.defaults.ledger_timeout_s)
        except FunctionNotFound:
            return
        except InvocationError as exc:
            log.warning("could not publish %s: %s", COST_TOPIC, exc)


def main() -> None:
    """``python -m workers.llm_router``: load ``llm.yaml``, probe Ollama, serve until a signal.

    Raises:
        SystemExit: 2 when ``llm.yaml`` is invalid, 1 when the engine refuses the worker.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config()
    except LlmConfigError as exc:
        log.error("llm config: %s", exc)
        raise SystemExit(2) from exc
    router = anyio.run(LlmRouter.start, config)
    if not router.table.configured:
        log.warning("%s — llm::complete will answer llm_not_configured", NOT_CONFIGURED_HINT)
    run([router.worker()])
