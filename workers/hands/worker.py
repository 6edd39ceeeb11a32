"""The hands worker: each enabled hand gets its agent and a cron trigger to ``hand::execute``.

Serve it with::

    async with connect(workers=[hands.worker()]) as conn:
        await hands.run(conn)        # applies enablement, binds crons, runs until cancelled

Functions:

* ``hand::execute`` — the cron target (``{job_id}`` from the trigger) or ``{hand_id}``.
* ``hand::run {hand_id, settings?}`` — run now; answers the run record.
* ``hand::list {}`` → ``{hands: [{id, name, description, schedule, enabled, metrics}]}``;
  ``hand::get {hand_id}`` → the spec, enablement and metrics; ``hand::runs {hand_id, limit?}``
  → ``{runs}`` newest first.
* ``hand::enable`` / ``hand::disable {hand_id}`` — persisted in state (scope ``hands``, key id,
  ``{enabled}``), which wins over the file's ``enabled``; enabling creates/updates the agent
  ``hand-<id>`` (capabilities.tools = the allowlist) and binds the cron; disabling unbinds it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import anyio
from anyio.abc import TaskStatus

from workers.sdk import Binding, Connection, Context, InvocationError, Worker, function

from .runs import METRICS_SCOPE, execute, runs_scope
from .spec import HandSpec

__all__ = ["Hands"]

log = logging.getLogger(__name__)

ENABLED_SCOPE = "hands"


class Hands:
    """The loaded hands, their cron bindings and the run notifications."""

    def __init__(self, specs: Sequence[HandSpec], *, run_timeout: float = 600.0) -> None:
        self.specs = {s.id: s for s in specs}
        self.run_timeout = run_timeout
        self._conn: Connection | None = None
        self._bindings: dict[str, Binding] = {}
        self._changed = anyio.Event()
        self.completed: dict[str, int] = {}
        """Runs finished (ok or not) per hand, since start: what tests wait on."""

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self, conn: Connection, *,
                  task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Apply each hand's enablement (agent + cron), signal readiness, wait until cancelled."""
        self._conn = conn
        try:
            for spec in self.specs.values():
                if await self._enabled(conn, spec):
                    try:
                        await self._activate(conn, spec)
                    except InvocationError as exc:
                        log.error("hand %s: could not be activated: %s", spec.id, exc)
            task_status.started()
            await anyio.sleep_forever()
        finally:
            self._conn = None

    async def wait_runs(self, hand_id: str, count: int) -> None:
        """Return once ``count`` runs of ``hand_id`` have finished (event-driven)."""
        while self.completed.get(hand_id, 0) < count:
            await self._changed.wait()

    async def _enabled(self, caller: Connection | Context, spec: HandSpec) -> bool:
        stored = await caller.trigger("state::get", {"scope": ENABLED_SCOPE, "key": spec.id})
        return bool(stored["enabled"]) if isinstance(stored, dict) else spec.enabled

    async def _activate(self, caller: Connection | Context, spec: HandSpec) -> None:
        await self._ensure_agent(caller, spec)
        if spec.id not in self._bindings:
            assert self._conn is not None
            self._bindings[spec.id] = await self._conn.bind(
                "cron", "hand::execute", {"expression": spec.schedule, "hand_id": spec.id})
            log.info("hand %s enabled (%s)", spec.id, spec.schedule)

    async def _ensure_agent(self, caller: Connection | Context, spec: HandSpec) -> None:
        """Create the agent ``hand-<id>``, or bring it in line with the hand file."""
        agent: dict[str, Any] = {"name": spec.agent_id, "description": spec.description or spec.name,
                 "system_prompt": spec.agent.system_prompt, "model": spec.agent.model,
                 "max_iterations": spec.agent.max_iterations,
                 "capabilities": {"tools": spec.tools.allowed}}
        if spec.agent.temperature is not None:
            agent["temperature"] = spec.agent.temperature
        try:
            await caller.trigger("agent::create", agent)
        except InvocationError as exc:
            if exc.code != "agent_exists":
                raise
            await caller.trigger("agent::update", {**agent, "agent_id": spec.agent_id})

    async def _deactivate(self, spec: HandSpec) -> None:
        binding = self._bindings.pop(spec.id, None)
        if binding is not None:
            await binding.unregister()
            log.info("hand %s disabled", spec.id)

    # -- functions ---------------------------------------------------------------------------

    def _spec(self, data: Any) -> HandSpec:
        hand_id = data.get("hand_id") if isinstance(data, dict) else None
        if isinstance(data, dict) and hand_id is None and data.get("job_id"):
            hand_id = next((h for h, b in self._bindings.items() if b.id == data["job_id"]), None)
        if not isinstance(hand_id, str) or hand_id not in self.specs:
            raise InvocationError("not_found", f"no hand {hand_id!r}")
        return self.specs[hand_id]

    async def _execute(self, spec: HandSpec, ctx: Context, trigger: str,
                       settings: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            return await execute(ctx, spec, trigger=trigger, settings=settings,
                                 timeout=self.run_timeout)
        finally:
            self.completed[spec.id] = self.completed.get(spec.id, 0) + 1
            changed, self._changed = self._changed, anyio.Event()
            changed.set()

    async def _describe(self, ctx: Context, spec: HandSpec) -> dict[str, Any]:
        metrics = await ctx.trigger("state::get", {"scope": METRICS_SCOPE, "key": spec.id}) or {}
        return {"id": spec.id, "name": spec.name, "description": spec.description,
                "schedule": spec.schedule, "enabled": await self._enabled(ctx, spec),
                "agent_id": spec.agent_id, "tools": spec.tools.allowed, "metrics": metrics}

    def worker(self) -> Worker:
        @function("hand::execute", description="Run a hand (cron target: {job_id}; or {hand_id})")
        async def hand_execute(data: Any, ctx: Context) -> dict[str, Any]:
            spec = self._spec(data)
            trigger = "cron" if isinstance(data, dict) and data.get("trigger") == "cron" else "call"
            return await self._execute(spec, ctx, trigger)

        @function("hand::run", description="Run a hand now ({hand_id, settings?}); the run record")
        async def hand_run(data: Any, ctx: Context) -> dict[str, Any]:
            spec = self._spec(data)
            settings = data.get("settings") if isinstance(data.get("settings"), dict) else None
            await self._ensure_agent(ctx, spec)
            return await self._execute(spec, ctx, "manual", settings)

        @function("hand::list", description="The hands, their schedule, enablement and metrics")
        async def hand_list(data: Any, ctx: Context) -> dict[str, Any]:
            return {"hands": [await self._describe(ctx, s) for s in self.specs.values()]}

        @function("hand::get", description="One hand ({hand_id}): spec, enablement, metrics")
        async def hand_get(data: Any, ctx: Context) -> dict[str, Any]:
            spec = self._spec(data)
            return {**await self._describe(ctx, spec),
                    "spec": spec.model_dump(mode="json")}

        @function("hand::runs", description="Run records of a hand ({hand_id, limit?}), newest first")
        async def hand_runs(data: Any, ctx: Context) -> dict[str, Any]:
            spec = self._spec(data)
            limit = int(data.get("limit") or 50)
            found = await ctx.trigger("state::list", {"scope": runs_scope(spec.id)}) or []
            return {"runs": list(reversed(found))[:limit]}

        @function("hand::enable", description="Enable a hand ({hand_id}): agent + cron, persisted")
        async def hand_enable(data: Any, ctx: Context) -> dict[str, Any]:
            spec = self._spec(data)
            await ctx.trigger("state::set", {"scope": ENABLED_SCOPE, "key": spec.id,
                                             "value": {"enabled": True}})
            await self._activate(ctx, spec)
            return {"hand_id": spec.id, "enabled": True}

        @function("hand::disable", description="Disable a hand ({hand_id}): unbind its cron")
        async def hand_disable(data: Any, ctx: Context) -> dict[str, Any]:
            spec = self._spec(data)
            await ctx.trigger("state::set", {"scope": ENABLED_SCOPE, "key": spec.id,
                                             "value": {"enabled": False}})
            await self._deactivate(spec)
            return {"hand_id": spec.id, "enabled": False}

        return Worker("hands", functions=[hand_execute, hand_run, hand_list, hand_get,
                                          hand_runs, hand_enable, hand_disable],
                      description="Autonomous agents on a cron schedule")
