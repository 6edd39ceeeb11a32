"""Human approval of sensitive tool calls, durable across restarts.

Theory of operation
-------------------
``approval::request {agent_id, run_id, function_id, arguments, reason, resume?, expires_in_s?}``
stores ``{…, status: "pending"}`` in state scope ``security:approvals`` (realm-scoped; SQLite or
Redis make it survive restarts) and publishes ``approval.requested`` (without the arguments).
``approval::decide {approval_id, decision: approve|reject, by, note?}`` moves it, once, by
compare-and-set, to ``approved`` or ``rejected`` and publishes ``approval.decided``. A request
past ``expires_at`` reads as ``expired`` and can no longer be decided.

**Resume.** A paused run gives ``resume: {function_id, data}``. Whatever the decision, ``decide``
hands ``function_id`` the payload ``data`` (an object; other values are wrapped as ``{data}``)
plus ``approval: {approval_id, decision, status, by, note, function_id, arguments}`` through the
engine's durable queue (``enqueue`` on queue ``default``: it runs even if the engine restarts
first), or as a void call when no queue module runs. The decided record carries
``resume_state: "pending"`` until the hand-off succeeded (then ``"enqueued"`` or ``"sent"``); a
crash in between leaves it ``pending`` and ``approval::resume {approval_id}`` sends it again.
The resumed function must tolerate a repeat (queue delivery is at least once): ``approval_id``
is the idempotency key.

``approval::wait {approval_id, timeout_s}`` returns at once if decided, else when this worker
decides it or after ``timeout_s`` (capped at ``max_wait_s``), never later; ``timed_out`` says
which. ``approval::set_policy {tools: [globs], agent_id?}`` lists the functions that need
approval (globally, or for one agent on top of the global list); ``approval::required
{agent_id, function_id}`` answers a bare boolean for the agent loop.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Annotated, Any, Literal

import anyio
from pydantic import BaseModel, ConfigDict, Field

from workers.sdk import Context, InvocationError

from . import _state
from .audit import AuditLog
from .capabilities import AgentId
from .errors import AlreadyDecided, Conflict, NotFound, TooManyPending, parse_request

__all__ = ["APPROVAL_SCOPE", "POLICY_SCOPE", "Approvals"]

log = logging.getLogger(__name__)

APPROVAL_SCOPE = "security:approvals"
POLICY_SCOPE = "security:approval_policy"
GLOBAL_POLICY = "__global"
FunctionId = Annotated[str, Field(min_length=3, max_length=256, pattern=r"^[^\s:]+(::[^\s:]+)+$")]
ApprovalId = Annotated[str, Field(min_length=1, max_length=64)]
Text = Annotated[str, Field(max_length=4000)]


class Resume(BaseModel):
    model_config = ConfigDict(extra="ignore")

    function_id: FunctionId
    data: Any = None


class RequestIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    agent_id: AgentId
    run_id: Annotated[str, Field(min_length=1, max_length=256)]
    function_id: FunctionId
    arguments: Any = None
    reason: Text = ""
    resume: Resume | None = None
    expires_in_s: Annotated[float, Field(gt=0, le=30 * 86400)] | None = None


class DecideIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    approval_id: ApprovalId
    decision: Literal["approve", "reject"]
    by: Annotated[str, Field(min_length=1, max_length=256)]
    note: Text | None = None


class IdIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    approval_id: ApprovalId


class WaitIn(IdIn):
    timeout_s: Annotated[float, Field(ge=0)] = 30.0


class ListIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["pending", "approved", "rejected", "expired"] | None = None
    agent_id: AgentId | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 100


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tools: Annotated[list[Annotated[str, Field(min_length=1, max_length=256)]], Field(max_length=512)]
    agent_id: AgentId | None = None


class PolicyRef(BaseModel):
    model_config = ConfigDict(extra="ignore")

    agent_id: AgentId | None = None


class RequiredIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    agent_id: AgentId
    function_id: Annotated[str, Field(min_length=1, max_length=256)]


class Approvals:
    """The ``approval::*`` functions.

    Args:
        audit: where requests and decisions go.
        max_pending: pending requests one agent may have.
        max_wait_s: the cap of ``approval::wait``.
        clock: epoch seconds.
    """

    def __init__(self, audit: AuditLog, *, max_pending: int = 50, max_wait_s: float = 300.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.audit, self.max_pending, self.max_wait_s, self.clock = audit, max_pending, max_wait_s, clock
        self._waiters: dict[tuple[str | None, str], anyio.Event] = {}

    def _public(self, record: dict[str, Any]) -> dict[str, Any]:
        expires = record.get("expires_at")
        if record.get("status") == "pending" and isinstance(expires, (int, float)) \
                and self.clock() >= expires:
            return {**record, "status": "expired"}
        return record

    async def _get(self, ctx: Context, approval_id: str) -> dict[str, Any]:
        record = await _state.get(ctx, APPROVAL_SCOPE, approval_id)
        if not isinstance(record, dict):
            raise NotFound(f"no approval {approval_id}")
        return record

    async def _publish(self, ctx: Context, topic: str, data: dict[str, Any]) -> None:
        try:
            await ctx.trigger("publish", {"topic": topic, "data": data})
        except InvocationError as exc:  # pubsub is best effort; the record is the truth
            log.warning("could not publish %s: %s", topic, exc)

    async def request(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``approval::request`` → ``{approval_id, status: "pending"}``."""
        req = parse_request(RequestIn, data)
        pending = [r for r in await _state.values(ctx, APPROVAL_SCOPE)
                   if isinstance(r, dict) and r.get("agent_id") == req.agent_id
                   and self._public(r).get("status") == "pending"]
        if len(pending) >= self.max_pending:
            raise TooManyPending(f"agent {req.agent_id} already has {len(pending)} pending approvals")
        now = self.clock()
        approval_id = f"apr_{uuid.uuid4().hex}"
        record: dict[str, Any] = {
            "approval_id": approval_id, "agent_id": req.agent_id, "run_id": req.run_id,
            "function_id": req.function_id, "arguments": req.arguments, "reason": req.reason,
            "status": "pending", "created_at": now,
            "expires_at": now + req.expires_in_s if req.expires_in_s else None,
            "resume": req.resume.model_dump(mode="json") if req.resume else None,
        }
        ok, _ = await _state.cas(ctx, APPROVAL_SCOPE, approval_id, None, record)
        if not ok:
            raise Conflict("approval id collision; try again")
        summary = {k: record[k] for k in ("approval_id", "agent_id", "run_id", "function_id", "reason")}
        await self.audit.append(ctx, "approval.requested", req.agent_id, summary)
        await self._publish(ctx, "approval.requested", summary)
        return {"approval_id": approval_id, "status": "pending"}

    async def get(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``approval::get {approval_id}`` → the record."""
        req = parse_request(IdIn, data)
        return self._public(await self._get(ctx, req.approval_id))

    async def list_approvals(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``approval::list {status?, agent_id?, limit?}`` → ``{approvals}``, oldest first."""
        req = parse_request(ListIn, data)
        records = [self._public(r) for r in await _state.values(ctx, APPROVAL_SCOPE) if isinstance(r, dict)]
        chosen = [r for r in records if (req.status is None or r.get("status") == req.status)
                  and (req.agent_id is None or r.get("agent_id") == req.agent_id)]
        chosen.sort(key=lambda r: r.get("created_at") or 0)
        return {"approvals": chosen[:req.limit]}

    async def decide(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``approval::decide`` → the decided record (see the module docstring)."""
        req = parse_request(DecideIn, data)
        record = await self._get(ctx, req.approval_id)
        for _ in range(5):
            status = self._public(record).get("status")
            if status != "pending":
                raise AlreadyDecided(f"approval {req.approval_id} is {status}")
            decided = {**record, "status": "approved" if req.decision == "approve" else "rejected",
                       "decided_at": self.clock(), "decided_by": req.by, "note": req.note,
                       "resume_state": "pending" if record.get("resume") else None}
            ok, current = await _state.cas(ctx, APPROVAL_SCOPE, req.approval_id, record, decided)
            if ok:
                break
            if not isinstance(current, dict):
                raise NotFound(f"no approval {req.approval_id}")
            record = current
        else:
            raise Conflict(f"approval {req.approval_id} kept changing; try again")
        await self.audit.append(ctx, "approval.decided", decided.get("agent_id"), {
            "approval_id": req.approval_id, "decision": req.decision, "by": req.by,
            "note": req.note, "function_id": decided.get("function_id")})
        if decided.get("resume"):
            decided = await self._resume(ctx, decided)
        await self._publish(ctx, "approval.decided", {
            "approval_id": req.approval_id, "decision": req.decision, "by": req.by,
            "agent_id": decided.get("agent_id"), "run_id": decided.get("run_id"),
            "function_id": decided.get("function_id")})
        event = self._waiters.pop((ctx.realm, req.approval_id), None)
        if event is not None:
            event.set()
        return decided

    async def _resume(self, ctx: Context, record: dict[str, Any]) -> dict[str, Any]:
        """Hand the decision to the paused run; returns the record with its ``resume_state``."""
        resume = record["resume"]
        payload = resume.get("data")
        payload = dict(payload) if isinstance(payload, dict) else {"data": payload}
        payload["approval"] = {k: record.get(k) for k in (
            "approval_id", "status", "decided_by", "note", "function_id", "arguments")}
        payload["approval"]["decision"] = "approve" if record["status"] == "approved" else "reject"
        try:
            receipt = await ctx.enqueue(resume["function_id"], payload, queue="default")
            state: dict[str, Any] = {"resume_state": "enqueued", "resume_receipt": receipt}
        except InvocationError as exc:
            log.warning("could not enqueue the resume of %s (%s); calling it directly",
                        record["approval_id"], exc.code)
            await ctx.trigger_void(resume["function_id"], payload)
            state = {"resume_state": "sent"}
        await _state.update(ctx, APPROVAL_SCOPE, record["approval_id"],
                            [{"type": "merge", "value": state}])
        return {**record, **state}

    async def resume(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``approval::resume {approval_id}``: send a decided request's resume again."""
        req = parse_request(IdIn, data)
        record = await self._get(ctx, req.approval_id)
        if record.get("status") not in ("approved", "rejected") or not record.get("resume"):
            raise AlreadyDecided(f"approval {req.approval_id} has no decision to resume with")
        return await self._resume(ctx, record)

    async def wait(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``approval::wait {approval_id, timeout_s}`` → the record plus ``timed_out``."""
        req = parse_request(WaitIn, data)
        key = (ctx.realm, req.approval_id)
        event = self._waiters.setdefault(key, anyio.Event())
        record = self._public(await self._get(ctx, req.approval_id))
        if record.get("status") == "pending":
            with anyio.move_on_after(min(req.timeout_s, self.max_wait_s)):
                await event.wait()
            record = self._public(await self._get(ctx, req.approval_id))
        if self._waiters.get(key) is event and event.is_set():
            self._waiters.pop(key, None)
        return {**record, "timed_out": record.get("status") == "pending"}

    async def set_policy(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``approval::set_policy {tools, agent_id?}`` → the stored policy."""
        req = parse_request(PolicyIn, data)
        key = req.agent_id or GLOBAL_POLICY
        await _state.put(ctx, POLICY_SCOPE, key, {"tools": req.tools})
        await self.audit.append(ctx, "approval.policy_set", req.agent_id, {"tools": req.tools})
        return {"agent_id": req.agent_id, "tools": req.tools}

    async def get_policy(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``approval::get_policy {agent_id?}`` → ``{agent_id, tools}``."""
        req = parse_request(PolicyRef, data)
        return {"agent_id": req.agent_id, "tools": await self._tools(ctx, req.agent_id or GLOBAL_POLICY)}

    async def _tools(self, ctx: Context, key: str) -> list[str]:
        stored = await _state.get(ctx, POLICY_SCOPE, key)
        tools = stored.get("tools") if isinstance(stored, dict) else None
        return [t for t in tools if isinstance(t, str)] if isinstance(tools, list) else []

    async def required(self, data: Any, ctx: Context) -> bool:
        """``approval::required {agent_id, function_id}`` → true if a policy glob matches."""
        req = parse_request(RequiredIn, data)
        globs = await self._tools(ctx, GLOBAL_POLICY) + await self._tools(ctx, req.agent_id)
        return any(fnmatchcase(req.function_id, g) for g in globs)
