"""The control plane's subscriptions in each realm: ``cost.incurred`` and ``council.audit``.

Topics are realm-scoped by the engine (a publish in realm ``a`` reaches only subscriptions bound
in ``a``), and a binding made on our connection belongs to our credential's realm, the default
one. So for every other realm the control plane asks the engine for a *durable* binding made in
that realm (``engine::register_trigger`` called with the realm's baggage): ``cost.incurred`` →
``ledger::spend`` and ``council.audit`` → ``council::activity``. Each is bound once per process
and realm, before the first ledger or council call of that realm returns; since the llm-router
calls ``ledger::check`` before every model call, the subscription is live before the first cost
of a realm is published. Binding ids are fixed per realm, so binding again (a restarted worker)
replaces rather than duplicates, and ``ledger::spend`` is idempotent by event id anyway.
"""

from __future__ import annotations

from urllib.parse import quote

import anyio

from ._state import RealmState

__all__ = ["TOPICS", "Subscriptions", "trigger_id"]

TOPICS: tuple[tuple[str, str], ...] = (("cost.incurred", "ledger::spend"),
                                        ("council.audit", "council::activity"))
"""``(topic, function id)`` pairs bound in every realm."""


def trigger_id(realm: str | None, topic: str) -> str:
    """The fixed id of the binding of ``topic`` in ``realm``."""
    return f"control-plane:{topic}:{quote(realm or '', safe='')}"


class Subscriptions:
    """Which realms are subscribed already (in this process)."""

    def __init__(self) -> None:
        self._done: dict[str | None, anyio.Event] = {}

    async def ensure(self, rs: RealmState) -> None:
        """Bind the topics in ``rs.realm`` unless done; concurrent callers wait for one binding.

        The default realm is served by the worker's own static bindings.

        Raises:
            InvocationError: the engine refused a binding (the next call tries again).
        """
        if rs.realm is None:
            return
        while True:
            event = self._done.get(rs.realm)
            if event is None:
                break
            await event.wait()
            if self._done.get(rs.realm) is event:
                return
        event = self._done[rs.realm] = anyio.Event()
        try:
            for topic, function_id in TOPICS:
                await rs.call("engine::register_trigger", {
                    "id": trigger_id(rs.realm, topic), "trigger_type": "subscribe",
                    "function_id": function_id, "config": {"topic": topic}})
        except BaseException:
            del self._done[rs.realm]
            raise
        finally:
            event.set()

    async def drop(self, rs: RealmState) -> None:
        """Remove the realm's bindings (the realm is being deleted)."""
        self._done.pop(rs.realm, None)
        for topic, _ in TOPICS:
            await rs.call("engine::unregister_trigger", {"id": trigger_id(rs.realm, topic)})
