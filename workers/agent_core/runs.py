"""Durable runs: the record of a run paused for human approval, and its state changes.

Theory of operation
-------------------
A run that finishes in one ``agent::chat`` call leaves no record (its result is the answer). A
run whose tool round holds a call that needs approval (:mod:`.executor`) is **paused**:

1. for each waiting call, ``approval::request {agent_id, run_id, function_id, arguments, reason,
   resume: {function_id: "agent::resume_run", data: {run_id}}}`` (a failed request fails that
   call only, as a tool result);
2. the whole run — messages, the round's calls in the model's order, iterations, usage, taint,
   the caller's ``notify`` — is stored with ``state::cas`` (expected: absent) in scope
   ``agent:runs`` under its ``run_id``, status ``paused``;
3. ``agent::chat`` answers at once with ``status: "paused"``, ``finish_reason:
   "approval_required"``, the ``run_id`` and the pending ``approvals``.

Every decision makes the security worker enqueue ``agent::resume_run {run_id, approval}`` on the
durable queue (so it happens even across an engine restart). The payload is only a wake-up: the
handler trusts nothing in it but the run id. It reads the run, asks ``approval::get`` for each
waiting call's real status, and returns if any is still pending. When all are decided it moves
the run ``paused → resuming`` by compare-and-set — one resumer wins, repeats and duplicates
(queue delivery is at least once) find the run no longer paused and do nothing — then runs the
approved calls (capability re-checked), answers rejected/expired ones with an error the model
reads, and goes on iterating. It may pause again; else the run ends ``completed`` (or
``failed``, with the error) with its result stored, the session and memory updated as for any
run. Each outcome of a resume — finished, failed, or paused again with new approvals — is
enqueued to ``notify.function_id`` (``{...notify.data, run_id, agent_id, session_id, status,
iterations, result | error}``) and published on topic ``agent.run.finished``.

A decision that arrives before step 2 stored the run gets ``run_not_ready`` and the queue
retries it. A resumer that dies holds the run ``resuming`` until ``lease_until``; a later
delivery (``approval::resume``) takes it over after that.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from workers.sdk import Context

from .executor import ToolCallRecord
from .llm import Usage

__all__ = ["RESUME_FUNCTION", "RUNS_SCOPE", "FINISHED_TOPIC", "Notify", "RunRecord", "cas", "load",
           "new_run_id"]

RUNS_SCOPE = "agent:runs"
RESUME_FUNCTION = "agent::resume_run"
FINISHED_TOPIC = "agent.run.finished"
RunStatus = Literal["running", "paused", "resuming", "completed", "failed"]


def new_run_id() -> str:
    return f"run_{uuid.uuid4().hex}"


class Notify(BaseModel):
    """Where the result of a run that finishes after a pause goes (through the queue)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    function_id: Annotated[str, Field(min_length=3, max_length=256, pattern=r"^[^\s:]+(::[^\s:]+)+$")]
    data: dict[str, Any] = Field(default_factory=dict)


class RunRecord(BaseModel):
    """A run, as it is kept between its pause and its end (see the module docstring)."""

    model_config = ConfigDict(extra="ignore")

    run_id: str
    agent_id: str
    session_id: str | None = None
    status: RunStatus = "running"
    turn: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    records: list[dict[str, Any]] = Field(default_factory=list)
    """Finished tool calls (:meth:`ToolCallRecord.saved`), oldest first."""
    round: list[dict[str, Any]] = Field(default_factory=list)
    """The unfinished round: every call of that model turn, in the model's order."""
    stop_after_round: bool = False
    """The loop guard asked to end the run once the round is finished."""
    iterations: int = 0
    max_iterations: int
    model: str
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    content: str = ""
    finish_reason: str = "stop"
    taint: list[str] = Field(default_factory=list)
    depth: int = 0
    notify: Notify | None = None
    created_at: float
    updated_at: float
    lease_until: float | None = None
    result: dict[str, Any] | None = None
    error: dict[str, str] | None = None

    def round_records(self) -> list[ToolCallRecord]:
        return [ToolCallRecord.restore(r) for r in self.round]

    def all_records(self) -> list[ToolCallRecord]:
        return [ToolCallRecord.restore(r) for r in self.records]

    def approvals(self) -> list[dict[str, Any]]:
        """The waiting calls of the round: ``{approval_id, call_id, function_id, arguments}``."""
        return [{"approval_id": r.get("approval_id"), "call_id": r.get("id"),
                 "function_id": r.get("function_id"), "arguments": r.get("arguments")}
                for r in self.round if r.get("awaiting")]

    def public(self) -> dict[str, Any]:
        """What ``agent::run_get`` shows (the messages too: the caller's realm owns them)."""
        return self.model_dump(mode="json")


async def load(ctx: Context, run_id: str) -> tuple[Any, RunRecord | None]:
    """``(stored value, record)``; ``(None, None)`` when there is no such run."""
    raw = await ctx.trigger("state::get", {"scope": RUNS_SCOPE, "key": run_id})
    return raw, (RunRecord.model_validate(raw) if raw is not None else None)


async def cas(ctx: Context, expected: Any, record: RunRecord) -> tuple[bool, Any]:
    """Store ``record`` if the stored value is still ``expected``; ``(ok, current)``."""
    answer = await ctx.trigger("state::cas", {"scope": RUNS_SCOPE, "key": record.run_id,
                                              "expected": expected, "value": record.public()})
    if isinstance(answer, dict):
        return bool(answer.get("ok")), answer.get("current")
    return False, None
