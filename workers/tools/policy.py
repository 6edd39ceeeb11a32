"""Capability checks at the tool boundary, and the narrowing of a spawned agent's capabilities.

Theory of operation
-------------------
agent-core checks an agent's tool globs before every call; the tools check again, at the
resource level agent-core cannot see (which host, which memory scope), as ARCHITECTURE §5 asks.

:meth:`Policy.allowed` asks ``security::check_capability {agent_id, capability, resource}``
first. Its answer ``{allowed: bool, reason?}`` decides. Any failure of that call, or an answer
of another shape, **denies** (fail closed). Only ``function_not_found`` — no security worker on
the bus — falls back to the local policy, which reads the agent's own record (state scope
``agents``, key ``agent_id``, in the caller's realm) and matches its capability globs
(``fnmatch``, case-sensitive):

==============  ===========================  =========================================
capability      with a record                without a record (no agent-core state)
==============  ===========================  =========================================
``tool``        ``capabilities.tools``       allowed (agent-core's own check stands)
``network``     ``capabilities.network_hosts``  ``net.default_hosts`` of the config
``memory``      ``capabilities.memory_scopes``  denied
==============  ===========================  =========================================

Hosts are matched lower-cased. A record that cannot be read (state errors) denies.

:func:`narrow` keeps only the child globs a parent glob covers (:func:`glob_within`, a sound
test: it may refuse a glob that is in fact covered, never admit one that is not), so a spawned
agent never holds more than its parent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Literal

import anyio

from workers.sdk import Context, FunctionNotFound, InvocationError

from .config import ToolsConfig
from .errors import Forbidden
from .identity import Caller
from .redaction import loggable

__all__ = ["CHECK_CAPABILITY", "Capability", "Policy", "glob_within", "narrow"]

log = logging.getLogger(__name__)

CHECK_CAPABILITY = "security::check_capability"
AGENTS_SCOPE = "agents"
Capability = Literal["tool", "network", "memory"]
_FIELD: dict[str, str] = {"tool": "tools", "network": "network_hosts", "memory": "memory_scopes"}
_META = frozenset("*?[")


def glob_within(child: str, parent: str) -> bool:
    """True if every name ``child`` matches is matched by ``parent`` (sound, not complete)."""
    if child == parent or parent == "*":
        return True
    if not _META & set(child):  # a literal name
        return fnmatchcase(child, parent)
    prefix, star, rest = parent.partition("*")
    if star and not rest and not _META & set(prefix):  # parent is "<literal>*"
        return child.startswith(prefix)
    return False


def narrow(child: Iterable[str], parent: Sequence[str]) -> list[str]:
    """The globs of ``child`` that ``parent`` covers, in order."""
    return [g for g in child if any(glob_within(g, p) for p in parent)]


@dataclass
class Policy:
    """Capability checks for one tool invocation (the agent record is read at most once)."""

    config: ToolsConfig
    ctx: Context
    caller: Caller
    _record: Any = field(default=None, init=False)
    _loaded: bool = field(default=False, init=False)

    async def allowed(self, capability: Capability, resource: str) -> tuple[bool, str]:
        """``(allowed, reason)`` for the caller's agent on ``resource``."""
        verdict = await self._remote(capability, resource)
        if verdict is not None:
            return verdict
        return await self._local(capability, resource)

    async def require(self, capability: Capability, resource: str) -> None:
        """Raises:
            Forbidden: the check said no.
        """
        ok, reason = await self.allowed(capability, resource)
        if not ok:
            raise Forbidden(reason)

    async def record(self) -> dict[str, Any] | None:
        """The caller's agent record, or None if there is none (or no state module).

        Raises:
            Forbidden: the record could not be read (deny rather than guess).
        """
        if not self._loaded:
            try:
                value = await self.ctx.trigger("state::get", {"scope": AGENTS_SCOPE,
                                                             "key": self.caller.agent_id},
                                               timeout=self.config.call_timeout_s)
            except FunctionNotFound:
                value = None
            except InvocationError as exc:
                log.warning("cannot read the record of %s: %s", self.caller.agent_id, exc.code)
                raise Forbidden(f"cannot read agent {self.caller.agent_id}'s record: {exc.code}") from exc
            self._record, self._loaded = (value if isinstance(value, dict) else None), True
        return self._record  # type: ignore[no-any-return]

    async def globs(self, capability: Capability) -> list[str] | None:
        """The record's globs for ``capability``, or None when there is no record."""
        record = await self.record()
        if record is None:
            return None
        caps = record.get("capabilities")
        values = caps.get(_FIELD[capability]) if isinstance(caps, dict) else None
        return [g for g in values if isinstance(g, str)] if isinstance(values, list) else []

    async def _remote(self, capability: str, resource: str) -> tuple[bool, str] | None:
        payload = {"agent_id": self.caller.agent_id, "capability": capability, "resource": resource}
        answer: Any = None
        with anyio.move_on_after(self.config.call_timeout_s) as scope:
            try:
                answer = await self.ctx.trigger(CHECK_CAPABILITY, payload,
                                                timeout=self.config.call_timeout_s)
            except FunctionNotFound:
                return None
            except InvocationError as exc:
                log.warning("%s failed (%s) for %s: %s; denying", CHECK_CAPABILITY, exc.code,
                            self.caller.agent_id, loggable(f"{capability} {resource}"))
                return False, f"capability check failed ({exc.code}): {exc.message}"
        if scope.cancelled_caught:
            return False, "capability check timed out"
        if not isinstance(answer, dict) or not isinstance(answer.get("allowed"), bool):
            log.warning("malformed answer of %s: %s; denying", CHECK_CAPABILITY, loggable(answer))
            return False, "capability check answered in an unknown shape"
        if answer["allowed"]:
            return True, "allowed by the security worker"
        reason = answer.get("reason")
        return False, str(reason) if reason else (
            f"agent {self.caller.agent_id} may not use {capability} {resource}")

    async def _local(self, capability: Capability, resource: str) -> tuple[bool, str]:
        subject = resource.lower() if capability == "network" else resource
        globs = await self.globs(capability)
        if globs is None:
            if capability == "tool":
                return True, "no agent record: agent-core's check stands"
            if capability == "network":
                globs = list(self.config.net.default_hosts)
            else:
                return False, f"agent {self.caller.agent_id} has no record granting {capability}"
        if any(fnmatchcase(subject, g) for g in globs):
            return True, "allowed by the agent's capabilities"
        return False, (f"agent {self.caller.agent_id} may not use {capability} {resource} "
                       f"(its {_FIELD[capability]}: {', '.join(globs) or 'none'})")
