"""Realm API keys: ``realm::keys::issue``, ``realm::keys::list``, ``realm::keys::revoke``.

A key is a random Bearer token bound to one realm and a role (``client`` or ``worker``; never
``system``). It is shown once, by ``issue``; what is stored, in the default realm's state scope
``realm_keys`` under the key's SHA-256 hex digest, is ``{key_id, hash, realm, role, name,
created_at}``. The engine reads that scope (:mod:`engine.realm_keys`): ``issue`` and ``revoke``
call ``engine::realm_keys::refresh`` before they answer, so the key authenticates (or is
refused) from the very next connection or HTTP request. Connections already open stay open.

Only operators (see :func:`~workers.control_plane._state.require_operator`) issue and revoke;
a realm's own callers may list their realm's keys (ids and names, never hashes).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from workers.sdk import Context, FunctionDef, FunctionNotFound

from ._state import REALM_PATTERN, RealmState, parse, require_operator, target_realm
from .errors import InvalidArguments, NotFound
from .routes import define

if TYPE_CHECKING:
    from .worker import ControlPlane

__all__ = ["KEYS_SCOPE", "RealmKeys"]

log = logging.getLogger(__name__)

KEYS_SCOPE = "realm_keys"
_REALM = AliasChoices("realm_id", "realm")


class IssueRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    realm_id: str = Field(pattern=REALM_PATTERN, validation_alias=_REALM)
    role: Literal["client", "worker"] = "client"
    name: str | None = Field(default=None, max_length=200)


class KeyRef(BaseModel):
    model_config = ConfigDict(extra="ignore")

    realm_id: str | None = Field(default=None, validation_alias=_REALM)
    key_id: str = Field(min_length=1)


class ListRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    realm_id: str | None = Field(default=None, validation_alias=_REALM)


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record.get(k) for k in ("key_id", "realm", "role", "name", "created_at")}


class RealmKeys:
    """The key functions over the default realm's ``realm_keys`` scope."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    async def _refresh(self, home: RealmState, digest: str) -> bool:
        try:
            await home.call("engine::realm_keys::refresh", {"key": digest})
        except FunctionNotFound:
            log.warning("this engine has no engine::realm_keys::refresh: realm keys do not "
                        "authenticate here")
            return False
        return True

    async def issue(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(IssueRequest, data)
        await require_operator(ctx, "realm::keys::issue")
        realm = target_realm(ctx, req.realm_id)
        if realm is None:
            raise InvalidArguments("keys are issued for a named realm, not the default realm")
        key = "aos_" + secrets.token_urlsafe(32)
        digest = hashlib.sha256(key.encode()).hexdigest()
        record = {"key_id": "key-" + digest[:16], "hash": digest, "realm": realm,
                  "role": req.role, "name": req.name, "created_at": self.plane.clock()}
        home = RealmState.of(ctx, None)
        await home.set(KEYS_SCOPE, digest, record)
        active = await self._refresh(home, digest)
        return {"key": key, **_public(record), "active": active}

    async def records(self, home: RealmState, realm: str) -> list[dict[str, Any]]:
        """The stored key records of ``realm``."""
        return [r for r in await home.list(KEYS_SCOPE)
                if isinstance(r, dict) and r.get("realm") == realm]

    async def list_keys(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(ListRequest, data)
        realm = target_realm(ctx, req.realm_id)
        if ctx.realm is None and req.realm_id is None:
            await require_operator(ctx, "realm::keys::list of every realm")
            listed = [r for r in await RealmState.of(ctx, None).list(KEYS_SCOPE)
                      if isinstance(r, dict)]
        else:
            listed = await self.records(RealmState.of(ctx, None), realm or "")
        return {"keys": [_public(r) for r in listed]}

    async def revoke(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(KeyRef, data)
        await require_operator(ctx, "realm::keys::revoke")
        realm = target_realm(ctx, req.realm_id)
        home = RealmState.of(ctx, None)
        for record in await home.list(KEYS_SCOPE):
            if (isinstance(record, dict) and record.get("key_id") == req.key_id
                    and (realm is None or record.get("realm") == realm)):
                await home.delete(KEYS_SCOPE, record["hash"])
                await self._refresh(home, record["hash"])
                return {"revoked": True, **_public(record)}
        raise NotFound(f"no key {req.key_id!r}")

    async def revoke_realm(self, home: RealmState, realm: str) -> int:
        """Revoke every key of ``realm`` (the realm is being deleted); how many there were."""
        records = await self.records(home, realm)
        for record in records:
            await home.delete(KEYS_SCOPE, record["hash"])
            await self._refresh(home, record["hash"])
        return len(records)

    def definitions(self) -> list[FunctionDef]:
        return [
            define("realm::keys::issue", self.issue,
                   "Issue an API key bound to a realm and a role; the key is shown once",
                   IssueRequest),
            define("realm::keys::list", self.list_keys, "List a realm's API keys (no secrets)",
                   ListRequest),
            define("realm::keys::revoke", self.revoke, "Revoke a realm API key by key_id",
                   KeyRef),
        ]
