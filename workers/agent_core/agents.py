"""Agents as stored things: the lifecycle table and the store in state scope ``agents``.

Lifecycle (h11-style table; anything not listed raises ``invalid_transition``)::

    deployed ──pause──► paused ──resume──► deployed
    deployed ──archive─► archived          paused ──archive──► archived

* ``deployed`` runs; ``paused`` accepts no new runs (``agent_paused``) but can be edited;
  ``archived`` is read-only: runs are refused and updates too (``agent_archived``), only
  ``get``/``list``/``delete`` work. ``delete`` is allowed in every state.
* Records live in state scope ``agents`` under their ``agent_id`` (= name). State is realm-scoped
  by the engine from the caller's credential, so every realm has its own agents. Creation is a
  compare-and-set against "absent" and edits are compare-and-set against the value read,
  retried on a race, so concurrent edits never lose one another.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from workers.sdk import Context

from .errors import (
    AgentArchived,
    AgentCorrupt,
    AgentExists,
    AgentNotFound,
    AgentPaused,
    Conflict,
    InvalidTransition,
)
from .spec import AgentRecord, AgentSpec, Status

__all__ = [
    "SCOPE",
    "TRANSITIONS",
    "Action",
    "AgentStore",
    "action_towards",
    "ensure_runnable",
    "ensure_writable",
    "next_status",
]

log = logging.getLogger(__name__)

SCOPE = "agents"
CAS_ATTEMPTS = 5


class Action(enum.StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    ARCHIVE = "archive"


TRANSITIONS: dict[Status, dict[Action, Status]] = {
    Status.DEPLOYED: {Action.PAUSE: Status.PAUSED, Action.ARCHIVE: Status.ARCHIVED},
    Status.PAUSED: {Action.RESUME: Status.DEPLOYED, Action.ARCHIVE: Status.ARCHIVED},
    Status.ARCHIVED: {},
}
EVENT_OF: dict[Action, str] = {Action.PAUSE: "paused", Action.RESUME: "resumed",
                               Action.ARCHIVE: "archived"}


def next_status(status: Status, action: Action) -> Status:
    """Where ``action`` takes an agent in ``status``.

    Raises:
        InvalidTransition: the table has no such step.
    """
    target = TRANSITIONS[status].get(action)
    if target is None:
        raise InvalidTransition(f"cannot {action.value} an agent that is {status.value}")
    return target


def action_towards(status: Status, target: Status) -> Action | None:
    """The action moving ``status`` to ``target`` (None when they are equal).

    Raises:
        InvalidTransition: no single step leads there.
    """
    if status is target:
        return None
    for action, reached in TRANSITIONS[status].items():
        if reached is target:
            return action
    raise InvalidTransition(f"an agent that is {status.value} cannot become {target.value}")


def ensure_runnable(record: AgentRecord) -> None:
    """Refuse a run of a paused or archived agent.

    Raises:
        AgentPaused, AgentArchived.
    """
    if record.status is Status.PAUSED:
        raise AgentPaused(f"agent {record.agent_id} is paused; resume it to run it")
    if record.status is Status.ARCHIVED:
        raise AgentArchived(f"agent {record.agent_id} is archived")


def ensure_writable(record: AgentRecord) -> None:
    """Refuse an edit of an archived agent.

    Raises:
        AgentArchived.
    """
    if record.status is Status.ARCHIVED:
        raise AgentArchived(f"agent {record.agent_id} is archived and read-only")


def _record(value: Any, agent_id: str) -> AgentRecord:
    try:
        return AgentRecord.model_validate(value)
    except ValidationError as exc:
        log.error("stored agent %s does not validate: %s", agent_id, exc)
        raise AgentCorrupt(f"the stored record of agent {agent_id} is corrupt") from exc


class AgentStore:
    """Reads and writes agent records through the calling invocation's context.

    Args:
        clock: wall-clock seconds for ``created_at``/``updated_at``.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock

    async def _raw(self, ctx: Context, agent_id: str) -> Any:
        return await ctx.trigger("state::get", {"scope": SCOPE, "key": agent_id})

    async def find(self, ctx: Context, agent_id: str) -> AgentRecord | None:
        """The agent, or None."""
        value = await self._raw(ctx, agent_id)
        return None if value is None else _record(value, agent_id)

    async def get(self, ctx: Context, agent_id: str) -> AgentRecord:
        """The agent.

        Raises:
            AgentNotFound: no such agent in the caller's realm.
        """
        record = await self.find(ctx, agent_id)
        if record is None:
            raise AgentNotFound(f"no agent {agent_id!r}")
        return record

    async def all(self, ctx: Context) -> list[AgentRecord]:
        """Every agent of the caller's realm, by id (corrupt records are logged and skipped)."""
        values = await ctx.trigger("state::list", {"scope": SCOPE})
        out = []
        for value in values or []:
            try:
                out.append(AgentRecord.model_validate(value))
            except ValidationError:
                log.error("skipping a stored agent that does not validate: %r", value)
        return sorted(out, key=lambda r: r.agent_id)

    async def insert(self, ctx: Context, spec: AgentSpec) -> AgentRecord:
        """Store a new, deployed agent.

        Raises:
            AgentExists: the name is taken.
        """
        now = self.clock()
        record = AgentRecord(**spec.model_dump(), agent_id=spec.name, status=Status.DEPLOYED,
                             created_at=now, updated_at=now)
        answer = await ctx.trigger("state::cas", {"scope": SCOPE, "key": record.agent_id,
                                                  "expected": None, "value": record.public()})
        if not (isinstance(answer, dict) and answer.get("ok")):
            raise AgentExists(f"an agent named {spec.name!r} already exists")
        return record

    async def change(
        self, ctx: Context, agent_id: str, edit: Callable[[AgentRecord], AgentRecord]
    ) -> tuple[AgentRecord, AgentRecord]:
        """Apply ``edit`` to the stored agent atomically (retried on a concurrent change).

        ``edit`` may raise to refuse; it must be pure (it may run more than once).

        Returns:
            ``(before, after)``.

        Raises:
            AgentNotFound, Conflict, or whatever ``edit`` raises.
        """
        current = await self._raw(ctx, agent_id)
        for _ in range(CAS_ATTEMPTS):
            if current is None:
                raise AgentNotFound(f"no agent {agent_id!r}")
            before = _record(current, agent_id)
            after = edit(before).model_copy(update={"updated_at": self.clock()})
            answer = await ctx.trigger("state::cas", {"scope": SCOPE, "key": agent_id,
                                                      "expected": current, "value": after.public()})
            if isinstance(answer, dict) and answer.get("ok"):
                return before, after
            current = answer.get("current") if isinstance(answer, dict) else None
        raise Conflict(f"agent {agent_id} kept changing; try again")

    async def remove(self, ctx: Context, agent_id: str) -> AgentRecord:
        """Delete the agent (in any state).

        Raises:
            AgentNotFound.
        """
        old = await ctx.trigger("state::delete", {"scope": SCOPE, "key": agent_id})
        if old is None:
            raise AgentNotFound(f"no agent {agent_id!r}")
        return _record(old, agent_id)
