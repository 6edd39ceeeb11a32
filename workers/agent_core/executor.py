"""One round of tool calls: map, parse, guard, check, run concurrently, answer the model.

For each tool call of a model turn, in the model's order:

1. the tool name is looked up in the run's :class:`~.tools.ToolNames` (a name we never sent is
   answered ``unknown_tool``);
2. the arguments are parsed as JSON and must be an object (else ``invalid_arguments``);
3. the :class:`~.guard.LoopGuard` counts the call (``loop_detected`` past the limit).

Then the calls that passed run concurrently in one task group, each:

4. capability check — the agent's globs locally, always; and, when a function
   ``security::check_capability`` is registered, its answer to ``{agent_id, capability: "tool",
   resource: function_id}``, which must be ``{allowed: bool, reason?}``. The security worker can
   only narrow what the globs allow. A failing or malformed answer denies (fail closed);
5. approval — when ``approval::required`` is registered and answers true for ``{agent_id,
   function_id}``, the call does not run: its record is marked ``awaiting`` and the loop pauses
   the run (:mod:`.runs`). A failing answer fails the call (``approval_check_failed``);
6. ``trigger(function_id, arguments, timeout=tool_timeout_s, metadata={agent_id, agent_depth,
   taint})``, and the result is screened (:mod:`.screening`) before the model reads it.

Every failure, including a timeout, becomes the content ``{"error": {"code", "message"}}`` of
the tool message, so the model can react and the run goes on. The tool messages are returned in
the model's order, whatever order the calls finished in.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio

from workers.sdk import Context, InvocationError

from .guard import LoopGuard, Verdict
from .llm import ToolCallOut
from .screening import Screen
from .spec import AgentRecord
from .stream import RunStream
from .tools import ToolNames, error_content, is_allowed, result_content

__all__ = ["APPROVAL_REQUIRED", "CHECK_CAPABILITY", "RoundResult", "ToolCallRecord", "ToolExecutor",
           "tool_messages"]

log = logging.getLogger(__name__)

CHECK_CAPABILITY = "security::check_capability"
APPROVAL_REQUIRED = "approval::required"


@dataclass
class ToolCallRecord:
    """What happened to one tool call (an entry of ``agent::chat``'s ``tool_calls``)."""

    id: str
    name: str
    function_id: str | None
    arguments: Any
    ok: bool = False
    duration_ms: int = 0
    content: str = ""
    error: dict[str, str] | None = None
    awaiting: bool = False
    """Waiting for a human's approval (the run pauses)."""
    approval_id: str | None = None

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "function_id": self.function_id, "arguments": self.arguments,
            "ok": self.ok, "duration_ms": self.duration_ms,
        }
        if self.function_id is None:
            out["name"] = self.name
        if self.error is not None:
            out["error"] = self.error
        if self.awaiting or self.approval_id is not None:
            out["approval_id"] = self.approval_id
            out["awaiting_approval"] = self.awaiting
        return out

    def saved(self) -> dict[str, Any]:
        """Everything, for a paused run's record (:meth:`restore` reads it back)."""
        return {"id": self.id, "name": self.name, "function_id": self.function_id,
                "arguments": self.arguments, "ok": self.ok, "duration_ms": self.duration_ms,
                "content": self.content, "error": self.error, "awaiting": self.awaiting,
                "approval_id": self.approval_id}

    @staticmethod
    def restore(data: dict[str, Any]) -> ToolCallRecord:
        return ToolCallRecord(**data)


@dataclass
class RoundResult:
    messages: list[dict[str, Any]]
    """The ``tool`` messages, in the model's order."""
    records: list[ToolCallRecord]
    stop: bool = False
    """The loop guard wants the run to end (``loop_detected``)."""

    @property
    def awaiting(self) -> list[ToolCallRecord]:
        """The calls waiting for approval (the round is not finished while there are any)."""
        return [r for r in self.records if r.awaiting]


def tool_messages(records: Sequence[ToolCallRecord]) -> list[dict[str, Any]]:
    """The ``tool`` messages of a finished round, in the model's order."""
    return [{"role": "tool", "tool_call_id": r.id, "content": r.content} for r in records]


@dataclass
class _Planned:
    record: ToolCallRecord
    refusal: tuple[str, str] | None = None


def _parse_arguments(text: str) -> tuple[Any, tuple[str, str] | None]:
    if not text.strip():
        return {}, None
    try:
        value = json.loads(text)
    except ValueError as exc:
        return text, ("invalid_arguments", f"arguments are not valid JSON: {exc}")
    if not isinstance(value, dict):
        return value, ("invalid_arguments", "arguments must be a JSON object")
    return value, None


_OWN_MEMORY = ("memory::",)


class ToolExecutor:
    """Runs the tool calls of one agent run.

    Args:
        ctx: the ``agent::chat`` invocation (calls go out in its realm and trace).
        agent: the agent running.
        names: the run's tool-name table.
        guard: the run's loop guard.
        stream: where tool events go.
        remote_check: True when ``security::check_capability`` is registered.
        approvals: True when ``approval::required`` is registered.
        screen: the run's screening and taint labels (None: no screening, no labels).
        depth: the run's agent depth (default: read from ``ctx.metadata``).
        tool_timeout: seconds each tool may take.
        max_chars: where tool results are cut.
        clock: monotonic seconds (durations).
    """

    def __init__(
        self,
        ctx: Context,
        agent: AgentRecord,
        names: ToolNames,
        guard: LoopGuard,
        stream: RunStream,
        *,
        remote_check: bool,
        tool_timeout: float,
        max_chars: int,
        approvals: bool = False,
        screen: Screen | None = None,
        depth: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ctx, self.agent, self.names, self.guard, self.stream = ctx, agent, names, guard, stream
        self.remote_check = remote_check
        self.approvals = approvals
        self.screen = screen
        self.tool_timeout = tool_timeout
        self.max_chars = max_chars
        self.clock = clock
        if depth is None:
            depth = (ctx.metadata or {}).get("agent_depth", 0)
        self.depth = depth if isinstance(depth, int) and not isinstance(depth, bool) and depth >= 0 else 0
        """How deep this run is in agent-to-agent calls (0: started by a user)."""

    def _plan(self, index: int, call: ToolCallOut) -> tuple[_Planned, Verdict]:
        call_id = call.id or f"call_{index}"
        name = call.function.name
        function_id = self.names.id_of(name)
        arguments, problem = _parse_arguments(call.function.arguments_text())
        record = ToolCallRecord(call_id, name, function_id, arguments)
        if function_id is None:
            return _Planned(record, ("unknown_tool", f"unknown tool {name!r}")), Verdict.RUN
        if problem is not None:
            return _Planned(record, problem), Verdict.RUN
        verdict = self.guard.check(function_id, arguments)
        if verdict is not Verdict.RUN:
            count = self.guard.count(function_id, arguments)
            message = (f"{function_id} was already called {count - 1} times with these arguments; "
                       "do not repeat it — use the results you have or try something else")
            return _Planned(record, ("loop_detected", message)), verdict
        return _Planned(record), verdict

    async def run_round(self, calls: Sequence[ToolCallOut]) -> RoundResult:
        """Run one model turn's tool calls; see the module docstring.

        Raises:
            InvalidState: the connection to the engine is gone (the run cannot go on).
        """
        planned: list[_Planned] = []
        stop = False
        for index, call in enumerate(calls):
            plan, verdict = self._plan(index, call)
            stop = stop or verdict is Verdict.STOP
            planned.append(plan)
        async with anyio.create_task_group() as tg:
            for plan in planned:
                tg.start_soon(self._execute, plan)
        records = [p.record for p in planned]
        return RoundResult(tool_messages(records), records, stop)

    async def run_decided(self, record: ToolCallRecord, decision: str, why: str) -> None:
        """Finish a call a human decided on: run it if approved (the capability is checked
        again: it may have been revoked meanwhile), else answer the model with ``why``."""
        record.awaiting = False
        await self.stream.tool_call(record.id, record.function_id, record.arguments)
        started = self.clock()
        try:
            if decision != "approved":
                self._fail(record, "approval_rejected" if decision == "rejected" else f"approval_{decision}", why)
                return
            assert record.function_id is not None
            denied = await self._check(record.function_id)
            if denied is not None:
                self._fail(record, "forbidden", denied)
                return
            await self._invoke(record)
        finally:
            record.duration_ms = round((self.clock() - started) * 1000)
            await self.stream.tool_result(record.id, record.function_id, record.ok, record.content)

    async def _execute(self, plan: _Planned) -> None:
        record = plan.record
        await self.stream.tool_call(record.id, record.function_id, record.arguments)
        started = self.clock()
        try:
            if plan.refusal is not None:
                self._fail(record, *plan.refusal)
                return
            assert record.function_id is not None
            denied = await self._check(record.function_id)
            if denied is not None:
                self._fail(record, "forbidden", denied)
                return
            if self.approvals:
                try:
                    needed = await self.ctx.trigger(APPROVAL_REQUIRED, {
                        "agent_id": self.agent.agent_id, "function_id": record.function_id},
                        timeout=self.tool_timeout)
                except InvocationError as exc:
                    self._fail(record, "approval_check_failed",
                               f"could not learn whether {record.function_id} needs approval: {exc.message}")
                    return
                if needed is not False:  # anything but a clear "no" waits for a human
                    record.awaiting = True
                    return
            await self._invoke(record)
        finally:
            record.duration_ms = round((self.clock() - started) * 1000)
            if not record.awaiting:
                await self.stream.tool_result(record.id, record.function_id, record.ok, record.content)

    async def _invoke(self, record: ToolCallRecord) -> None:
        """Call the tool (already allowed) and screen its result."""
        assert record.function_id is not None
        arguments = record.arguments
        if record.function_id.startswith(_OWN_MEMORY) and isinstance(arguments, dict):
            # memory::* takes the agent id in its payload: the run's own id wins over any
            # id the model wrote, so an agent cannot read another agent's memories.
            arguments = {**arguments, "agent_id": self.agent.agent_id}
        metadata: dict[str, Any] = {"agent_id": self.agent.agent_id, "agent_depth": self.depth}
        if self.screen is not None:
            metadata["taint"] = self.screen.labels()
        try:
            # Who is calling travels in metadata, never in the arguments: the model writes
            # those and can be steered by what it read (workers/tools/identity.py).
            value = await self.ctx.trigger(
                record.function_id, arguments, timeout=self.tool_timeout, metadata=metadata)
        except InvocationError as exc:
            self._fail(record, exc.code, exc.message)
            return
        record.ok = True
        content = result_content(value, self.max_chars)
        if self.screen is not None:
            content = await self.screen.screen_output(record.function_id, content, self.max_chars)
        record.content = content

    def _fail(self, record: ToolCallRecord, code: str, message: str) -> None:
        record.ok = False
        record.error = {"code": code, "message": message}
        record.content = error_content(code, message, self.max_chars)

    async def _check(self, function_id: str) -> str | None:
        """None if the call is allowed, else why not."""
        if not is_allowed(function_id, self.agent.capabilities):
            return f"agent {self.agent.agent_id} may not call {function_id}"
        if not self.remote_check:
            return None
        payload = {"agent_id": self.agent.agent_id, "capability": "tool", "resource": function_id}
        try:
            answer = await self.ctx.trigger(CHECK_CAPABILITY, payload, timeout=self.tool_timeout)
        except InvocationError as exc:
            log.warning("capability check of %s failed (%s): denying", function_id, exc)
            return f"capability check failed ({exc.code}): {exc.message}"
        if not isinstance(answer, dict) or not isinstance(answer.get("allowed"), bool):
            log.warning("malformed answer of %s for %s: %r; denying", CHECK_CAPABILITY, function_id, answer)
            return "capability check answered in an unknown shape"
        if answer["allowed"]:
            return None
        reason = answer.get("reason")
        return str(reason) if reason else f"{function_id} is not allowed for {self.agent.agent_id}"
