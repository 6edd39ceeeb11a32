"""The council: proposals, quorum votes by members, real effects, a hash-chained log.

Theory of operation
-------------------
An operator seats a realm's council (``council::members {members, quorum}``). Anyone in the realm
may ``council::submit`` a proposal ``{type, payload}``; the payload is validated for its type
at once, and the proposal snapshots the members and quorum it will be decided by. Members vote
(``council::vote``, or ``council::decide`` with ``decision``), one vote each (``already_voted``),
non-members are refused (``not_a_member``), and a closed proposal takes no more votes
(``proposal_closed``). A vote is one compare-and-set on the proposal, which is what makes "one
vote each" and "decided once" hold under concurrency. The proposal closes ``approved`` when the
approvals reach the quorum, ``rejected`` when the quorum can no longer be reached.

The one vote that closes a proposal ``approved`` applies its effect, exactly once:

==================  ==========================================================================
``budget_override`` sets the budget in the payload (``ledger::set_budget``'s fields)
``terminate_agent`` archives the agent (``agent::archive``): it can no longer run
``suspend_realm``   marks the realm suspended: ``ledger::check`` refuses every model call of it,
                    so agent turns and pulses stop (``resume_realm`` undoes it)
``hire_agent``      creates the agent ``payload.agent`` (``agent::create``)
``strategy_change``, ``custom``  recorded only
==================  ==========================================================================

The outcome is stored on the proposal (``effect`` or ``effect_error``). ``council::override``
lets an operator pause, resume or terminate an agent without a vote. Every submission, vote,
decision, effect and override — and whatever anyone publishes on ``council.audit``
(``council::activity``; the ledger's alerts go there) — is appended to the realm's hash-chained
activity log (:mod:`.activity`); ``council::verify`` recomputes it and names a broken link.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from workers.sdk import Context, FunctionDef, InvocationError

from . import activity
from ._state import RealmState, act_in, parse, require_operator
from .errors import (
    AlreadyVoted,
    Forbidden,
    InvalidArguments,
    NotAMember,
    NotFound,
    ProposalClosed,
)
from .ledger import BudgetRequest
from .routes import define

if TYPE_CHECKING:
    from .worker import ControlPlane

__all__ = ["Council", "EFFECTS"]

CONFIG, PROPOSALS = "council:config", "council:proposals"
TOPIC = "council.proposal"
Kind = Literal["budget_override", "terminate_agent", "suspend_realm", "resume_realm",
               "hire_agent", "strategy_change", "custom"]
_REALM = AliasChoices("realm_id", "realm")
_ID = AliasChoices("proposal_id", "id")


class InRealm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    realm_id: str | None = Field(default=None, validation_alias=_REALM)


class AgentPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    agent_id: str = Field(min_length=1)


class RealmPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    realm_id: str | None = Field(default=None, validation_alias=_REALM)


class HirePayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    agent: dict[str, Any]


EFFECTS: dict[str, type[BaseModel] | None] = {
    "budget_override": BudgetRequest, "terminate_agent": AgentPayload,
    "suspend_realm": RealmPayload, "resume_realm": RealmPayload, "hire_agent": HirePayload,
    "strategy_change": None, "custom": None,
}
"""The payload model of each proposal type (None: free-form, no effect)."""


class MembersRequest(InRealm):
    members: list[str] | None = Field(default=None, min_length=1, max_length=101)
    quorum: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _quorum(self) -> MembersRequest:
        if self.members is not None:
            self.members = sorted(set(self.members))
            self.quorum = self.quorum or len(self.members) // 2 + 1
            if self.quorum > len(self.members):
                raise ValueError("quorum cannot exceed the number of members")
        return self


class SubmitRequest(InRealm):
    type: Kind
    payload: dict[str, Any] = Field(default_factory=dict)
    title: str = Field(default="", max_length=500)
    proposer: str | None = None


class VoteRequest(InRealm):
    proposal_id: str = Field(min_length=1, validation_alias=_ID)
    member: str = Field(min_length=1, validation_alias=AliasChoices("member", "voter"))
    vote: Literal["approve", "reject"] = Field(validation_alias=AliasChoices("vote", "decision"))
    reason: str = Field(default="", max_length=4000)


class ProposalsRequest(InRealm):
    status: Literal["pending", "approved", "rejected"] | None = None


class OverrideRequest(InRealm):
    agent_id: str = Field(min_length=1)
    action: Literal["pause", "resume", "terminate"]
    reason: str = Field(default="", max_length=4000)


class ActivityRequest(InRealm):
    kind: str = Field(default="event", min_length=1, max_length=200)
    actor: str | None = None
    detail: Any = None


class LogRequest(InRealm):
    limit: int | None = Field(default=None, ge=1)


def _tally(proposal: dict[str, Any]) -> str:
    votes = [v["vote"] for v in proposal["votes"].values()]
    quorum, seats = int(proposal["quorum"]), len(proposal["members"])
    if votes.count("approve") >= quorum:
        return "approved"
    if votes.count("reject") > seats - quorum:
        return "rejected"
    return "pending"


class Council:
    """The council functions; also :attr:`section` of a realm bundle (its membership)."""

    section = "council"

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    async def log(self, rs: RealmState, kind: str, actor: str | None, detail: Any) -> dict[str, Any]:
        """Append to ``rs.realm``'s activity log."""
        return await activity.append(rs, self.plane.clock(), kind, actor, detail)

    async def members(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(MembersRequest, data)
        rs = await act_in(ctx, req.realm_id)
        if req.members is None:
            config = await rs.get(CONFIG, "config")
            return config if isinstance(config, dict) else {"members": [], "quorum": None}
        await require_operator(ctx, "council::members")
        config = {"members": req.members, "quorum": req.quorum, "updated_at": self.plane.clock()}
        await rs.set(CONFIG, "config", config)
        await self.log(rs, "council.members", "operator", config)
        return config

    async def submit(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(SubmitRequest, data)
        rs = await act_in(ctx, req.realm_id)
        await self.plane.subscriptions.ensure(rs)
        model = EFFECTS[req.type]
        if model is not None:
            parse(model, req.payload)
        config = await rs.get(CONFIG, "config")
        if not isinstance(config, dict) or not config.get("members"):
            raise NotFound("this realm has no council; an operator seats one with council::members")
        now = self.plane.clock()
        proposal = {"id": f"prop-{uuid.uuid4().hex[:12]}", "type": req.type,
                    "payload": req.payload, "title": req.title, "proposer": req.proposer,
                    "status": "pending", "members": config["members"],
                    "quorum": config["quorum"], "votes": {}, "created_at": now,
                    "decided_at": None}
        await rs.create(PROPOSALS, proposal["id"], proposal)
        await self.log(rs, "proposal.submitted", req.proposer,
                       {"proposal_id": proposal["id"], "type": req.type, "payload": req.payload})
        await rs.publish(TOPIC, {"event": "submitted", "proposal_id": proposal["id"],
                                 "type": req.type, "at": now})
        return proposal

    async def vote(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(VoteRequest, data)
        rs = await act_in(ctx, req.realm_id)
        now = self.plane.clock()

        def edit(current: Any) -> dict[str, Any]:
            if not isinstance(current, dict):
                raise NotFound(f"no proposal {req.proposal_id!r}")
            if req.member not in current["members"]:
                raise NotAMember(f"{req.member} is not a member of this council")
            if current["status"] != "pending":
                raise ProposalClosed(f"proposal {req.proposal_id} is {current['status']}")
            if req.member in current["votes"]:
                raise AlreadyVoted(f"{req.member} has voted on {req.proposal_id}")
            after = {**current, "votes": {**current["votes"], req.member: {
                "vote": req.vote, "reason": req.reason, "at": now}}}
            after["status"] = _tally(after)
            if after["status"] != "pending":
                after["decided_at"] = now
            return after

        _, after = await rs.mutate(PROPOSALS, req.proposal_id, edit)
        await self.log(rs, "proposal.voted", req.member,
                       {"proposal_id": req.proposal_id, "vote": req.vote, "reason": req.reason})
        if after["status"] == "pending":
            return dict(after)
        await self.log(rs, f"proposal.{after['status']}", None, {"proposal_id": req.proposal_id})
        await rs.publish(TOPIC, {"event": after["status"], "proposal_id": req.proposal_id,
                                 "type": after["type"], "at": now})
        if after["status"] == "approved":
            after = await self._apply(rs, after)
        return dict(after)

    async def _apply(self, rs: RealmState, proposal: dict[str, Any]) -> dict[str, Any]:
        try:
            outcome: dict[str, Any] = {"ok": True, "result": await self._effect(rs, proposal)}
        except InvocationError as exc:
            outcome = {"ok": False, "error": {"code": exc.code, "message": exc.message}}
        _, after = await rs.mutate(PROPOSALS, proposal["id"],
                                   lambda current: {**current, "effect": outcome})
        await self.log(rs, "proposal.effect", None, {"proposal_id": proposal["id"], **outcome})
        return dict(after)

    async def _effect(self, rs: RealmState, proposal: dict[str, Any]) -> Any:
        kind, payload = proposal["type"], proposal["payload"]
        if kind == "budget_override":
            return await self.plane.ledger.apply_budget(rs, parse(BudgetRequest, {
                **payload, "realm_id": None}))
        if kind == "terminate_agent":
            return await rs.call("agent::archive", {"agent_id": payload["agent_id"]})
        if kind in ("suspend_realm", "resume_realm"):
            named = parse(RealmPayload, payload).realm_id
            if rs.realm is not None and named not in (None, rs.realm):
                raise Forbidden("a realm's council can only suspend or resume its own realm")
            target = rs.within(named) if rs.realm is None and named else rs
            if kind == "suspend_realm":
                return await self.plane.realms.set_status(target, "suspended")
            return await self.plane.realms.set_status(target, "active")
        if kind == "hire_agent":
            return await rs.call("agent::create", payload["agent"])
        return {"applied": False, "note": f"{kind} has no automatic effect"}

    async def proposals(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(ProposalsRequest, data)
        rs = await act_in(ctx, req.realm_id)
        return {"proposals": [p for p in await rs.list(PROPOSALS) if isinstance(p, dict)
                              and (req.status is None or p.get("status") == req.status)]}

    async def override(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(OverrideRequest, data)
        await require_operator(ctx, "council::override")
        rs = await act_in(ctx, req.realm_id)
        function_id = {"pause": "agent::pause", "resume": "agent::resume",
                       "terminate": "agent::archive"}[req.action]
        agent = await rs.call(function_id, {"agent_id": req.agent_id})
        await self.log(rs, "council.override", "operator",
                       {"agent_id": req.agent_id, "action": req.action, "reason": req.reason})
        return {"agent": agent, "action": req.action}

    async def record(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(ActivityRequest, data)
        rs = await act_in(ctx, req.realm_id)
        return await self.log(rs, req.kind, req.actor, req.detail)

    async def activity_log(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(LogRequest, data)
        log = await activity.entries(await act_in(ctx, req.realm_id))
        return {"entries": log[-req.limit:] if req.limit else log}

    async def verify(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(InRealm, data)
        return activity.verify(await activity.entries(
            await act_in(ctx, req.realm_id)))

    async def export(self, rs: RealmState) -> Any:
        config = await rs.get(CONFIG, "config")
        return config if isinstance(config, dict) else None

    async def restore(self, rs: RealmState, data: Any) -> int:
        if not isinstance(data, dict) or not data.get("members"):
            raise InvalidArguments("bundle.council must be {members, quorum}")
        await rs.set(CONFIG, "config", data)
        return 1

    def definitions(self) -> list[FunctionDef]:
        return [
            define("council::members", self.members,
                   "Seat the realm's council {members, quorum} (operators), or read it",
                   MembersRequest),
            define("council::submit", self.submit,
                   "Submit a proposal (budget_override, terminate_agent, suspend_realm, …)",
                   SubmitRequest),
            define("council::vote", self.vote, "A member's vote on a proposal (one each)",
                   VoteRequest),
            define("council::decide", self.vote,
                   "A member's decision on a proposal (council::vote with 'decision')",
                   VoteRequest),
            define("council::proposals", self.proposals, "List proposals (status filter)",
                   ProposalsRequest),
            define("council::override", self.override,
                   "Pause, resume or terminate an agent without a vote; operators only",
                   OverrideRequest),
            define("council::activity", self.record,
                   "Append an event to the activity log (bound to council.audit)",
                   ActivityRequest),
            define("council::activity_log", self.activity_log, "The activity log, in order",
                   LogRequest),
            define("council::verify", self.verify,
                   "Recompute the activity log's hash chain; names the first broken entry",
                   InRealm),
        ]
