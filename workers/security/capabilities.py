"""Agent capabilities: ``security::set_capabilities/get_capabilities/check_capability/record_usage``.

Theory of operation
-------------------
An agent's capabilities are ``{tools, memory_scopes, network_hosts, allow_agent_chat,
max_tokens_per_hour}``. They come from state scope ``security:capabilities`` (key: agent id) when
someone set them with ``security::set_capabilities``; otherwise from the agent's own record
(``agent::get``: its ``capabilities`` and ``resources.max_tokens_per_hour``), so an agent created
through the API from a template can use exactly the tools its template lists. (The seed only read
the first source, which only ``hand::register`` ever wrote: API agents were denied every tool.)

``check_capability {agent_id, capability, resource, amount?}`` answers ``{allowed, reason}``:

* ``tool``: ``resource`` is a function id, matched with ``fnmatchcase`` against ``tools`` (``*``
  crosses ``::``). Ids matching the configured *reserved* globs (``security::*``, ``vault::*``,
  ``state::*``, ``agent::update``… see :data:`~.config.DEFAULT_RESERVED_TOOLS`) must be listed
  exactly: no glob reaches them, so an agent cannot grant itself more through its tools.
  ``agent::chat`` also needs ``allow_agent_chat`` (as agent-core's own check).
* ``memory``: ``resource`` is a memory scope name, matched against ``memory_scopes`` globs.
* ``network``: ``resource`` is a host, ``host:port`` or URL (see :mod:`.hosts`).
* ``tokens``: ``amount`` tokens more must fit in ``max_tokens_per_hour`` over the sliding hour
  (:mod:`.usage`); no budget set means no limit. The answer adds ``used`` and ``limit``.

Everything not admitted is denied with a reason (unknown agent, archived agent, agent record
unreadable: fail closed), and every denial is appended to the audit log as
``capability.denied``. ``set_capabilities`` is audited as ``capability.set``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from fnmatch import fnmatchcase
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from workers.sdk import Context, InvocationError

from . import _state
from .audit import AuditLog
from .errors import parse_request
from .hosts import host_decision
from .usage import record_tokens, used_tokens

__all__ = ["CAPS_SCOPE", "AgentId", "CapabilitySet", "Capabilities", "tool_decision"]

log = logging.getLogger(__name__)

CAPS_SCOPE = "security:capabilities"
AGENT_LOOKUP_TIMEOUT_S = 10.0

AgentId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\s\x00-\x1f]+$")]
Glob = Annotated[str, Field(min_length=1, max_length=256)]
Globs = Annotated[list[Glob], Field(max_length=512)]


class CapabilitySet(BaseModel):
    """What one agent may touch."""

    model_config = ConfigDict(extra="ignore")

    tools: Globs = Field(default_factory=list)
    memory_scopes: Globs = Field(default_factory=list)
    network_hosts: Globs = Field(default_factory=list)
    allow_agent_chat: bool = False
    max_tokens_per_hour: Annotated[int, Field(ge=0)] | None = None


class SetRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    agent_id: AgentId
    capabilities: CapabilitySet


class AgentRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    agent_id: AgentId


class CheckRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    agent_id: AgentId
    capability: Literal["tool", "memory", "network", "tokens"]
    resource: Annotated[str, Field(max_length=4096)] = ""
    amount: Annotated[int, Field(ge=0, le=10**12)] = 0


class UsageRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    agent_id: AgentId
    tokens: Annotated[int, Field(ge=0, le=10**12)]


def tool_decision(caps: CapabilitySet, function_id: str, reserved: Sequence[str]) -> tuple[bool, str]:
    """Whether ``caps`` admit calling ``function_id``, and why (pure)."""
    if not function_id:
        return False, "no function id given"
    if function_id == "agent::chat" and not caps.allow_agent_chat:
        return False, "agent::chat needs allow_agent_chat"
    if any(fnmatchcase(function_id, r) for r in reserved):
        if function_id in caps.tools:
            return True, f"{function_id} is listed exactly"
        return False, f"{function_id} is reserved: it must be listed exactly, no glob reaches it"
    for glob in caps.tools:
        if fnmatchcase(function_id, glob):
            return True, f"{function_id} matches {glob!r}"
    return False, f"no tool glob admits {function_id}"


def _glob_decision(resource: str, globs: Sequence[str], what: str) -> tuple[bool, str]:
    if not resource:
        return False, f"no {what} given"
    for glob in globs:
        if fnmatchcase(resource, glob):
            return True, f"{what} {resource} matches {glob!r}"
    return False, f"no {what} glob admits {resource}"


class Capabilities:
    """The capability functions.

    Args:
        audit: where denials go.
        reserved: globs of functions reachable only by exact listing.
        clock: epoch seconds (token windows).
    """

    def __init__(self, audit: AuditLog, reserved: Sequence[str],
                 clock: Callable[[], float] = time.time) -> None:
        self.audit, self.reserved, self.clock = audit, tuple(reserved), clock

    async def effective(self, ctx: Context, agent_id: str) -> tuple[CapabilitySet | None, str]:
        """``(capabilities, source)``, or ``(None, why not)`` when the agent has none."""
        explicit = await _state.get(ctx, CAPS_SCOPE, agent_id)
        if explicit is not None:
            try:
                return CapabilitySet.model_validate(explicit), "explicit"
            except ValidationError:
                log.error("stored capabilities of %s do not validate; denying", agent_id)
                return None, "stored capabilities are corrupt"
        try:
            record = await ctx.trigger("agent::get", {"agent_id": agent_id},
                                       timeout=AGENT_LOOKUP_TIMEOUT_S)
        except InvocationError as exc:
            if exc.code in ("agent_not_found", "function_not_found", "invalid_arguments"):
                return None, f"unknown agent {agent_id}"
            log.warning("agent::get of %s failed (%s); denying", agent_id, exc.code)
            return None, f"could not load agent {agent_id} ({exc.code})"
        if not isinstance(record, dict):
            return None, f"agent {agent_id} has an unreadable record"
        if record.get("status") == "archived":
            return None, f"agent {agent_id} is archived"
        caps = dict(record.get("capabilities") or {})
        resources = record.get("resources") or {}
        caps["max_tokens_per_hour"] = resources.get("max_tokens_per_hour") \
            if isinstance(resources, dict) else None
        try:
            return CapabilitySet.model_validate(caps), "agent"
        except ValidationError:
            return None, f"agent {agent_id} has unreadable capabilities"

    async def set_capabilities(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``security::set_capabilities {agent_id, capabilities}`` → the stored capabilities."""
        req = parse_request(SetRequest, data)
        value = req.capabilities.model_dump(mode="json")
        await _state.put(ctx, CAPS_SCOPE, req.agent_id, value)
        await self.audit.append(ctx, "capability.set", req.agent_id, {"capabilities": value})
        return {"agent_id": req.agent_id, "capabilities": value, "source": "explicit"}

    async def get_capabilities(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``security::get_capabilities {agent_id}`` → ``{agent_id, capabilities, source}``;
        ``capabilities`` is null (and ``reason`` says why) when the agent has none."""
        req = parse_request(AgentRequest, data)
        caps, source = await self.effective(ctx, req.agent_id)
        if caps is None:
            return {"agent_id": req.agent_id, "capabilities": None, "source": "none",
                    "reason": source}
        return {"agent_id": req.agent_id, "capabilities": caps.model_dump(mode="json"),
                "source": source}

    async def check_capability(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``security::check_capability`` → ``{allowed, reason}`` (see the module docstring)."""
        req = parse_request(CheckRequest, data)
        caps, source = await self.effective(ctx, req.agent_id)
        extra: dict[str, Any] = {}
        if caps is None:
            allowed, reason = False, source
        elif req.capability == "tool":
            allowed, reason = tool_decision(caps, req.resource, self.reserved)
        elif req.capability == "memory":
            allowed, reason = _glob_decision(req.resource, caps.memory_scopes, "memory scope")
        elif req.capability == "network":
            allowed, reason = host_decision(req.resource, caps.network_hosts) if req.resource \
                else (False, "no host given")
        else:
            allowed, reason, extra = await self._tokens(ctx, req, caps)
        if not allowed:
            await self._audit_denial(ctx, req, reason)
        return {"allowed": allowed, "reason": reason, **extra}

    async def _tokens(self, ctx: Context, req: CheckRequest,
                      caps: CapabilitySet) -> tuple[bool, str, dict[str, Any]]:
        limit = caps.max_tokens_per_hour
        used = await used_tokens(ctx, req.agent_id, self.clock())
        extra = {"used": used, "limit": limit}
        if limit is None:
            return True, "no token budget set", extra
        if used + req.amount > limit:
            return False, f"token budget exceeded: {used} used + {req.amount} > {limit} per hour", extra
        return True, f"{used} + {req.amount} of {limit} tokens per hour", extra

    async def _audit_denial(self, ctx: Context, req: CheckRequest, reason: str) -> None:
        detail = {"capability": req.capability, "resource": req.resource[:512], "reason": reason}
        try:
            await self.audit.append(ctx, "capability.denied", req.agent_id, detail)
        except InvocationError as exc:  # the denial stands; the log must say it was not audited
            log.error("could not audit a denial for %s (%s: %s)", req.agent_id, exc.code, exc.message)

    async def record_usage(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``security::record_usage {agent_id, tokens}`` → ``{agent_id, used}`` (the hour's total)."""
        req = parse_request(UsageRequest, data)
        used = await record_tokens(ctx, req.agent_id, req.tokens, self.clock())
        return {"agent_id": req.agent_id, "used": used}
