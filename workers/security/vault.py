"""The secret vault: ``vault::set/get/list/delete/rotate``, per realm, encrypted at rest.

Theory of operation
-------------------
A secret is any JSON value under a ``name`` (``[A-Za-z0-9_.:/@-]``, up to 200 characters). It is
stored in state scope ``security:vault`` as ``{name, key_version, nonce, ciphertext, version,
created_at, updated_at}``: the value is sealed with AES-256-GCM under the realm's current data key
(see :mod:`.keyring`); neither the value nor any key is ever stored in plaintext, logged, audited
or put in an error message. The realm's keyring (scope ``security:vault_keys``, key ``keyring``:
``{current, versions: {v: {salt, check_nonce, check}}}``) is created on first use by
compare-and-set. ``rotate {name?, value?}`` adds a key version, makes it current and re-seals
``name`` (with ``value`` if given) or, without a name, every secret of the realm; older versions
stay so that nothing becomes unreadable midway.

**Who may read.** ``set``, ``list``, ``delete`` and ``rotate`` are open to any caller of the realm
(the engine scopes state by the caller's credential). ``get`` returns plaintext, so it is guarded
twice. The worker registers it with ``min_role="worker"``: the engine refuses a call whose
credential is ``client`` with ``forbidden`` before it reaches us, on every path (direct, void,
queued, an HTTP route called with a client key). Then, as defence in depth (an engine without
``min_role``, a misconfigured registration), :meth:`Vault.get` itself requires the *calling
connection* (``ctx.caller_worker_id``, asserted by the engine) to hold the ``worker`` or
``system`` role, looked up with ``engine::workers::info``; with ``vault_readers`` configured, its
worker name must also be listed (names are leased uniquely by the engine while connected). So an
HTTP trigger (no calling connection) or an unknown caller is refused here with ``forbidden`` even
when its credential passed the engine. Agents cannot reach ``vault::*`` through tools: those ids
are reserved (see :mod:`.capabilities`). Every ``get`` is audited as ``vault.read`` with the name
and the caller, never the value.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from workers.sdk import Context, InvocationError

from . import _state
from .audit import AuditLog
from .chain import canonical
from .errors import Conflict, Forbidden, InvalidArguments, NotFound, VaultLocked, parse_request
from .keyring import CHECK_PLAINTEXT, KeyringError, MasterKey, aad, open_sealed, seal

__all__ = ["KEYRING_SCOPE", "VAULT_SCOPE", "Vault"]

log = logging.getLogger(__name__)

VAULT_SCOPE = "security:vault"
KEYRING_SCOPE = "security:vault_keys"
KEYRING_KEY = "keyring"
READER_ROLES = ("worker", "system")
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:/@-]{1,200}$")]


class SetIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Name
    value: Any


class NameIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Name


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Name | None = None
    value: Any = None


class Vault:
    """The ``vault::*`` functions.

    Args:
        load_key: returns the master key (called once, on first use).
        audit: where reads and changes go.
        readers: worker names allowed ``vault::get``; None: any worker/system caller.
        max_bytes: the largest secret (canonical JSON).
        clock: epoch seconds.
    """

    def __init__(self, load_key: Callable[[], MasterKey], audit: AuditLog, *,
                 readers: tuple[str, ...] | None = None, max_bytes: int = 65_536,
                 clock: Callable[[], float] = time.time) -> None:
        self._load_key, self.audit, self.readers = load_key, audit, readers
        self.max_bytes, self.clock = max_bytes, clock
        self._master: MasterKey | None = None
        self._keys: dict[tuple[str | None, int, str], bytes] = {}

    def _master_key(self) -> MasterKey:
        if self._master is None:
            try:
                self._master = self._load_key()
            except KeyringError as exc:
                log.error("vault master key unavailable: %s", exc)
                raise VaultLocked(f"the vault master key is unavailable: {exc}") from None
        return self._master

    def _key(self, realm: str | None, version: int, entry: dict[str, Any]) -> bytes:
        """The data key of one keyring version, checked against its check value."""
        salt = str(entry.get("salt", ""))
        cached = self._keys.get((realm, version, salt))
        if cached is not None:
            return cached
        key = self._master_key().data_key(realm, version, base64.b64decode(salt))
        check = open_sealed(key, str(entry.get("check_nonce", "")), str(entry.get("check", "")),
                            aad(realm, "(check)", version))
        if check != CHECK_PLAINTEXT:
            raise VaultLocked("the master key does not open this realm's keyring")
        self._keys[(realm, version, salt)] = key
        return key

    def _new_version(self, realm: str | None, version: int) -> dict[str, Any]:
        salt = os.urandom(16)
        key = self._master_key().data_key(realm, version, salt)
        nonce, check = seal(key, CHECK_PLAINTEXT, aad(realm, "(check)", version))
        return {"salt": base64.b64encode(salt).decode(), "check_nonce": nonce, "check": check,
                "created_at": self.clock()}

    async def _keyring(self, ctx: Context, *, rotate: bool = False) -> dict[str, Any]:
        """The realm's keyring, created (or advanced by one version) by compare-and-set."""
        current = await _state.get(ctx, KEYRING_SCOPE, KEYRING_KEY)
        for _ in range(8):
            if isinstance(current, dict) and not rotate:
                return current
            version = int(current["current"]) + 1 if isinstance(current, dict) else 1
            versions = dict(current["versions"]) if isinstance(current, dict) else {}
            versions[str(version)] = self._new_version(ctx.realm, version)
            ring = {"current": version, "versions": versions}
            ok, current = await _state.cas(ctx, KEYRING_SCOPE, KEYRING_KEY,
                                           current if isinstance(current, dict) else None, ring)
            if ok:
                return ring
            rotate = False  # someone else created or rotated it meanwhile: use theirs
        raise Conflict("the vault keyring kept changing; try again")

    def _sealed(self, ctx: Context, ring: dict[str, Any], name: str, value: Any) -> dict[str, Any]:
        try:
            plain = canonical(value)
        except (TypeError, ValueError, RecursionError):
            # no `from exc`: the cause's message could quote the value
            raise InvalidArguments("value must be plain JSON") from None
        if len(plain) > self.max_bytes:
            raise InvalidArguments(f"value is {len(plain)} bytes of JSON, over {self.max_bytes}")
        version = int(ring["current"])
        key = self._key(ctx.realm, version, ring["versions"][str(version)])
        nonce, ciphertext = seal(key, plain, aad(ctx.realm, name, version))
        return {"key_version": version, "nonce": nonce, "ciphertext": ciphertext}

    async def _store(self, ctx: Context, name: str, sealed: dict[str, Any]) -> dict[str, Any]:
        now = self.clock()
        old = await _state.get(ctx, VAULT_SCOPE, name)
        previous = old.get("version", 0) if isinstance(old, dict) else 0
        record = {"name": name, **sealed, "version": int(previous) + 1,
                  "created_at": old.get("created_at", now) if isinstance(old, dict) else now,
                  "updated_at": now}
        await _state.put(ctx, VAULT_SCOPE, name, record)
        return record

    @staticmethod
    def _summary(record: dict[str, Any]) -> dict[str, Any]:
        return {k: record.get(k) for k in ("name", "version", "key_version", "created_at", "updated_at")}

    async def set(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``vault::set {name, value}`` → ``{name, version, key_version, …}`` (never the value)."""
        req = parse_request(SetIn, data)
        record = await self._store(ctx, req.name, self._sealed(ctx, await self._keyring(ctx),
                                                               req.name, req.value))
        await self.audit.append(ctx, "vault.set", None, {"name": req.name, "version": record["version"]})
        return self._summary(record)

    async def _authorize(self, ctx: Context) -> str:
        caller = ctx.caller_worker_id
        if caller is None:
            raise Forbidden("vault::get needs a calling worker")
        try:
            info = await ctx.trigger("engine::workers::info", {"worker_id": caller})
        except InvocationError as exc:
            raise Forbidden(f"cannot identify the caller ({exc.code})") from None
        worker = info.get("worker") if isinstance(info, dict) else None
        role = worker.get("role") if isinstance(worker, dict) else None
        name = str(worker.get("name")) if isinstance(worker, dict) else ""
        if role not in READER_ROLES:
            raise Forbidden(f"vault::get needs the worker or system role, the caller has {role!r}")
        if self.readers is not None and name not in self.readers:
            raise Forbidden(f"worker {name!r} is not allowed to read secrets")
        return name

    async def get(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``vault::get {name}`` → ``{name, value, version}`` for authorised workers only."""
        req = parse_request(NameIn, data)
        caller = await self._authorize(ctx)
        ring = await _state.get(ctx, KEYRING_SCOPE, KEYRING_KEY)
        record, value = await self._plain(ctx, ring if isinstance(ring, dict) else {}, req.name)
        await self.audit.append(ctx, "vault.read", None, {"name": req.name, "caller": caller})
        return {"name": req.name, "value": value, "version": record.get("version")}

    async def list_secrets(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``vault::list`` → ``{secrets: [{name, version, key_version, …}]}`` (no values)."""
        records = [r for r in await _state.values(ctx, VAULT_SCOPE) if isinstance(r, dict)]
        return {"secrets": [self._summary(r) for r in records]}

    async def delete(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``vault::delete {name}`` → ``{name, deleted}``."""
        req = parse_request(NameIn, data)
        old = await _state.delete(ctx, VAULT_SCOPE, req.name)
        if old is not None:
            await self.audit.append(ctx, "vault.deleted", None, {"name": req.name})
        return {"name": req.name, "deleted": old is not None}

    async def rotate(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``vault::rotate {name?, value?}`` → ``{key_version, rotated}``."""
        req = parse_request(RotateIn, data)
        if req.name is None and req.value is not None:
            raise InvalidArguments("a new value needs a name")
        ring = await self._keyring(ctx, rotate=True)
        names = [req.name] if req.name is not None else [
            r["name"] for r in await _state.values(ctx, VAULT_SCOPE)
            if isinstance(r, dict) and isinstance(r.get("name"), str)]
        for name in names:
            value = req.value if req.value is not None else (await self._plain(ctx, ring, name))[1]
            await self._store(ctx, name, self._sealed(ctx, ring, name, value))
        await self.audit.append(ctx, "vault.rotated", None,
                                {"key_version": ring["current"], "names": names})
        return {"key_version": ring["current"], "rotated": names}

    async def _plain(self, ctx: Context, ring: dict[str, Any], name: str) -> tuple[dict[str, Any], Any]:
        """``(record, value)`` of secret ``name``, opened with ``ring``."""
        record = await _state.get(ctx, VAULT_SCOPE, name)
        if not isinstance(record, dict):
            raise NotFound(f"no secret {name}")
        version = int(record.get("key_version", 0))
        versions = ring.get("versions")
        entry = versions.get(str(version)) if isinstance(versions, dict) else None
        if not isinstance(entry, dict):
            raise VaultLocked(f"key version {version} of secret {name} is missing")
        plain = open_sealed(
            self._key(ctx.realm, version, entry), str(record.get("nonce", "")),
            str(record.get("ciphertext", "")), aad(ctx.realm, name, version))
        if plain is None:
            raise VaultLocked(f"secret {name} does not authenticate (edited or moved)")
        return record, json.loads(plain)
