"""``agent::resume_run``: a paused run goes on once a human decided (see :mod:`.runs`).

Also ``agent::run_get {run_id}`` (a paused or finished run's record) and ``agent::runs_list
{status?, agent_id?, limit?}``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from workers.sdk import Context, InvocationError

from . import runs
from .agents import AgentStore, ensure_runnable
from .errors import Conflict, RunNotFound, RunNotReady
from .loop import Run, RunSettings, close_round, drive, finish, list_functions, prepare, result_of
from .runs import FINISHED_TOPIC, RUNS_SCOPE, RunRecord
from .spec import parse_request
from .stream import RunStream

__all__ = ["ResumeRequest", "RunRef", "RunsListRequest", "Resumer"]

log = logging.getLogger(__name__)

CAS_ATTEMPTS = 8
RunId = Annotated[str, Field(min_length=1, max_length=200)]
Decisions = dict[str, tuple[str, str]]
"""call id → ``(approved | rejected | expired | failed, why)``."""


class ResumeRequest(BaseModel):
    """The wake-up the security worker queues; nothing but ``run_id`` is trusted."""

    model_config = ConfigDict(extra="ignore")

    run_id: RunId


class RunRef(BaseModel):
    model_config = ConfigDict(extra="ignore")

    run_id: RunId


class RunsListRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["paused", "resuming", "completed", "failed"] | None = None
    agent_id: str | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 100


def _decision(approval: Any) -> tuple[str, str] | None:
    """``(status, why)`` of a decided approval record, or None while it is pending."""
    if not isinstance(approval, Mapping):
        return "failed", "the approval record could not be read"
    status = approval.get("status")
    if status == "pending":
        return None
    by, note = approval.get("decided_by"), approval.get("note")
    if status == "approved":
        return "approved", ""
    if status == "rejected":
        return "rejected", f"a human ({by}) rejected this call" + (f": {note}" if note else "")
    if status == "expired":
        return "expired", "nobody approved this call in time; it did not run"
    return "failed", f"the approval is in an unknown state {status!r}"


class Resumer:
    """The run functions of agent-core.

    Args:
        store: the agent records.
        settings: run defaults.
        clock / wall_clock: monotonic and epoch seconds.
    """

    def __init__(self, store: AgentStore, settings: RunSettings, *, source: Callable[[Context], Context | str],
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.store, self.settings, self.source = store, settings, source
        self.clock, self.wall_clock = clock, wall_clock

    async def _claim(self, ctx: Context, run_id: str) -> tuple[Any, RunRecord, Decisions] | dict[str, Any]:
        """Move the run ``paused → resuming`` when every waiting call is decided.

        Returns the claimed ``(stored value, record, decision of each waiting call)``, or the
        answer to give when there is nothing to do (still pending, already resumed, finished).
        """
        raw, rec = await runs.load(ctx, run_id)
        for _ in range(CAS_ATTEMPTS):
            if rec is None:
                raise RunNotReady(f"run {run_id} is not stored (yet); the queue will retry")
            now = self.wall_clock()
            if rec.status == "resuming" and (rec.lease_until or 0) > now:
                return {"run_id": run_id, "status": rec.status}
            if rec.status not in ("paused", "resuming"):
                return {"run_id": run_id, "status": rec.status}
            decisions: Decisions = {}
            waiting = []
            for record in rec.round_records():
                if not record.awaiting:
                    continue
                if record.approval_id is None:
                    raise RunNotReady(f"run {run_id} has a call without an approval id")
                approval = await ctx.trigger("approval::get", {"approval_id": record.approval_id})
                decided = _decision(approval)
                if decided is None:
                    waiting.append(record.approval_id)
                else:
                    decisions[record.id] = decided
            if waiting:
                return {"run_id": run_id, "status": "paused", "waiting": waiting}
            claimed = rec.model_copy(update={
                "status": "resuming", "updated_at": now,
                "lease_until": now + self.settings.resume_lease_s})
            ok, current = await runs.cas(ctx, raw, claimed)
            if ok:
                return claimed.public(), claimed, decisions
            raw = current
            rec = RunRecord.model_validate(current) if current is not None else None
        raise Conflict(f"run {run_id} kept changing; try again")

    async def resume_run(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``agent::resume_run {run_id}`` → ``{run_id, status, …}`` (see :mod:`.runs`)."""
        req = parse_request(ResumeRequest, data)
        claimed = await self._claim(ctx, req.run_id)
        if isinstance(claimed, dict):
            return claimed
        raw, rec, decisions = claimed
        started = self.clock()
        try:
            paused = await self._continue(ctx, rec, decisions)
        except InvocationError as exc:
            log.warning("resumed run %s failed: %s %s", rec.run_id, exc.code, exc.message)
            rec.status, rec.error = "failed", {"code": exc.code, "message": exc.message}
            paused = False
        rec.updated_at, rec.lease_until = self.wall_clock(), None
        result = result_of(rec, round((self.clock() - started) * 1000))
        if not paused and rec.status != "failed":
            rec.result = result
        ok, _ = await runs.cas(ctx, raw, rec)
        if not ok:
            # another resumer took the run over after our lease ran out: its outcome wins
            log.warning("run %s was taken over while resuming; dropping this outcome", rec.run_id)
            return {"run_id": rec.run_id, "status": "taken_over"}
        await self._announce(ctx, rec, result)
        if rec.status == "failed":
            return {"run_id": rec.run_id, "status": "failed", "error": rec.error}
        return result

    async def _continue(self, ctx: Context, rec: RunRecord, decisions: Decisions) -> bool:
        """Finish the decided round and drive the run on; True if it paused again."""
        agent = await self.store.get(ctx, rec.agent_id)
        ensure_runnable(agent)
        functions = await list_functions(ctx)
        stream = RunStream(None)
        tools, executor, screen = prepare(ctx, agent, functions, stream, self.settings,
                                          taint=set(rec.taint), depth=rec.depth, clock=self.clock)
        records = rec.round_records()
        for record in records:
            if record.awaiting:
                status, why = decisions[record.id]
                await executor.run_decided(record, status, why)
        run = Run(rec, agent, functions, tools, executor, screen, stream)
        source = self.source(ctx)
        if not close_round(rec, records) and await drive(ctx, run, settings=self.settings, source=source):
            rec.status, rec.taint = "paused", screen.labels()
            return True
        await finish(ctx, run, self.settings, now=self.wall_clock())
        rec.taint = screen.labels()
        return False

    async def _announce(self, ctx: Context, rec: RunRecord, result: dict[str, Any]) -> None:
        """Hand the outcome — finished, failed, or paused again with new approvals — to
        ``notify`` (durable queue) and publish it (best effort). ``iterations`` tells the
        announcements of one run apart."""
        outcome: dict[str, Any] = {"run_id": rec.run_id, "agent_id": rec.agent_id,
                                   "session_id": rec.session_id, "status": rec.status,
                                   "iterations": rec.iterations}
        if rec.error is not None:
            outcome["error"] = rec.error
        else:
            outcome["result"] = result
        if rec.notify is not None:
            try:
                await ctx.enqueue(rec.notify.function_id, {**rec.notify.data, **outcome})
            except InvocationError as exc:
                log.warning("could not queue run %s's outcome to %s: %s", rec.run_id,
                            rec.notify.function_id, exc)
        try:
            await ctx.trigger("publish", {"topic": FINISHED_TOPIC, "data": outcome})
        except InvocationError as exc:
            log.warning("could not publish %s for run %s: %s", FINISHED_TOPIC, rec.run_id, exc)

    async def run_get(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``agent::run_get {run_id}`` → the run's record."""
        req = parse_request(RunRef, data)
        _, rec = await runs.load(ctx, req.run_id)
        if rec is None:
            raise RunNotFound(f"no run {req.run_id!r} (only runs that paused are kept)")
        return rec.public()

    async def runs_list(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``agent::runs_list {status?, agent_id?, limit?}`` → ``{runs}`` without their messages."""
        req = parse_request(RunsListRequest, data)
        values = await ctx.trigger("state::list", {"scope": RUNS_SCOPE})
        out = []
        for value in values or []:
            if not isinstance(value, Mapping):
                continue
            if (req.status and value.get("status") != req.status) or \
                    (req.agent_id and value.get("agent_id") != req.agent_id):
                continue
            out.append({k: value.get(k) for k in ("run_id", "agent_id", "session_id", "status",
                                                  "iterations", "created_at", "updated_at")}
                       | {"approvals": RunRecord.model_validate(value).approvals()})
        out.sort(key=lambda r: r.get("created_at") or 0)
        return {"runs": out[: req.limit]}
