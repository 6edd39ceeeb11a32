"""The control-plane worker: :class:`ControlPlane` and the :class:`~workers.sdk.Worker` it serves.

``async with ControlPlane() as plane`` owns the one task group of the plane's background work
(bridge runs) and its HTTP client; ``plane.worker()`` is the worker to serve on a connection
made with an *unbound* ``worker`` token (the plane acts in each caller's realm by passing the
realm on, see :mod:`workers.control_plane._state`). ``python -m workers.control_plane`` does both
(:mod:`workers.control_plane.__main__`), then :meth:`ControlPlane.restore` binds again what a
restarted engine forgot: every known realm's subscriptions and pulse schedules.

The domains reach each other through the plane (``plane.ledger`` for the council's budget
override and the pulse's budget check, ``plane.realms`` for suspension, …); every one of them
is built here, once, and the worker's functions are the concatenation of their definitions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from typing import Any

import anyio
import httpx
from anyio.abc import TaskGroup

from workers.sdk import Connection, TriggerBinding, Worker

from . import routes
from ._state import RealmState
from .bridge import Bridge
from .council import Council
from .directive import Directives
from .hierarchy import Hierarchy
from .keys import RealmKeys
from .ledger import Ledger
from .mission import Missions
from .pulse import Pulse
from .realm import REALMS_SCOPE, Realms
from .subscriptions import TOPICS, Subscriptions

__all__ = ["WORKER_NAME", "ControlPlane"]

log = logging.getLogger(__name__)

WORKER_NAME = "control-plane"


class ControlPlane:
    """Every control-plane domain, over one clock.

    Args:
        clock: unix seconds; budgets' periods, timestamps and the log use it (inject a fake
            one to move through periods in tests).
        chat_timeout_s: how long a pulse waits for ``agent::chat``.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time,
                 chat_timeout_s: float = 300.0) -> None:
        self.clock = clock
        self.subscriptions = Subscriptions()
        self.hierarchy = Hierarchy(self)
        self.directives = Directives(self)
        self.missions = Missions(self)
        self.ledger = Ledger(self)
        self.council = Council(self)
        self.pulse = Pulse(self, chat_timeout_s=chat_timeout_s)
        self.bridge = Bridge(self)
        self.keys = RealmKeys(self)
        self.realms = Realms(self, [self.hierarchy, self.directives, self.missions, self.ledger,
                                    self.council, self.pulse])
        self._stack = AsyncExitStack()
        self._tg: TaskGroup | None = None
        self._http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> ControlPlane:
        stack = self._stack
        await stack.__aenter__()
        try:
            self._http = await stack.enter_async_context(httpx.AsyncClient())
            self._tg = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(self._tg.cancel_scope.cancel)
        except BaseException:
            await stack.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc: Any) -> bool | None:
        self._tg = None
        return await self._stack.__aexit__(*exc)

    @property
    def http(self) -> httpx.AsyncClient:
        """The plane's HTTP client (bridge runtimes of kind ``http``)."""
        if self._http is None:
            raise RuntimeError("ControlPlane used outside 'async with'")
        return self._http

    def spawn(self, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> None:
        """Run ``fn(*args)`` in the plane's task group (it ends when the plane closes)."""
        if self._tg is None:
            raise RuntimeError("ControlPlane used outside 'async with'")
        self._tg.start_soon(fn, *args)

    def worker(self) -> Worker:
        """The worker: every function, its REST routes and the default realm's subscriptions."""
        functions = [*self.realms.definitions(), *self.keys.definitions(),
                     *self.hierarchy.definitions(), *self.directives.definitions(),
                     *self.missions.definitions(), *self.ledger.definitions(),
                     *self.council.definitions(), *self.pulse.definitions(),
                     *self.bridge.definitions()]
        subscriptions = [TriggerBinding("subscribe", function_id, {"topic": topic})
                         for topic, function_id in TOPICS]
        return Worker(WORKER_NAME, functions=functions,
                      triggers=[*routes.bindings(), *subscriptions],
                      description="Control plane: realms, org chart, directives, missions, "
                                  "ledger, council, pulse, bridge")

    async def restore(self, conn: Connection) -> None:
        """Bind again every realm's subscriptions and pulse schedules (call once connected)."""
        home = RealmState(conn, None)
        realms = [r["id"] for r in await home.list(REALMS_SCOPE) if isinstance(r, dict)]
        for realm in [None, *realms]:
            rs = home.within(realm)
            await self.subscriptions.ensure(rs)
            count = await self.pulse.reschedule_all(rs)
            log.info("realm %s: subscriptions bound, %d pulse schedule(s)", realm or "default",
                     count)
