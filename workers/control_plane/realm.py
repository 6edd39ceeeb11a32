"""Realms (tenants): ``realm::create/list/get/update/delete/export/import``.

A realm record ``{id, name, description, status: active|suspended|archived, owner,
default_model, max_agents, metadata, created_at, updated_at}`` lives in the default realm's
state scope ``realms``. The realm's *data* lives in the realm itself (the engine keys state by
the invocation's realm), so:

* ``delete`` removes the data, not only the record: the realm's agents (``agent::delete``), its
  durable triggers (pulse schedules, our subscriptions), its bridge runs in flight, its API keys,
  then every state scope of the realm (``state::list_groups``, emptied by the engine's
  ``engine::realm::purge``, which knows the keys ``state::list`` does not return), then the
  record;
* ``export`` bundles the realm's agents (their specs and status), org chart, directives,
  missions with comments, budgets, council membership and pulse schedules, with secrets scrubbed
  (any field named like a secret, token, password or API key, at any depth; realm keys and
  vault entries are never part of a bundle); ``import`` creates a realm from a bundle, and
  exporting it again gives the same bundle (ids and timestamps of the records are kept).

``status: suspended`` makes ``ledger::check`` refuse every call of the realm, so model calls (and
so agent runs and pulses) stop until it is active again.

Creating, deleting, importing and updating realms is for operators
(:func:`~workers.control_plane._state.require_operator`); a realm's own callers may get,
list (their realm only) and export their realm.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from workers.sdk import Context, FunctionDef, FunctionNotFound, InvocationError

from ._state import (
    DEFAULT_REALM,
    REALM_PATTERN,
    RealmState,
    describe,
    parse,
    require_operator,
    target_realm,
)
from .errors import InvalidArguments, NotFound, RealmExists
from .routes import define

if TYPE_CHECKING:
    from .worker import ControlPlane

__all__ = ["BUNDLE_FORMAT", "Portable", "REALMS_SCOPE", "Realms", "scrub"]

log = logging.getLogger(__name__)

REALMS_SCOPE = "realms"
TOPIC = "realm.lifecycle"
BUNDLE_FORMAT = "agentos.realm/1"
Status = Literal["active", "suspended", "archived"]
_REALM = AliasChoices("realm_id", "realm", "id")
_SECRET = re.compile(r"^(secrets?|password|passwd|token|tokens|api_?key|access_key|secret_key|"
                     r"private_key|credentials?|vault)$|_(secret|password|token|api_?key)$",
                     re.IGNORECASE)
_AGENT_OWNED = ("agent_id", "status", "created_at", "updated_at")
_AGENT_TIMES = ("created_at", "updated_at")


class Portable(Protocol):
    """A domain whose records travel in a realm bundle under ``section``."""

    section: str

    async def export(self, rs: RealmState) -> Any:
        """The section's content for ``rs.realm`` (JSON)."""
        ...

    async def restore(self, rs: RealmState, data: Any) -> int:
        """Write an exported section into ``rs.realm``; how many records."""
        ...


def scrub(value: Any) -> Any:
    """``value`` without any field whose name says it holds a secret, at any depth."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if not _SECRET.search(str(k))}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


class CreateRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str | None = Field(default=None, pattern=REALM_PATTERN,
                           validation_alias=AliasChoices("id", "realm_id"))
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    owner: str | None = None
    default_model: str | None = None
    max_agents: int | None = Field(default=None, ge=0)
    metadata: dict[str, Any] = Field(default_factory=dict)


class RealmRef(BaseModel):
    model_config = ConfigDict(extra="ignore")

    realm_id: str | None = Field(default=None, validation_alias=_REALM)


class UpdateRequest(RealmRef):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    status: Status | None = None
    owner: str | None = None
    default_model: str | None = None
    max_agents: int | None = Field(default=None, ge=0)
    metadata: dict[str, Any] | None = None


class ImportRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    bundle: dict[str, Any]
    id: str | None = Field(default=None, pattern=REALM_PATTERN,
                           validation_alias=AliasChoices("id", "realm_id"))
    name: str | None = Field(default=None, min_length=1, max_length=200)


class Realms:
    """The realm functions; ``parts`` are the domains whose records travel in bundles."""

    def __init__(self, plane: ControlPlane, parts: list[Portable]) -> None:
        self.plane = plane
        self.parts = parts

    # -- records ---------------------------------------------------------------------------

    async def record(self, home: RealmState, realm: str | None) -> dict[str, Any] | None:
        """The record of ``realm`` (None for the default realm or an unregistered one)."""
        if realm is None:
            return None
        value = await home.get(REALMS_SCOPE, realm)
        return value if isinstance(value, dict) else None

    async def status(self, rs: RealmState) -> str:
        """``rs.realm``'s status; realms without a record (token-defined ones) are active."""
        record = await self.record(rs.home(), rs.realm)
        return str(record.get("status", "active")) if record else "active"

    async def set_status(self, rs: RealmState, status: Status) -> dict[str, Any]:
        """Set ``rs.realm``'s status, creating a bare record for a token-defined realm."""
        if rs.realm is None:
            raise InvalidArguments("the default realm has no status to change")
        now, realm = self.plane.clock(), rs.realm

        def edit(current: Any) -> dict[str, Any]:
            base = current if isinstance(current, dict) else {
                "id": realm, "name": realm, "description": "", "owner": None,
                "default_model": None, "max_agents": None, "metadata": {}, "created_at": now}
            return {**base, "status": status, "updated_at": now}

        _, after = await rs.home().mutate(REALMS_SCOPE, realm, edit)
        await rs.home().publish(TOPIC, {"event": status, "realm_id": realm, "at": now})
        return dict(after)

    async def _insert(self, ctx: Context, req: CreateRequest | ImportRequest, name: str,
                      fields: dict[str, Any]) -> tuple[RealmState, dict[str, Any]]:
        realm = req.id or f"realm-{uuid.uuid4().hex[:12]}"
        if realm == DEFAULT_REALM:
            raise InvalidArguments(f"{DEFAULT_REALM!r} names the default realm")
        now = self.plane.clock()
        record = {"id": realm, "name": name, "description": "", "owner": None,
                  "default_model": None, "max_agents": None, "metadata": {}, **fields,
                  "status": "active", "created_at": now, "updated_at": now}
        home = RealmState.of(ctx, None)
        if not await home.create(REALMS_SCOPE, realm, record):
            raise RealmExists(f"realm {realm!r} exists")
        rs = home.within(realm)
        await self.plane.subscriptions.ensure(rs)
        await home.publish(TOPIC, {"event": "created", "realm_id": realm, "at": now})
        return rs, record

    # -- functions -------------------------------------------------------------------------

    async def create(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(CreateRequest, data)
        await require_operator(ctx, "realm::create")
        fields = req.model_dump(exclude={"id", "name"})
        _, record = await self._insert(ctx, req, req.name, fields)
        return record

    async def list_realms(self, data: Any, ctx: Context) -> dict[str, Any]:
        home = RealmState.of(ctx, None)
        if ctx.realm is not None:
            own = await self.record(home, ctx.realm)
            return {"realms": [own] if own else []}
        await require_operator(ctx, "realm::list")
        return {"realms": [r for r in await home.list(REALMS_SCOPE) if isinstance(r, dict)]}

    async def get(self, data: Any, ctx: Context) -> dict[str, Any]:
        realm = target_realm(ctx, parse(RealmRef, data).realm_id)
        record = await self.record(RealmState.of(ctx, None), realm)
        if record is None:
            raise NotFound(f"no realm {describe(realm)!r}")
        return record

    async def update(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(UpdateRequest, data)
        await require_operator(ctx, "realm::update")
        realm = target_realm(ctx, req.realm_id)
        if realm is None:
            raise InvalidArguments("name the realm to update (realm_id)")
        patch = req.model_dump(exclude={"realm_id"}, exclude_unset=True)
        now = self.plane.clock()

        def edit(current: Any) -> dict[str, Any]:
            if not isinstance(current, dict):
                raise NotFound(f"no realm {realm!r}")
            return {**current, **patch, "updated_at": now}

        home = RealmState.of(ctx, None)
        before, after = await home.mutate(REALMS_SCOPE, realm, edit)
        event = after["status"] if after["status"] != before["status"] else "updated"
        await home.publish(TOPIC, {"event": event, "realm_id": realm, "at": now})
        return dict(after)

    async def delete(self, data: Any, ctx: Context) -> dict[str, Any]:
        realm = target_realm(ctx, parse(RealmRef, data).realm_id)
        await require_operator(ctx, "realm::delete")
        if realm is None:
            raise InvalidArguments("the default realm cannot be deleted")
        home = RealmState.of(ctx, None)
        rs = home.within(realm)
        record = await self.record(home, realm)
        groups = await rs.groups()
        if record is None and not groups:
            raise NotFound(f"no realm {realm!r}")
        agents = await self._delete_agents(rs)
        await self.plane.pulse.unschedule_all(rs)
        await self.plane.subscriptions.drop(rs)
        cancelled = await self.plane.bridge.cancel_realm(realm)
        keys = await self.plane.keys.revoke_realm(home, realm)
        purged = await self._purge(rs)
        await home.delete(REALMS_SCOPE, realm)
        await home.publish(TOPIC, {"event": "deleted", "realm_id": realm, "at": self.plane.clock()})
        return {"deleted": True, "realm_id": realm, "agents": agents, "keys_revoked": keys,
                "runs_cancelled": cancelled, "scopes": purged}

    async def _delete_agents(self, rs: RealmState) -> int:
        try:
            listed = await rs.call("agent::list", {})
        except FunctionNotFound:
            return 0
        agents = [a["agent_id"] for a in (listed or {}).get("agents", []) if "agent_id" in a]
        for agent_id in agents:
            try:
                await rs.call("agent::delete", {"agent_id": agent_id})
            except InvocationError as exc:
                log.warning("realm %s: could not delete agent %s: %s", rs.realm, agent_id, exc)
        return len(agents)

    async def _purge(self, rs: RealmState) -> list[str]:
        groups = await rs.groups()
        if not groups:
            return []
        answer = await rs.call("engine::realm::purge", {})
        return list((answer or {}).get("scopes") or groups)

    async def export(self, data: Any, ctx: Context) -> dict[str, Any]:
        realm = target_realm(ctx, parse(RealmRef, data).realm_id)
        if ctx.realm is None:
            await require_operator(ctx, "realm::export")
        rs = RealmState.of(ctx, realm)
        record = await self.record(rs.home(), realm)
        bundle: dict[str, Any] = {
            "format": BUNDLE_FORMAT,
            "realm": scrub({k: v for k, v in (record or {}).items()
                            if k not in ("id", "status", "created_at", "updated_at")}),
            "agents": await self._export_agents(rs),
        }
        for part in self.parts:
            bundle[part.section] = scrub(await part.export(rs))
        return bundle

    async def _export_agents(self, rs: RealmState) -> list[dict[str, Any]]:
        try:
            listed = await rs.call("agent::list", {})
        except FunctionNotFound:
            return []
        return [scrub({k: v for k, v in a.items() if k not in _AGENT_TIMES})
                for a in (listed or {}).get("agents", [])]

    async def import_realm(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(ImportRequest, data)
        await require_operator(ctx, "realm::import")
        bundle = req.bundle
        if bundle.get("format") != BUNDLE_FORMAT:
            raise InvalidArguments(f"bundle.format must be {BUNDLE_FORMAT!r}")
        fields = {k: v for k, v in (bundle.get("realm") or {}).items()
                  if k in ("description", "owner", "default_model", "max_agents", "metadata")}
        name = req.name or str((bundle.get("realm") or {}).get("name") or req.id or "imported")
        rs, record = await self._insert(ctx, req, name, fields)
        counts = {"agents": await self._import_agents(rs, bundle.get("agents") or [])}
        for part in self.parts:
            if bundle.get(part.section) is not None:
                counts[part.section] = await part.restore(rs, bundle[part.section])
        return {"realm": record, "imported": counts}

    async def _import_agents(self, rs: RealmState, agents: list[Any]) -> int:
        for agent in agents:
            spec = {k: v for k, v in agent.items() if k not in _AGENT_OWNED}
            await rs.call("agent::create", spec)
            if agent.get("status") not in (None, "deployed"):
                await rs.call("agent::update", {"agent_id": agent["agent_id"],
                                                "status": agent["status"]})
        return len(agents)

    def definitions(self) -> list[FunctionDef]:
        return [
            define("realm::create", self.create, "Create a realm (tenant); operators only",
                   CreateRequest),
            define("realm::list", self.list_realms,
                   "List realms (a realm's own callers see their realm only)", RealmRef),
            define("realm::get", self.get, "Get a realm record", RealmRef),
            define("realm::update", self.update,
                   "Update a realm (name, status active|suspended|archived, …); operators only",
                   UpdateRequest),
            define("realm::delete", self.delete,
                   "Delete a realm and all of its data; operators only", RealmRef),
            define("realm::export", self.export,
                   "Export a realm's agents, org chart, directives, missions, budgets, council "
                   "and pulses as a bundle, secrets scrubbed", RealmRef),
            define("realm::import", self.import_realm,
                   "Create a realm from an exported bundle; operators only", ImportRequest),
        ]
