"""The agent turn: ``agent::chat`` once the agent is loaded and allowed to run.

Theory of operation
-------------------
1. **Prepare.** Parse the run's ``context`` variables (:mod:`.overrides`), list the registered
   functions once (``engine::functions::list`` with schemas) and build the run's tools and their
   name table (:mod:`.tools`), render the system prompt, load the session history, recall the
   agent's relevant memories (:mod:`.memory_hook`).
2. **Iterate**, at most ``max_iterations`` model calls (run › agent › worker default):
   fit the messages to the agent's context budget (:mod:`.context_window`), call ``llm::complete``
   (:mod:`.llm`, streamed when the caller gave ``stream_to``); no tool calls → done with the
   model's finish reason; else run the round (:mod:`.executor`), append the assistant message and
   the tool results, and go on. The loop guard may end the run (``loop_detected``); running out of
   iterations ends it with ``max_iterations`` (the last round's tools did run, so the history stays
   well-formed).
3. **Finish.** Store the turn in memory, append it to the session and answer. The worker opened
   the stream before loading the agent and sends its last frame (result or error), so even a
   refused run closes the caller's channel.

Errors of ``llm::complete`` end the run with their own code; tool errors never do. Nothing here
waits without a bound: every call out has a timeout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from workers.sdk import Context

from . import memory_hook, sessions
from .context_window import fit
from .executor import CHECK_CAPABILITY, ToolCallRecord, ToolExecutor
from .guard import LoopGuard
from .llm import ToolCallOut, Usage, complete
from .overrides import parse_context, render
from .spec import NAME_PATTERN, AgentRecord
from .stream import ChannelRef, RunStream
from .tools import FunctionInfo, Tool, build_tools

__all__ = ["ChatRequest", "InputMessage", "RunSettings", "run_chat"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunSettings:
    """Worker-wide defaults of a run (an agent or a request may lower ``max_iterations``)."""

    max_iterations: int = 10
    tool_timeout_s: float = 30.0
    llm_timeout_s: float = 300.0
    max_result_chars: int = 16_000
    max_repeats: int = 3
    stop_after_repeats: int = 5
    session_max_messages: int = 100
    stream_drain_timeout_s: float = 10.0


class InputMessage(BaseModel):
    """A message a caller sends (OpenAI shape; extra keys such as ``name`` are kept)."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[Any] | None = None


class ChatRequest(BaseModel):
    """The payload of ``agent::chat``: exactly one of ``message`` and ``messages``."""

    model_config = ConfigDict(extra="ignore")

    agent_id: str = Field(pattern=NAME_PATTERN)
    message: str | None = None
    messages: list[InputMessage] | None = Field(default=None, min_length=1)
    session_id: str | None = Field(default=None, min_length=1, max_length=200)
    stream_to: ChannelRef | None = None
    """The *writer* reference of a channel from ``engine::channels::create``."""
    context: dict[str, Any] | str | None = None
    """Template variables: an object, or a string holding a JSON or YAML object."""
    max_iterations: int | None = Field(default=None, ge=1, le=50)

    @model_validator(mode="after")
    def _one_input(self) -> ChatRequest:
        if (self.message is None) == (self.messages is None):
            raise ValueError("give exactly one of 'message' and 'messages'")
        return self

    def turn(self) -> list[dict[str, Any]]:
        """The new messages of this turn."""
        if self.message is not None:
            return [{"role": "user", "content": self.message}]
        assert self.messages is not None
        return [m.model_dump(exclude_none=True) for m in self.messages]


def _assistant(content: str | None, calls: list[ToolCallOut]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": content,
        "tool_calls": [
            {"id": c.id, "type": "function",
             "function": {"name": c.function.name, "arguments": c.function.arguments_text()}}
            for c in calls
        ],
    }


@dataclass
class _Outcome:
    content: str = ""
    finish_reason: str = "stop"
    iterations: int = 0
    model: str = ""
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0


async def _iterate(
    ctx: Context,
    agent: AgentRecord,
    messages: list[dict[str, Any]],
    tools: list[Tool],
    executor: ToolExecutor,
    records: list[ToolCallRecord],
    stream: RunStream,
    *,
    settings: RunSettings,
    max_iterations: int,
    source: Context | str,
) -> _Outcome:
    outcome = _Outcome(model=agent.model)
    specs = [t.openai() for t in tools]
    for iteration in range(1, max_iterations + 1):
        outcome.iterations = iteration
        fitted, dropped = fit(messages, agent.max_context_tokens, specs)
        if dropped:
            log.info("%s: dropped %d old messages to fit %d tokens", agent.agent_id, dropped,
                     agent.max_context_tokens)
        body: dict[str, Any] = {"model": agent.model, "messages": fitted, "agent_id": agent.agent_id}
        if specs:
            body["tools"], body["tool_choice"] = specs, "auto"
        if agent.temperature is not None:
            body["temperature"] = agent.temperature
        if agent.max_tokens is not None:
            body["max_tokens"] = agent.max_tokens
        completion = await complete(ctx, body, timeout=settings.llm_timeout_s, stream=stream,
                                    source=source,
                                    drain_timeout=settings.stream_drain_timeout_s)
        outcome.usage = outcome.usage + (completion.usage or Usage())
        outcome.cost_usd += completion.cost_usd or 0.0
        outcome.model = completion.model or outcome.model
        outcome.content = completion.message.content or ""
        calls = [
            c if c.id else c.model_copy(update={"id": f"call_{iteration}_{i}"})
            for i, c in enumerate(completion.message.tool_calls or [])
        ]
        if not calls:
            outcome.finish_reason = completion.finish_reason or "stop"
            return outcome
        messages.append(_assistant(completion.message.content, calls))
        round_ = await executor.run_round(calls)
        records.extend(round_.records)
        messages.extend(round_.messages)
        if round_.stop:
            outcome.finish_reason = "loop_detected"
            return outcome
    outcome.finish_reason = "max_iterations"
    return outcome


async def run_chat(
    ctx: Context,
    agent: AgentRecord,
    request: ChatRequest,
    settings: RunSettings,
    *,
    stream: RunStream,
    source: Context | str,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """Run one turn of ``agent`` (already loaded and allowed to run); see the module docstring.

    Args:
        stream: where chunks and tool events go (the caller sends the final frame and closes it).
        source: where the channels of streamed model calls are opened (``ctx`` or an engine URL).

    Returns:
        ``{content, agent_id, model, usage, cost_usd, iterations, tool_calls, duration_ms,
        finish_reason, session_id}``.

    Raises:
        InvalidArguments: a bad ``context``.
        InvocationError: ``llm::complete`` failed (its code is kept).
    """
    started = clock()
    variables = parse_context(request.context)
    listing = await ctx.trigger("engine::functions::list", {"include_schemas": True})
    functions = [FunctionInfo.model_validate(f) for f in (listing or {}).get("functions", [])]
    tools, names = build_tools(functions, agent.capabilities)
    builtins = {
        "agent_id": agent.agent_id, "name": agent.name, "realm": ctx.realm or "default",
        "model": agent.model, "session_id": request.session_id or "",
        "tools": ", ".join(t.function_id for t in tools) or "none",
    }
    system = render(agent.system_prompt, {**agent.variables, **variables, **builtins})
    history = await sessions.load(ctx, agent.agent_id, request.session_id) if request.session_id else []
    turn = request.turn()
    recalled = await memory_hook.recall(ctx, agent, functions, turn)
    messages = ([{"role": "system", "content": system}] if system.strip() else []) + recalled + history + turn
    records: list[ToolCallRecord] = []
    executor = ToolExecutor(
        ctx, agent, names, LoopGuard(settings.max_repeats, settings.stop_after_repeats), stream,
        remote_check=any(f.function_id == CHECK_CAPABILITY for f in functions),
        tool_timeout=settings.tool_timeout_s, max_chars=settings.max_result_chars, clock=clock,
    )
    outcome = await _iterate(
        ctx, agent, messages, tools, executor, records, stream, settings=settings,
        max_iterations=request.max_iterations or agent.max_iterations or settings.max_iterations,
        source=source,
    )
    await memory_hook.store_turn(ctx, agent, functions, request.session_id, turn, outcome.content)
    if request.session_id:
        await sessions.append(
            ctx, agent.agent_id, request.session_id,
            [*turn, {"role": "assistant", "content": outcome.content}],
            limit=settings.session_max_messages, now=wall_clock(),
        )
    return {
        "content": outcome.content,
        "agent_id": agent.agent_id,
        "model": outcome.model,
        "usage": outcome.usage.model_dump(),
        "cost_usd": round(outcome.cost_usd, 10),
        "iterations": outcome.iterations,
        "tool_calls": [r.public() for r in records],
        "duration_ms": round((clock() - started) * 1000),
        "finish_reason": outcome.finish_reason,
        "session_id": request.session_id,
    }
