"""Memory scopes: which partitions an agent may touch, decided by its ``capabilities.memory_scopes``.

A *scope* is what a caller names: ``self`` (the agent's own memories) or ``shared:<name>`` (a
pool several agents may share; ``shared.<name>`` is accepted too, as templates write it). A
*partition* is where a scope's memories live: ``agent:<agent_id>`` or ``shared:<name>``; the
knowledge base uses ``kb:<collection>``. Partitions are always looked up inside the caller's
realm (the engine scopes every ``state::*`` call by it), so no scope can reach another realm.

The agent's ``memory_scopes`` are fnmatch globs over scope names, written either way
(``self.*``, ``shared.code``, ``shared:*``). ``X.*``/``X:*`` also allows ``X`` itself. An agent
without memory scopes has no memory. The agent record is read from state scope ``agents``
(agent-core's store) on every call, so a capability change applies at once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from workers.sdk import Context

from .errors import AgentNotFound, InvalidArguments, ScopeForbidden

__all__ = [
    "AgentAccess",
    "SELF",
    "allowed",
    "canonical_scope",
    "default_scopes",
    "kb_partition",
    "load_agent",
    "partition_of",
]

SELF = "self"
AGENTS_SCOPE = "agents"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_AGENT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_WILD = re.compile(r"[*?\[]")


def canonical_scope(scope: str) -> str:
    """``self`` or ``shared:<name>``.

    Raises:
        InvalidArguments: anything else.
    """
    if scope == SELF:
        return SELF
    for prefix in ("shared:", "shared."):
        if scope.startswith(prefix) and _NAME.match(scope[len(prefix):]):
            return "shared:" + scope[len(prefix):]
    raise InvalidArguments(f"scope must be 'self' or 'shared:<name>', got {scope!r}")


def _glob(pattern: str) -> str:
    for prefix in ("self.", "shared."):
        if pattern.startswith(prefix):
            return prefix[:-1] + ":" + pattern[len(prefix):]
    return pattern


def allowed(scope: str, globs: Sequence[str]) -> bool:
    """True when one of ``globs`` allows the canonical ``scope``."""
    for raw in globs:
        pattern = _glob(raw)
        if fnmatchcase(scope, pattern) or (pattern.endswith(":*") and scope == pattern[:-2]):
            return True
    return False


def default_scopes(globs: Sequence[str]) -> list[str]:
    """The scopes a recall without ``scopes`` searches: ``self`` if allowed, and every shared
    scope the globs name without wildcards."""
    out = [SELF] if allowed(SELF, globs) else []
    for raw in globs:
        pattern = _glob(raw)
        if pattern.startswith("shared:") and not _WILD.search(pattern):
            scope = canonical_scope(pattern)
            if scope not in out:
                out.append(scope)
    return out


def partition_of(agent_id: str, scope: str) -> str:
    """The partition holding ``scope`` (canonical) for ``agent_id``."""
    return f"agent:{agent_id}" if scope == SELF else scope


def kb_partition(collection: str) -> str:
    """The partition of a knowledge-base collection.

    Raises:
        InvalidArguments: a bad collection name.
    """
    if not _NAME.match(collection):
        raise InvalidArguments(f"collection must match {_NAME.pattern}, got {collection!r}")
    return f"kb:{collection}"


@dataclass(frozen=True, slots=True)
class AgentAccess:
    """An agent as the memory worker sees it: its id and its memory scope globs."""

    agent_id: str
    globs: tuple[str, ...]

    def check(self, scope: str) -> str:
        """The partition of ``scope`` (any spelling) if the agent may use it.

        Raises:
            InvalidArguments: a malformed scope.
            ScopeForbidden: the agent's memory_scopes do not allow it.
        """
        canonical = canonical_scope(scope)
        if not allowed(canonical, self.globs):
            have = ", ".join(self.globs) or "none"
            raise ScopeForbidden(
                f"agent {self.agent_id} may not use memory scope {canonical!r} "
                f"(capabilities.memory_scopes: {have})"
            )
        return partition_of(self.agent_id, canonical)

    def defaults(self) -> list[str]:
        """The scopes recalled when the caller names none.

        Raises:
            ScopeForbidden: the agent has no memory scope to recall from.
        """
        scopes = default_scopes(self.globs)
        if not scopes:
            raise ScopeForbidden(f"agent {self.agent_id} has no memory scopes; add 'self' to "
                                 "capabilities.memory_scopes")
        return scopes


async def load_agent(ctx: Context, agent_id: str) -> AgentAccess:
    """The agent ``agent_id`` of the caller's realm.

    Raises:
        InvalidArguments: a malformed id.
        AgentNotFound: no such agent in the caller's realm.
    """
    if not isinstance(agent_id, str) or not _AGENT.match(agent_id):
        raise InvalidArguments(f"agent_id must match {_AGENT.pattern}, got {agent_id!r}")
    record: Any = await ctx.trigger("state::get", {"scope": AGENTS_SCOPE, "key": agent_id})
    if not isinstance(record, dict):
        raise AgentNotFound(f"no agent {agent_id!r} in this realm")
    caps = record.get("capabilities")
    globs = caps.get("memory_scopes") if isinstance(caps, dict) else None
    clean = tuple(g for g in globs or () if isinstance(g, str) and g)
    return AgentAccess(agent_id, clean)
