"""``tool::agent_spawn`` and ``tool::agent_send``: agents making and messaging agents, bounded.

**Depth.** Every agent hop adds one: a spawned agent is one deeper than its parent, and a run
started by ``agent_send`` is one deeper than the sender's. The depth of a caller is the larger
of the ``agent_depth`` in the call's metadata and the ``depth:N`` tag on its record (spawned
agents are tagged, so the bound holds even if a hop forgets to pass the metadata on). Past
``agents.max_depth`` (5) both tools answer ``depth_exceeded``.

**Rates** (per tools process, :mod:`.ratelimit`): ``spawn_per_hour`` spawns per agent (20),
``messages_per_minute`` messages per (sender, recipient) pair (10); beyond: ``rate_limited``.

**No escalation.** A spawned agent's capabilities — the ones asked for, else its template's —
are narrowed to what its parent holds (:func:`~.policy.narrow`); without a parent record it
gets none. ``allow_agent_chat`` needs the parent's too. Calls go to agent-core
(``agent::templates::get``, ``agent::create``, ``agent::chat``; ``agent_send`` with
``wait: false`` enqueues ``agent::chat`` on queue ``agent.inbox``); their errors pass through,
and ``function_not_found`` becomes ``not_available``.

**Taint** (:mod:`.sinks`). Both are ``llm`` sinks: what they carry becomes a model's prompt
(the message, the new agent's name, description and system prompt), so a secret in it, or a run
holding secrets, is refused. And taint travels with them, so a tainted run cannot launder its
labels through another agent: ``agent_send`` passes the run's labels as ``taint`` in the
``agent::chat`` metadata (the recipient's run starts with them), and ``agent_spawn`` tags the new
agent ``taint:<label>`` for each (every run of that agent starts with them; the tools read the
tags too).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from workers.sdk import Context, FunctionNotFound, InvocationError

from .config import ToolsConfig
from .errors import DepthExceeded, InvalidArguments, NotAvailable, RateLimited, TooLarge
from .identity import Caller, Request, caller_of, parse
from .policy import Policy, narrow
from .ratelimit import SlidingWindow
from .sinks import Gate

__all__ = ["AGENT_NAME", "AgentTools", "SendRequest", "SpawnRequest", "depth_of"]

AGENT_NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"
INBOX = "agent.inbox"
_CAP_FIELDS = ("tools", "memory_scopes", "network_hosts")
Glob = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^\S+$")]


class CapabilitiesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tools: list[Glob] = Field(default_factory=list, max_length=256)
    memory_scopes: list[Glob] = Field(default_factory=list, max_length=256)
    network_hosts: list[Glob] = Field(default_factory=list, max_length=256)
    allow_agent_chat: bool = False


class SpawnRequest(Request):
    name: Annotated[str, Field(pattern=AGENT_NAME, description="The new agent's name (its id)")]
    template: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        None, description="Start from this agent template")
    description: Annotated[str, Field(max_length=2000)] | None = None
    system_prompt: Annotated[str, Field(max_length=65_536)] | None = None
    model: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    capabilities: CapabilitiesIn | None = Field(
        None, description="What it may use (never more than you; default: the template's)")


class SendRequest(Request):
    agent_id: Annotated[str, Field(pattern=AGENT_NAME, description="The recipient")]
    message: Annotated[str, Field(min_length=1)]
    wait: bool = Field(True, description="Wait for the reply (else queue it on agent.inbox)")


def depth_of(record: dict[str, Any] | None) -> int:
    """The ``depth:N`` tag of an agent record (0 without one)."""
    tags = record.get("tags") if isinstance(record, dict) else None
    best = 0
    for tag in tags if isinstance(tags, list) else []:
        if isinstance(tag, str) and tag.startswith("depth:") and tag[6:].isdigit():
            best = max(best, int(tag[6:]))
    return best


def _unavailable(exc: FunctionNotFound, what: str) -> NotAvailable:
    return NotAvailable(f"{exc.function_id or what} is not registered: start agent-core")


class AgentTools:
    """The two agent tools, with their rate limiters.

    Args:
        gate: the taint check.
        clock: monotonic seconds (the rate windows).
    """

    def __init__(self, config: ToolsConfig, gate: Gate, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config, self.gate = config, gate
        s = config.agents
        self.spawns = SlidingWindow(s.spawn_per_hour, 3600, max_keys=s.max_limiter_keys, clock=clock)
        self.messages = SlidingWindow(s.messages_per_minute, 60, max_keys=s.max_limiter_keys,
                                      clock=clock)

    async def spawn(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(SpawnRequest, data)
        caller = caller_of(ctx, self.config)
        policy = Policy(self.config, ctx, caller)
        parent = await policy.record()
        depth = max(caller.depth, depth_of(parent)) + 1
        if depth > self.config.agents.max_depth:
            raise DepthExceeded(f"agent {caller.agent_id} is at depth {depth - 1}; agents may "
                                f"nest at most {self.config.agents.max_depth} deep")
        prompts = "\n".join(p for p in (req.name, req.description, req.system_prompt) if p)
        await self.gate.enforce(ctx, caller, "llm", prompts, what="the new agent's prompts",
                                policy=policy)
        labels = await self.gate.labels(ctx, caller, policy)
        wait = self.spawns.try_acquire_nowait((caller.realm, caller.agent_id))
        if wait is not None:
            raise RateLimited(f"agent {caller.agent_id} may spawn {self.config.agents.spawn_per_hour} "
                              f"agents per hour; next in {wait:.0f}s")
        template = await self._template(ctx, req.template, caller) if req.template else {}
        asked = (req.capabilities.model_dump() if req.capabilities is not None
                 else dict(template.get("capabilities") or {}))
        held = dict((parent or {}).get("capabilities") or {})
        granted: dict[str, Any] = {f: narrow(_globs(asked.get(f)), _globs(held.get(f)))
                                   for f in _CAP_FIELDS}
        granted["allow_agent_chat"] = bool(asked.get("allow_agent_chat")) and bool(
            held.get("allow_agent_chat"))
        template_tags = [t for t in template.get("tags") or [] if isinstance(t, str)]
        taint_tags = sorted({f"taint:{label}" for label in labels}
                            | {t for t in template_tags if t.startswith("taint:")})
        tags = [t for t in template_tags if not t.startswith(("depth:", "taint:"))]
        tags = [*tags[:max(29 - len(taint_tags), 0)], *taint_tags, "spawned", f"depth:{depth}"]
        if len(f"parent:{caller.agent_id}") <= 64:
            tags.append(f"parent:{caller.agent_id}")
        payload: dict[str, Any] = {"name": req.name, "overrides": {"capabilities": granted,
                                                                  "tags": tags}}
        for key in ("template", "description", "system_prompt", "model"):
            if getattr(req, key) is not None:
                payload[key] = getattr(req, key)
        try:
            record = await ctx.trigger("agent::create", payload, timeout=self.config.call_timeout_s,
                                       metadata=caller.metadata())
        except FunctionNotFound as exc:
            raise _unavailable(exc, "agent::create") from exc
        dropped = {f: [g for g in _globs(asked.get(f)) if g not in granted[f]] for f in _CAP_FIELDS}
        return {"agent_id": (record or {}).get("agent_id", req.name), "depth": depth,
                "capabilities": granted, "dropped": {k: v for k, v in dropped.items() if v}}

    async def _template(self, ctx: Context, name: str, caller: Caller) -> dict[str, Any]:
        try:
            found = await ctx.trigger("agent::templates::get", {"name": name},
                                      timeout=self.config.call_timeout_s,
                                      metadata=caller.metadata())
        except FunctionNotFound as exc:
            raise _unavailable(exc, "agent::templates::get") from exc
        spec = found.get("spec") if isinstance(found, dict) else None
        return spec if isinstance(spec, dict) else {}

    async def send(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(SendRequest, data)
        caller = caller_of(ctx, self.config)
        settings = self.config.agents
        if req.agent_id == caller.agent_id:
            raise InvalidArguments("an agent cannot message itself")
        size = len(req.message.encode("utf-8"))
        if size > settings.max_message_bytes:
            raise TooLarge(f"the message is {size} bytes; the cap is {settings.max_message_bytes}")
        policy = Policy(self.config, ctx, caller)
        depth = max(caller.depth, depth_of(await policy.record())) + 1
        if depth > settings.max_depth:
            raise DepthExceeded(f"a message from depth {depth - 1} would start a run at depth "
                                f"{depth}; the limit is {settings.max_depth}")
        await self.gate.enforce(ctx, caller, "llm", req.message, what="the message", policy=policy)
        labels = await self.gate.labels(ctx, caller, policy)
        wait = self.messages.try_acquire_nowait((caller.realm, caller.agent_id, req.agent_id))
        if wait is not None:
            raise RateLimited(f"{caller.agent_id} may send {settings.messages_per_minute} messages "
                              f"per minute to {req.agent_id}; next in {wait:.0f}s")
        payload = {"agent_id": req.agent_id,
                   "message": f"[message from agent {caller.agent_id}]\n{req.message}"}
        metadata = {"agent_depth": depth, "from_agent": caller.agent_id, "taint": sorted(labels)}
        try:
            if not req.wait:
                receipt = await ctx.enqueue("agent::chat", payload, queue=INBOX, metadata=metadata)
                return {"agent_id": req.agent_id, "queued": True, "receipt": receipt}
            result = await ctx.trigger("agent::chat", payload, timeout=settings.chat_timeout_s,
                                       metadata=metadata)
        except FunctionNotFound as exc:
            raise _unavailable(exc, "agent::chat") from exc
        except InvocationError as exc:
            if exc.code == "enqueue_error":
                raise NotAvailable(f"cannot queue on {INBOX}: {exc.message}") from exc
            raise
        reply = result.get("content") if isinstance(result, dict) else result
        return {"agent_id": req.agent_id, "queued": False, "reply": reply}


def _globs(value: Any) -> list[str]:
    return [g for g in value if isinstance(g, str)] if isinstance(value, list) else []
