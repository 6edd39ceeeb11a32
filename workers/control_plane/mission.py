"""Missions, the tasks of a realm: a state machine with atomic checkout.

States and moves (h11-style table, anything else is ``invalid_transition``)::

    backlog ──► todo ──► in_progress ──► in_review ──► done
       │         ▲ │        │  ▲  │          │
       │         │ └──◄─────┘  │  └─► blocked ┘ (in_review ─► in_progress: changes requested)
       └──► cancelled ◄── (from every state but done)

``mission::checkout {mission_id, agent_id}`` assigns the mission and moves it to
``in_progress`` from ``backlog``, ``todo`` or ``blocked``. It is one compare-and-set against the
record that was read: of any number of concurrent checkouts exactly one wins, and every other
one sees the winner's record on its retry and is refused with ``already_checked_out``. Checking
out a mission one already holds is a no-op. ``release`` (assignee only) puts it back to ``todo``;
moving to ``todo`` or ``backlog`` unassigns. Records live in scope ``missions``, comments in
``mission:comments:<mission_id>``; every change is published on ``mission.lifecycle``.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from workers.sdk import Context, FunctionDef

from ._state import RealmState, act_in, parse
from .errors import AlreadyCheckedOut, Forbidden, InvalidTransition, NotFound
from .routes import define

if TYPE_CHECKING:
    from .worker import ControlPlane

__all__ = ["CHECKOUT_FROM", "Missions", "TRANSITIONS"]

SCOPE = "missions"
TOPIC = "mission.lifecycle"
Status = Literal["backlog", "todo", "in_progress", "in_review", "done", "blocked", "cancelled"]

TRANSITIONS: dict[str, frozenset[str]] = {
    "backlog": frozenset({"todo", "cancelled"}),
    "todo": frozenset({"in_progress", "backlog", "cancelled"}),
    "in_progress": frozenset({"in_review", "blocked", "todo", "cancelled"}),
    "in_review": frozenset({"done", "in_progress", "cancelled"}),
    "blocked": frozenset({"todo", "in_progress", "cancelled"}),
    "done": frozenset(),
    "cancelled": frozenset(),
}
"""``TRANSITIONS[status]``: the statuses ``mission::transition`` may move a mission to."""
CHECKOUT_FROM = frozenset({"backlog", "todo", "blocked"})
UNASSIGNING = frozenset({"backlog", "todo"})
_REALM = AliasChoices("realm_id", "realm")
_ID = AliasChoices("mission_id", "id")


def comments_scope(mission_id: str) -> str:
    return f"mission:comments:{mission_id}"


class InRealm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    realm_id: str | None = Field(default=None, validation_alias=_REALM)


class CreateRequest(InRealm):
    title: str = Field(min_length=1, max_length=500)
    description: str = Field(default="", max_length=20_000)
    priority: Literal["low", "medium", "high", "critical"] = "medium"
    status: Literal["backlog", "todo"] = "backlog"
    directive_id: str | None = None
    labels: list[str] = Field(default_factory=list, max_length=64)
    created_by: str | None = None


class MissionRef(InRealm):
    mission_id: str = Field(min_length=1, validation_alias=_ID)


class CheckoutRequest(MissionRef):
    agent_id: str = Field(min_length=1)


class TransitionRequest(MissionRef):
    status: Status
    agent_id: str | None = None


class ListRequest(InRealm):
    status: Status | None = None
    assignee: str | None = None


class CommentRequest(MissionRef):
    body: str = Field(min_length=1, max_length=20_000)
    author: str = Field(default="anonymous", min_length=1, max_length=200)


def _require(current: Any, mission_id: str) -> dict[str, Any]:
    if not isinstance(current, dict):
        raise NotFound(f"no mission {mission_id!r}")
    return current


class Missions:
    """The mission functions; also :attr:`section` of a realm bundle."""

    section = "missions"

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    async def _change(self, rs: RealmState, mission_id: str, event: str,
                      edit: Any) -> dict[str, Any]:
        _, after = await rs.mutate(SCOPE, mission_id, edit)
        await rs.publish(TOPIC, {"event": event, "mission_id": mission_id,
                                 "status": after["status"], "assignee": after.get("assignee"),
                                 "at": after["updated_at"]})
        return dict(after)

    async def of_agent(self, rs: RealmState, agent_id: str) -> list[dict[str, Any]]:
        """The open missions assigned to ``agent_id``."""
        return [m for m in await rs.list(SCOPE) if isinstance(m, dict)
                and m.get("assignee") == agent_id and m.get("status") not in ("done", "cancelled")]

    async def create(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(CreateRequest, data)
        rs = await act_in(ctx, req.realm_id)
        now = self.plane.clock()
        record = {"id": f"mis-{uuid.uuid4().hex[:12]}", **req.model_dump(exclude={"realm_id"}),
                  "assignee": None, "checked_out_at": None, "created_at": now, "updated_at": now}
        await rs.create(SCOPE, record["id"], record)
        await rs.publish(TOPIC, {"event": "created", "mission_id": record["id"],
                                 "status": record["status"], "assignee": None, "at": now})
        return record

    async def get(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(MissionRef, data)
        rs = await act_in(ctx, req.realm_id)
        return _require(await rs.get(SCOPE, req.mission_id), req.mission_id)

    async def checkout(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(CheckoutRequest, data)
        rs = await act_in(ctx, req.realm_id)
        now = self.plane.clock()

        def edit(current: Any) -> dict[str, Any]:
            mission = _require(current, req.mission_id)
            holder = mission.get("assignee")
            if mission["status"] not in CHECKOUT_FROM | {"in_progress"}:
                raise InvalidTransition(f"a mission that is {mission['status']} cannot be "
                                        "checked out")
            if holder is not None and holder != req.agent_id:
                raise AlreadyCheckedOut(f"mission {req.mission_id} is checked out by {holder}")
            if holder == req.agent_id and mission["status"] == "in_progress":
                return mission
            return {**mission, "status": "in_progress", "assignee": req.agent_id,
                    "checked_out_at": now, "updated_at": now}

        return await self._change(rs, req.mission_id, "checked_out", edit)

    async def release(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(CheckoutRequest, data)
        rs = await act_in(ctx, req.realm_id)
        now = self.plane.clock()

        def edit(current: Any) -> dict[str, Any]:
            mission = _require(current, req.mission_id)
            if mission.get("assignee") != req.agent_id:
                raise Forbidden(f"only the assignee may release mission {req.mission_id}")
            status = "todo" if mission["status"] in ("in_progress", "blocked") else mission["status"]
            return {**mission, "status": status, "assignee": None, "checked_out_at": None,
                    "updated_at": now}

        return await self._change(rs, req.mission_id, "released", edit)

    async def transition(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(TransitionRequest, data)
        rs = await act_in(ctx, req.realm_id)
        now = self.plane.clock()

        def edit(current: Any) -> dict[str, Any]:
            mission = _require(current, req.mission_id)
            status = mission["status"]
            if req.status not in TRANSITIONS.get(status, frozenset()):
                allowed = ", ".join(sorted(TRANSITIONS.get(status, ()))) or "nothing"
                raise InvalidTransition(f"a {status} mission cannot become {req.status} "
                                        f"(allowed: {allowed})")
            holder = mission.get("assignee")
            if req.agent_id is not None and holder not in (None, req.agent_id):
                raise AlreadyCheckedOut(f"mission {req.mission_id} is checked out by {holder}")
            assignee = None if req.status in UNASSIGNING else (holder or req.agent_id)
            return {**mission, "status": req.status, "assignee": assignee, "updated_at": now}

        return await self._change(rs, req.mission_id, "transitioned", edit)

    async def list_missions(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(ListRequest, data)
        rs = await act_in(ctx, req.realm_id)
        return {"missions": [
            m for m in await rs.list(SCOPE) if isinstance(m, dict)
            and (req.status is None or m.get("status") == req.status)
            and (req.assignee is None or m.get("assignee") == req.assignee)]}

    async def comment(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(CommentRequest, data)
        rs = await act_in(ctx, req.realm_id)
        _require(await rs.get(SCOPE, req.mission_id), req.mission_id)
        now = self.plane.clock()
        key = f"{await rs.next_seq(comments_scope(req.mission_id)):012d}"
        record: dict[str, Any] = {"id": f"com-{uuid.uuid4().hex[:12]}", "key": key,
                                  "mission_id": req.mission_id, "author": req.author,
                                  "body": req.body, "created_at": now}
        await rs.set(comments_scope(req.mission_id), key, record)
        await rs.publish(TOPIC, {"event": "commented", "mission_id": req.mission_id,
                                 "comment_id": record["id"], "at": now})
        return record

    async def comments(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(MissionRef, data)
        rs = await act_in(ctx, req.realm_id)
        _require(await rs.get(SCOPE, req.mission_id), req.mission_id)
        return {"comments": await rs.list(comments_scope(req.mission_id))}

    async def export(self, rs: RealmState) -> Any:
        out = []
        for mission in await rs.list(SCOPE):
            if isinstance(mission, dict):
                out.append({**mission, "comments": await rs.list(comments_scope(mission["id"]))})
        return out

    async def restore(self, rs: RealmState, data: Any) -> int:
        missions = [m for m in data if isinstance(m, dict) and "id" in m]
        for mission in missions:
            record = {k: v for k, v in mission.items() if k != "comments"}
            await rs.set(SCOPE, record["id"], record)
            for comment in mission.get("comments") or []:
                await rs.set(comments_scope(record["id"]), comment["key"], comment)
        return len(missions)

    def definitions(self) -> list[FunctionDef]:
        return [
            define("mission::create", self.create, "Create a mission (backlog or todo)",
                   CreateRequest),
            define("mission::get", self.get, "Get a mission", MissionRef),
            define("mission::checkout", self.checkout,
                   "Atomically assign a mission to an agent and start it; one winner",
                   CheckoutRequest),
            define("mission::release", self.release,
                   "Give a checked-out mission back (assignee only)", CheckoutRequest),
            define("mission::transition", self.transition,
                   "Move a mission along its state machine", TransitionRequest),
            define("mission::list", self.list_missions, "List missions (status, assignee)",
                   ListRequest),
            define("mission::comment", self.comment, "Comment on a mission", CommentRequest),
            define("mission::comments", self.comments, "A mission's comments, oldest first",
                   MissionRef),
        ]
