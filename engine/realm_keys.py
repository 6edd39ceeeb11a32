"""Realm API keys as a :class:`~engine.auth.TokenSource`, and purging a realm's state.

Theory of operation
-------------------
The control plane (``realm::keys::issue``) stores each key's SHA-256 hex digest in the default
realm's state scope ``realm_keys``: key = digest, value ``{realm, role, name, key_id, …}``.
Authentication is synchronous (:meth:`Authenticator.authenticate` runs on every WebSocket
upgrade and HTTP request), so :class:`RealmKeySource` answers from an in-memory table of
``digest → Credential`` that mirrors the scope:

* loaded from the state adapter when the state module starts;
* refreshed, one digest at a time, by ``engine::realm_keys::refresh {key: digest}``, which
  re-reads that key from storage (never trusting the caller for the credential): the control
  plane calls it before ``issue``/``revoke`` answer, so a key works (or stops working) from the
  very next connection;
* and, when the store is shared between engines (redis), by the state module's change events,
  so a key issued or revoked through another engine reaches this one too.

Only records with a realm and a role of ``client`` or ``worker`` become credentials: a realm key
is never ``system`` and never realm-unbound.

``engine::realm::purge`` deletes every state scope of the *calling invocation's* realm, with the
keys ``state::list`` does not return (``realm::delete`` needs it to remove data it did not
write, such as agent sessions). It refuses the default realm and needs the ``worker`` role.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import anyio

from .errors import Forbidden, InvalidArguments
from .modules.pubsub import adapter_errors, consume, realm_key
from .registry import DEFAULT_NAMESPACE, ENGINE
from .types import Call, Credential

if TYPE_CHECKING:
    from .auth import Authenticator
    from .modules.state import StateModule

__all__ = ["KEYS_SCOPE", "RealmKeySource", "credential_of"]

log = logging.getLogger(__name__)

KEYS_SCOPE = "realm_keys"
REFRESH, PURGE = "engine::realm_keys::refresh", "engine::realm::purge"
_ROLES = ("client", "worker")


def credential_of(record: Any) -> Credential | None:
    """The credential a stored key record grants, or None for a malformed or unbound one."""
    if not isinstance(record, dict):
        return None
    realm, role = record.get("realm"), record.get("role")
    if not isinstance(realm, str) or not realm or role not in _ROLES:
        return None
    name = record.get("key_id") if isinstance(record.get("key_id"), str) else None
    return Credential(role, realm, name)


class RealmKeySource:
    """The realm keys of one state module; ``async with`` loads them and registers the hooks.

    Args:
        auth: the node's authenticator (None: keep the functions, authenticate nothing).
        state: the state module whose adapter holds the keys.
    """

    def __init__(self, auth: Authenticator | None, state: StateModule) -> None:
        self.auth = auth
        self.state = state
        self.keys: dict[str, Credential] = {}
        self._open = False
        self._stack = AsyncExitStack()

    def lookup(self, token_hash: str) -> Credential | None:
        """The credential of a presented token's digest, if it is a live realm key."""
        return self.keys.get(token_hash) if self._open else None

    async def __aenter__(self) -> RealmKeySource:
        with adapter_errors("realm keys"):
            for digest, record in await self.state.kv.list(realm_key(None, KEYS_SCOPE)):
                self._store(digest, record)
        router = self.state.router
        router.register_local(REFRESH, self.refresh, min_role="worker",
                              description="Re-read one realm API key from state {key: sha256}")
        router.register_local(PURGE, self.purge, min_role="worker",
                              description="Delete every state scope of the caller's realm")
        events = getattr(self.state, "_events", None)
        if events is not None and getattr(self.state, "_shared", False):
            from .modules.state import EVENTS_TOPIC  # noqa: PLC0415 - state imports this module

            tg = await self._stack.enter_async_context(anyio.create_task_group())
            self._stack.callback(tg.cancel_scope.cancel)
            await tg.start(consume, events, EVENTS_TOPIC, self._on_event)
        if self.auth is not None:
            self.auth.add_source(self)
        self._open = True
        log.info("realm keys: %d loaded", len(self.keys))
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._open = False
        await self._stack.aclose()
        router = self.state.router
        for function_id in (REFRESH, PURGE):
            router.registry.remove_function(DEFAULT_NAMESPACE, function_id, ENGINE)

    def _store(self, digest: str, record: Any) -> None:
        credential = credential_of(record)
        if credential is None:
            self.keys.pop(digest, None)
        else:
            self.keys[digest] = credential

    async def _reload(self, digest: str) -> None:
        with adapter_errors(REFRESH):
            self._store(digest, await self.state.kv.get(realm_key(None, KEYS_SCOPE), digest))

    async def _on_event(self, message: Any) -> None:
        event = message.get("event") if isinstance(message, dict) else None
        if (isinstance(event, dict) and message.get("realm") is None
                and event.get("scope") == KEYS_SCOPE and isinstance(event.get("key"), str)):
            try:
                await self._reload(event["key"])
            except Exception:  # the next refresh or event fixes it; the listener must go on
                log.exception("realm keys: could not reload %s", event["key"])

    async def refresh(self, data: Any, call: Call) -> dict[str, Any]:
        """``engine::realm_keys::refresh {key}``: re-read one digest from storage."""
        digest = data.get("key") if isinstance(data, dict) else None
        if not isinstance(digest, str) or not digest:
            raise InvalidArguments("'key' must be the key's sha256 hex digest")
        await self._reload(digest)
        return {"key": digest, "active": digest in self.keys}

    async def purge(self, data: Any, call: Call) -> dict[str, Any]:
        """``engine::realm::purge``: empty every state scope of ``call.realm``."""
        if call.realm is None:
            raise Forbidden("the default realm cannot be purged")
        prefix = realm_key(call.realm, "")
        purged, keys = [], 0
        with adapter_errors(PURGE):
            for scope in await self.state.kv.scopes(prefix):
                for key, _ in await self.state.kv.list(scope):
                    await self.state.kv.delete(scope, key)
                    keys += 1
                purged.append(scope[len(prefix):])
        return {"scopes": sorted(purged), "keys": keys}
