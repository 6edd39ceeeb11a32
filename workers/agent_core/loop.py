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
   well-formed). The user's new messages are screened for prompt injection before the first
   model call, and tool results before the model reads them (:mod:`.screening`).
   A round holding a call that needs a human's approval **pauses** the run durably
   (:mod:`.runs`): ``agent::chat`` answers ``status: "paused"`` at once, and the run goes on
   in ``agent::resume_run`` once every waiting call is decided (:mod:`.resume`).
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

from workers.sdk import Context, InvocationError

from . import memory_hook, runs, sessions
from .context_window import fit
from .errors import Conflict
from .executor import (
    APPROVAL_REQUIRED,
    CHECK_CAPABILITY,
    ToolCallRecord,
    ToolExecutor,
    tool_messages,
)
from .guard import LoopGuard
from .llm import ToolCallOut, Usage, complete
from .overrides import parse_context, render
from .runs import RESUME_FUNCTION, Notify, RunRecord, new_run_id
from .screening import Screen, ScreenPolicy
from .spec import NAME_PATTERN, AgentRecord
from .stream import ChannelRef, RunStream
from .tools import FunctionInfo, Tool, build_tools, error_content

__all__ = ["ChatRequest", "InputMessage", "Run", "RunSettings", "drive", "finish", "list_functions", "prepare",
           "result_of", "run_chat"]

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
    screen: ScreenPolicy = field(default_factory=ScreenPolicy)
    resume_lease_s: float = 900.0
    """How long a resumer holds a run before another delivery may take it over."""


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
    notify: Notify | None = None
    """Where the result goes if the run pauses for approval and finishes later (queued)."""

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
class Run:
    """A run being driven: its durable record plus what only lives while it runs."""

    record: RunRecord
    agent: AgentRecord
    functions: list[FunctionInfo]
    tools: list[Tool]
    executor: ToolExecutor
    screen: Screen
    stream: RunStream


async def list_functions(ctx: Context) -> list[FunctionInfo]:
    listing = await ctx.trigger("engine::functions::list", {"include_schemas": True})
    return [FunctionInfo.model_validate(f) for f in (listing or {}).get("functions", [])]


def _inherited_taint(ctx: Context, agent: AgentRecord) -> set[str]:
    """Labels a run starts with: its caller's (``metadata.taint``, set by ``tool::agent_send``)
    and the agent's ``taint:<label>`` tags (set by ``tool::agent_spawn`` from a tainted run)."""
    given = (ctx.metadata or {}).get("taint")
    labels = {x for x in given if isinstance(x, str)} if isinstance(given, list) else set()
    return labels | {t.removeprefix("taint:") for t in agent.tags if t.startswith("taint:")}


def _depth(ctx: Context) -> int:
    depth = (ctx.metadata or {}).get("agent_depth", 0)
    return depth if isinstance(depth, int) and not isinstance(depth, bool) and depth >= 0 else 0


def prepare(ctx: Context, agent: AgentRecord, functions: list[FunctionInfo], stream: RunStream,
            settings: RunSettings, *, taint: set[str], depth: int,
            clock: Callable[[], float]) -> tuple[list[Tool], ToolExecutor, Screen]:
    """The run's tools, its tool executor and its screening."""
    tools, names = build_tools(functions, agent.capabilities)
    registered = {f.function_id for f in functions}
    screen = Screen(ctx, agent.agent_id, functions, settings.screen, taint)
    executor = ToolExecutor(
        ctx, agent, names, LoopGuard(settings.max_repeats, settings.stop_after_repeats), stream,
        remote_check=CHECK_CAPABILITY in registered, approvals=APPROVAL_REQUIRED in registered,
        screen=screen, depth=depth, tool_timeout=settings.tool_timeout_s,
        max_chars=settings.max_result_chars, clock=clock,
    )
    return tools, executor, screen


async def _iterate(ctx: Context, run: Run, *, settings: RunSettings, source: Context | str) -> None:
    """Model calls and tool rounds until an answer, a limit, or a round waiting for approval."""
    rec, agent = run.record, run.agent
    specs = [t.openai() for t in run.tools]
    while rec.iterations < rec.max_iterations:
        rec.iterations += 1
        fitted, dropped = fit(rec.messages, agent.max_context_tokens, specs)
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
        completion = await complete(ctx, body, timeout=settings.llm_timeout_s, stream=run.stream,
                                    source=source, drain_timeout=settings.stream_drain_timeout_s)
        rec.usage = rec.usage + (completion.usage or Usage())
        rec.cost_usd += completion.cost_usd or 0.0
        rec.model = completion.model or rec.model
        rec.content = completion.message.content or ""
        calls = [
            c if c.id else c.model_copy(update={"id": f"call_{rec.iterations}_{i}"})
            for i, c in enumerate(completion.message.tool_calls or [])
        ]
        if not calls:
            rec.finish_reason = completion.finish_reason or "stop"
            return
        rec.messages.append(_assistant(completion.message.content, calls))
        round_ = await run.executor.run_round(calls)
        if round_.awaiting:
            rec.round = [r.saved() for r in round_.records]
            rec.stop_after_round = round_.stop
            return
        rec.messages.extend(round_.messages)
        rec.records.extend(r.saved() for r in round_.records)
        if round_.stop:
            rec.finish_reason = "loop_detected"
            return
    rec.finish_reason = "max_iterations"


def close_round(rec: RunRecord, records: list[ToolCallRecord]) -> bool:
    """Put a finished round into the history; True if the loop guard wanted the run to end."""
    rec.messages.extend(tool_messages(records))
    rec.records.extend(r.saved() for r in records)
    rec.round = []
    stop, rec.stop_after_round = rec.stop_after_round, False
    if stop:
        rec.finish_reason = "loop_detected"
    return stop


async def _request_approvals(ctx: Context, run: Run, records: list[ToolCallRecord]) -> None:
    """Ask a human about each waiting call; a request that fails fails that call."""
    for record in records:
        if not record.awaiting:
            continue
        try:
            answer = await ctx.trigger("approval::request", {
                "agent_id": run.agent.agent_id, "run_id": run.record.run_id,
                "function_id": record.function_id, "arguments": record.arguments,
                "reason": f"agent {run.agent.agent_id} wants to call {record.function_id}",
                "resume": {"function_id": RESUME_FUNCTION, "data": {"run_id": run.record.run_id}},
            })
            record.approval_id = str(answer["approval_id"])
        except (InvocationError, KeyError, TypeError) as exc:
            log.warning("approval request for %s failed: %s", record.function_id, exc)
            record.awaiting = False
            record.error = {"code": "approval_unavailable",
                            "message": f"{record.function_id} needs a human's approval, which could "
                                       "not be requested; it did not run"}
            record.content = error_content(record.error["code"], record.error["message"], 4000)
        else:
            await run.stream.approval(record.id, record.function_id, record.approval_id)


async def drive(ctx: Context, run: Run, *, settings: RunSettings, source: Context | str) -> bool:
    """Iterate until the run ends (False) or waits for approval (True, its round saved)."""
    rec = run.record
    while True:
        await _iterate(ctx, run, settings=settings, source=source)
        if not rec.round:
            return False
        records = rec.round_records()
        await _request_approvals(ctx, run, records)
        rec.round = [r.saved() for r in records]
        if any(r.awaiting for r in records):
            return True
        if close_round(rec, records):
            return False


def result_of(rec: RunRecord, duration_ms: int) -> dict[str, Any]:
    """What ``agent::chat`` answers (and a resumed run stores as its ``result``)."""
    paused = rec.status == "paused"
    content = rec.content
    if paused:
        waiting = ", ".join(f"{a['function_id']} ({a['approval_id']})" for a in rec.approvals())
        content = f"This run is paused until a human approves: {waiting}."
    return {
        "content": content,
        "agent_id": rec.agent_id,
        "model": rec.model,
        "usage": rec.usage.model_dump(),
        "cost_usd": round(rec.cost_usd, 10),
        "iterations": rec.iterations,
        "tool_calls": [ToolCallRecord.restore(r).public() for r in [*rec.records, *rec.round]],
        "duration_ms": duration_ms,
        "finish_reason": "approval_required" if paused else rec.finish_reason,
        "session_id": rec.session_id,
        "run_id": rec.run_id,
        "status": rec.status,
        **({"approvals": rec.approvals()} if paused else {}),
    }


async def finish(ctx: Context, run: Run, settings: RunSettings, *, now: float) -> None:
    """Store the finished turn in memory and in the session (the run's record is the caller's)."""
    rec = run.record
    await memory_hook.store_turn(ctx, run.agent, run.functions, rec.session_id, rec.turn, rec.content)
    if rec.session_id:
        await sessions.append(
            ctx, rec.agent_id, rec.session_id,
            [*rec.turn, {"role": "assistant", "content": rec.content}],
            limit=settings.session_max_messages, now=now,
        )
    rec.status = "completed"


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
        finish_reason, session_id, run_id, status}``, plus ``approvals`` when paused.

    Raises:
        InvalidArguments: a bad ``context``.
        InjectionDetected, ScanFailed: the user's message was refused by the screening.
        InvocationError: ``llm::complete`` failed (its code is kept).
    """
    started = clock()
    variables = parse_context(request.context)
    functions = await list_functions(ctx)
    depth = _depth(ctx)
    tools, executor, screen = prepare(ctx, agent, functions, stream, settings,
                                      taint=_inherited_taint(ctx, agent), depth=depth, clock=clock)
    turn = request.turn()
    await screen.check_input(turn)
    builtins = {
        "agent_id": agent.agent_id, "name": agent.name, "realm": ctx.realm or "default",
        "model": agent.model, "session_id": request.session_id or "",
        "tools": ", ".join(t.function_id for t in tools) or "none",
    }
    system = render(agent.system_prompt, {**agent.variables, **variables, **builtins})
    history = await sessions.load(ctx, agent.agent_id, request.session_id) if request.session_id else []
    recalled = await memory_hook.recall(ctx, agent, functions, turn)
    now = wall_clock()
    record = RunRecord(
        run_id=new_run_id(), agent_id=agent.agent_id, session_id=request.session_id, turn=turn,
        messages=([{"role": "system", "content": system}] if system.strip() else []) + recalled + history + turn,
        max_iterations=request.max_iterations or agent.max_iterations or settings.max_iterations,
        model=agent.model, depth=depth, notify=request.notify, created_at=now, updated_at=now,
    )
    run = Run(record, agent, functions, tools, executor, screen, stream)
    if await drive(ctx, run, settings=settings, source=source):
        record.status, record.taint, record.updated_at = "paused", screen.labels(), wall_clock()
        ok, _ = await runs.cas(ctx, None, record)
        if not ok:
            raise Conflict(f"run id {record.run_id} collided; try again")
    else:
        await finish(ctx, run, settings, now=wall_clock())
    return result_of(record, round((clock() - started) * 1000))
