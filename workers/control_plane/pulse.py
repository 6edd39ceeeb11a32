"""Pulse: scheduled check-ins of an agent, with its context actually in the prompt.

``pulse::register {agent_id, schedule, context_sources?, enabled?, message?}`` stores the
config (scope ``pulse``) and asks the engine for a durable ``cron`` binding in the caller's realm
(``engine::register_trigger``, config ``{expression: schedule}``; an invalid expression is
refused there) that fires ``pulse::tick``. A tick (or ``pulse::invoke``, by hand):

1. skips (recorded as ``skipped``) when the pulse is disabled, or when ``ledger::check`` refuses
   the agent (over budget, realm suspended) — no model is called;
2. builds the agent's context from its ``context_sources``: ``missions`` (the open missions it
   holds), ``budget`` (what the ledger says is left), ``chain`` (its chain of command on the org
   chart) and ``directives`` (the realm's active directives);
3. calls ``agent::chat`` with that context **in the user message** (agent-core renders only
   template variables, so a separate ``context`` field would never reach the model);
4. records the run (scope ``pulse:runs:<agent_id>``): ``completed``, ``skipped`` (with the
   reason) or ``failed`` (with the error code), and publishes it on ``pulse.run``.
   ``pulse::status`` shows the config and the runs.

``pulse::toggle {agent_id, enabled}`` binds or unbinds the schedule.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from workers.sdk import Context, FunctionDef, InvocationError

from ._state import RealmState, act_in, describe, parse
from .errors import InvalidArguments, NotFound
from .hierarchy import chain_of
from .routes import define

if TYPE_CHECKING:
    from .worker import ControlPlane

__all__ = ["Pulse", "render_context", "trigger_id"]

SCOPE = "pulse"
TOPIC = "pulse.run"
Source = Literal["missions", "budget", "chain", "directives"]
SOURCES: tuple[Source, ...] = ("missions", "budget", "chain", "directives")
RUNS_SHOWN = 20
DEFAULT_MESSAGE = ("Pulse check-in: review your context below, then report what you will do next "
                   "and anything that blocks you.")
_REALM = AliasChoices("realm_id", "realm")


def trigger_id(realm: str | None, agent_id: str) -> str:
    """The id of an agent's cron binding (unique across realms)."""
    return f"pulse:{quote(realm or '', safe='')}:{agent_id}"


def runs_scope(agent_id: str) -> str:
    return f"pulse:runs:{agent_id}"


class InRealm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    realm_id: str | None = Field(default=None, validation_alias=_REALM)


class RegisterRequest(InRealm):
    agent_id: str = Field(min_length=1, max_length=128)
    schedule: str = Field(min_length=1, validation_alias=AliasChoices("schedule", "cron",
                                                                       "expression"))
    context_sources: list[Source] = Field(default_factory=lambda: list(SOURCES))
    enabled: bool = True
    message: str | None = Field(default=None, max_length=4000)


class AgentRef(InRealm):
    agent_id: str = Field(min_length=1, max_length=128)


class ToggleRequest(AgentRef):
    enabled: bool


class TickRequest(InRealm):
    agent_id: str | None = None
    job_id: str | None = None


def render_context(agent_id: str, realm: str | None, at: float, parts: dict[str, Any]) -> str:
    """The context block of a pulse, as Markdown-ish text. Pure."""
    when = datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
    lines = [f"## Pulse context of agent {agent_id} (realm {describe(realm)}, {when})"]
    if "missions" in parts:
        lines.append("### Your missions")
        lines += [f"- [{m['status']}] {m['id']}: {m['title']} (priority {m.get('priority')})"
                  for m in parts["missions"]] or ["- none"]
    if "budget" in parts:
        budget = parts["budget"]
        left = budget.get("remaining_usd")
        lines.append("### Budget")
        lines.append(f"- remaining_usd: {'unlimited' if left is None else f'{left:.6f}'}")
    if "chain" in parts:
        lines.append("### Chain of command")
        chain = parts["chain"]
        lines.append("- " + (" -> ".join(f"{n['agent_id']} ({n.get('title') or 'no title'})"
                                         for n in chain) if chain else "not on the org chart"))
    if "directives" in parts:
        lines.append("### Active directives")
        lines += [f"- {d['id']} [{d.get('level')}]: {d['title']}"
                  for d in parts["directives"]] or ["- none"]
    return "\n".join(lines)


class Pulse:
    """The pulse functions; also :attr:`section` of a realm bundle (the configs)."""

    section = "pulse"

    def __init__(self, plane: ControlPlane, *, chat_timeout_s: float = 300.0) -> None:
        self.plane = plane
        self.chat_timeout_s = chat_timeout_s

    async def _schedule(self, rs: RealmState, config: dict[str, Any]) -> None:
        await rs.call("engine::register_trigger", {
            "id": config["trigger_id"], "trigger_type": "cron", "function_id": "pulse::tick",
            "config": {"expression": config["schedule"]}})

    async def _unschedule(self, rs: RealmState, config: dict[str, Any]) -> None:
        await rs.call("engine::unregister_trigger", {"id": config["trigger_id"]})

    async def _config(self, rs: RealmState, agent_id: str) -> dict[str, Any]:
        config = await rs.get(SCOPE, agent_id)
        if not isinstance(config, dict):
            raise NotFound(f"agent {agent_id} has no pulse")
        return config

    async def register(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(RegisterRequest, data)
        rs = await act_in(ctx, req.realm_id)
        now = self.plane.clock()
        config = {**req.model_dump(exclude={"realm_id"}),
                  "trigger_id": trigger_id(rs.realm, req.agent_id), "updated_at": now}
        if req.enabled:
            try:
                await self._schedule(rs, config)
            except InvocationError as exc:
                raise InvalidArguments(f"schedule {req.schedule!r} refused: {exc.message}") from exc
        await rs.set(SCOPE, req.agent_id, config)
        return config

    async def toggle(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(ToggleRequest, data)
        rs = await act_in(ctx, req.realm_id)
        config = {**await self._config(rs, req.agent_id), "enabled": req.enabled,
                  "updated_at": self.plane.clock()}
        await (self._schedule if req.enabled else self._unschedule)(rs, config)
        await rs.set(SCOPE, req.agent_id, config)
        return config

    async def tick(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(TickRequest, data)
        rs = await act_in(ctx, req.realm_id)
        agent_id = req.agent_id or (req.job_id or "").rsplit(":", 1)[-1]
        if not agent_id:
            raise InvalidArguments("pulse::tick needs agent_id (or the cron job_id)")
        config = await self._config(rs, agent_id)
        if not config.get("enabled", True):
            return await self._record(rs, agent_id, "cron", "skipped", reason="pulse disabled")
        return await self.run(rs, config, "cron")

    async def invoke(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(AgentRef, data)
        rs = await act_in(ctx, req.realm_id)
        config = await rs.get(SCOPE, req.agent_id)
        if not isinstance(config, dict):
            config = {"agent_id": req.agent_id, "context_sources": list(SOURCES)}
        return await self.run(rs, config, "manual")

    async def run(self, rs: RealmState, config: dict[str, Any], trigger: str) -> dict[str, Any]:
        """One pulse of ``config``'s agent: check the budget, build the context, chat, record."""
        agent_id = config["agent_id"]
        verdict = await self.plane.ledger.evaluate(rs, agent_id, 0.0)
        if not verdict["allowed"]:
            return await self._record(rs, agent_id, trigger, "skipped", reason=verdict["reason"])
        context = await self.context(rs, agent_id, config.get("context_sources") or SOURCES,
                                     verdict)
        message = f"{config.get('message') or DEFAULT_MESSAGE}\n\n{context}"
        try:
            answer = await rs.call("agent::chat", {"agent_id": agent_id, "message": message},
                                   timeout=self.chat_timeout_s)
        except InvocationError as exc:
            status = "skipped" if exc.code == "budget_exceeded" else "failed"
            return await self._record(rs, agent_id, trigger, status, context=context,
                                      error={"code": exc.code, "message": exc.message})
        return await self._record(rs, agent_id, trigger, "completed", context=context,
                                  result={k: answer.get(k) for k in
                                          ("content", "cost_usd", "iterations", "finish_reason")})

    async def context(self, rs: RealmState, agent_id: str, sources: Any,
                      verdict: dict[str, Any]) -> str:
        """The rendered context of ``agent_id`` from the chosen sources."""
        parts: dict[str, Any] = {}
        if "missions" in sources:
            parts["missions"] = await self.plane.missions.of_agent(rs, agent_id)
        if "budget" in sources:
            parts["budget"] = verdict
        if "chain" in sources:
            parts["chain"] = chain_of(await self.plane.hierarchy.nodes(rs), agent_id)
        if "directives" in sources:
            parts["directives"] = await self.plane.directives.active(rs)
        return render_context(agent_id, rs.realm, self.plane.clock(), parts)

    async def _record(self, rs: RealmState, agent_id: str, trigger: str, status: str,
                      **details: Any) -> dict[str, Any]:
        now = self.plane.clock()
        run = {"run_id": f"pulse-{uuid.uuid4().hex[:12]}", "agent_id": agent_id,
               "trigger": trigger, "status": status, "at": now, **details}
        seq = await rs.next_seq(runs_scope(agent_id))
        await rs.set(runs_scope(agent_id), f"{seq:012d}", run)
        await rs.publish(TOPIC, {k: run[k] for k in ("run_id", "agent_id", "trigger", "status")})
        return run

    async def status(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(AgentRef, data)
        rs = await act_in(ctx, req.realm_id)
        config = await rs.get(SCOPE, req.agent_id)
        runs = await rs.list(runs_scope(req.agent_id))
        return {"agent_id": req.agent_id, "config": config if isinstance(config, dict) else None,
                "runs": list(reversed(runs[-RUNS_SHOWN:]))}

    async def unschedule_all(self, rs: RealmState) -> int:
        """Unbind every pulse schedule of ``rs.realm`` (it is being deleted)."""
        configs = [c for c in await rs.list(SCOPE) if isinstance(c, dict)]
        for config in configs:
            await self._unschedule(rs, config)
        return len(configs)

    async def reschedule_all(self, rs: RealmState) -> int:
        """Bind every enabled pulse schedule of ``rs.realm`` again (after a restart)."""
        configs = [c for c in await rs.list(SCOPE) if isinstance(c, dict) and c.get("enabled")]
        for config in configs:
            await self._schedule(rs, config)
        return len(configs)

    async def export(self, rs: RealmState) -> Any:
        return [{k: v for k, v in c.items() if k != "trigger_id"}
                for c in await rs.list(SCOPE) if isinstance(c, dict)]

    async def restore(self, rs: RealmState, data: Any) -> int:
        configs = [c for c in data if isinstance(c, dict) and "agent_id" in c]
        for c in configs:
            config = {**c, "trigger_id": trigger_id(rs.realm, c["agent_id"])}
            if config.get("enabled"):
                await self._schedule(rs, config)
            await rs.set(SCOPE, c["agent_id"], config)
        return len(configs)

    def definitions(self) -> list[FunctionDef]:
        return [
            define("pulse::register", self.register,
                   "Schedule an agent's pulse (cron) with its context sources", RegisterRequest),
            define("pulse::invoke", self.invoke, "Run an agent's pulse now", AgentRef),
            define("pulse::tick", self.tick, "One scheduled pulse (fired by cron)", TickRequest),
            define("pulse::status", self.status, "An agent's pulse config and recent runs",
                   AgentRef),
            define("pulse::toggle", self.toggle, "Enable or disable an agent's pulse",
                   ToggleRequest),
        ]
