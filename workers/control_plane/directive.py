"""Directives, the goal tree of a realm: ``directive::create/get/list/update/ancestry``.

A directive is ``{id, title, description, level: realm|team|agent|mission, parent_id, status:
draft|active|paused|completed|cancelled, owner, version, created_at, updated_at}`` in state scope
``directives``. A parent must exist, and re-parenting under one's own descendant is refused
(``cycle_detected``).

``directive::update`` is optimistic concurrency done for real: with ``expectedVersion`` the
update is a compare-and-set against the stored record, and a record whose ``version`` is not the
expected one — stale when read, or changed by a concurrent update between our read and our write
— is refused with ``version_conflict``, never overwritten. Each update bumps ``version``. Without
``expectedVersion`` the update is applied to whatever is current (still atomically).
Every change is published on ``directive.lifecycle``.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from workers.sdk import Context, FunctionDef

from ._state import RealmState, act_in, parse
from .errors import CycleDetected, NotFound, VersionConflict
from .routes import define

if TYPE_CHECKING:
    from .worker import ControlPlane

__all__ = ["Directives"]

SCOPE = "directives"
TOPIC = "directive.lifecycle"
MAX_DEPTH = 256
Level = Literal["realm", "team", "agent", "mission"]
Status = Literal["draft", "active", "paused", "completed", "cancelled"]
_REALM = AliasChoices("realm_id", "realm")
_ID = AliasChoices("directive_id", "id")


class InRealm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    realm_id: str | None = Field(default=None, validation_alias=_REALM)


class CreateRequest(InRealm):
    title: str = Field(min_length=1, max_length=500)
    description: str = Field(default="", max_length=20_000)
    level: Level = "realm"
    parent_id: str | None = None
    status: Status = "draft"
    owner: str | None = None


class DirectiveRef(InRealm):
    directive_id: str = Field(min_length=1, validation_alias=_ID)


class ListRequest(InRealm):
    status: Status | None = None
    level: Level | None = None
    parent_id: str | None = None


class UpdateRequest(DirectiveRef):
    expected_version: int | None = Field(
        default=None, ge=1, validation_alias=AliasChoices("expectedVersion", "expected_version"))
    title: str | None = Field(default=None, min_length=1, max_length=500)
    description: str | None = Field(default=None, max_length=20_000)
    level: Level | None = None
    parent_id: str | None = None
    status: Status | None = None
    owner: str | None = None


class Directives:
    """The directive functions; also :attr:`section` of a realm bundle."""

    section = "directives"

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    async def find(self, rs: RealmState, directive_id: str) -> dict[str, Any]:
        value = await rs.get(SCOPE, directive_id)
        if not isinstance(value, dict):
            raise NotFound(f"no directive {directive_id!r}")
        return value

    async def lineage(self, rs: RealmState, directive_id: str | None) -> list[dict[str, Any]]:
        """``directive_id``'s record and its ancestors, upward (empty for None)."""
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        while directive_id is not None and directive_id not in seen and len(out) < MAX_DEPTH:
            seen.add(directive_id)
            record = await self.find(rs, directive_id)
            out.append(record)
            directive_id = record.get("parent_id")
        return out

    async def active(self, rs: RealmState) -> list[dict[str, Any]]:
        """The realm's active directives."""
        return [d for d in await rs.list(SCOPE) if isinstance(d, dict) and d.get("status") == "active"]

    async def create(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(CreateRequest, data)
        rs = await act_in(ctx, req.realm_id)
        if req.parent_id is not None:
            await self.find(rs, req.parent_id)
        now = self.plane.clock()
        record = {"id": f"dir-{uuid.uuid4().hex[:12]}", **req.model_dump(exclude={"realm_id"}),
                  "version": 1, "created_at": now, "updated_at": now}
        await rs.create(SCOPE, record["id"], record)
        await rs.publish(TOPIC, {"event": "created", "directive_id": record["id"], "at": now})
        return record

    async def get(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(DirectiveRef, data)
        return await self.find(await act_in(ctx, req.realm_id), req.directive_id)

    async def list_directives(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(ListRequest, data)
        rs = await act_in(ctx, req.realm_id)
        return {"directives": [
            d for d in await rs.list(SCOPE) if isinstance(d, dict)
            and (req.status is None or d.get("status") == req.status)
            and (req.level is None or d.get("level") == req.level)
            and (req.parent_id is None or d.get("parent_id") == req.parent_id)]}

    async def update(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(UpdateRequest, data)
        rs = await act_in(ctx, req.realm_id)
        patch = req.model_dump(exclude={"realm_id", "directive_id", "expected_version"},
                               exclude_unset=True)
        if patch.get("parent_id") is not None:
            above = await self.lineage(rs, patch["parent_id"])
            if any(d["id"] == req.directive_id for d in above):
                raise CycleDetected(f"{req.directive_id} cannot sit under its own descendant")
        now = self.plane.clock()

        def edit(current: Any) -> dict[str, Any]:
            if not isinstance(current, dict):
                raise NotFound(f"no directive {req.directive_id!r}")
            version = int(current.get("version") or 0)
            if req.expected_version is not None and version != req.expected_version:
                raise VersionConflict(f"directive {req.directive_id} is at version {version}, "
                                      f"not {req.expected_version}")
            return {**current, **patch, "version": version + 1, "updated_at": now}

        _, after = await rs.mutate(SCOPE, req.directive_id, edit)
        await rs.publish(TOPIC, {"event": "updated", "directive_id": req.directive_id,
                                 "version": after["version"], "at": now})
        return dict(after)

    async def ancestry(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(DirectiveRef, data)
        rs = await act_in(ctx, req.realm_id)
        lineage = await self.lineage(rs, req.directive_id)
        return {"directive": lineage[0], "ancestry": lineage[1:]}

    async def export(self, rs: RealmState) -> Any:
        return [d for d in await rs.list(SCOPE) if isinstance(d, dict)]

    async def restore(self, rs: RealmState, data: Any) -> int:
        records = [d for d in data if isinstance(d, dict) and "id" in d]
        for record in records:
            await rs.set(SCOPE, record["id"], record)
        return len(records)

    def definitions(self) -> list[FunctionDef]:
        return [
            define("directive::create", self.create,
                   "Create a directive (goal) under an optional parent", CreateRequest),
            define("directive::get", self.get, "Get a directive", DirectiveRef),
            define("directive::list", self.list_directives,
                   "List directives (status, level, parent filters)", ListRequest),
            define("directive::update", self.update,
                   "Update a directive; with expectedVersion, refused with version_conflict "
                   "unless that is the stored version", UpdateRequest),
            define("directive::ancestry", self.ancestry, "A directive and its ancestors, upward",
                   DirectiveRef),
        ]
