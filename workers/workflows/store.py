"""Workflows and their runs in engine state (realm-scoped): the worker's :class:`RunStore`.

Scopes: ``workflows`` (key: name → ``{name, source, spec, created}``) and ``workflow_runs``
(key: run id → the run record of :mod:`.runner`).
"""

from __future__ import annotations

from typing import Any

from workers.sdk import Context

__all__ = ["RUNS_SCOPE", "WORKFLOWS_SCOPE", "StateRunStore"]

WORKFLOWS_SCOPE = "workflows"
RUNS_SCOPE = "workflow_runs"


class StateRunStore:
    """Saves run records with ``state::set`` through the invocation's context (so its realm)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def save(self, record: dict[str, Any]) -> None:
        await self._ctx.trigger("state::set", {"scope": RUNS_SCOPE, "key": record["run_id"],
                                               "value": record})
