"""The integrations worker: every enabled ``integrations/*.toml`` MCP server, as bus functions.

``Integrations(configs)`` holds one :class:`~.client.McpLink` per enabled integration. Serve it
with::

    async with connect(workers=[svc.worker()]) as conn:
        await svc.run(conn)          # the links run until cancelled

Functions: ``mcp::list {}`` → ``{integrations: [{id, name, description, transport, enabled,
status, tools, …}]}``; ``mcp::status {id?}`` → one integration's status (or all of them).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, TextIO

import anyio
from anyio.abc import TaskStatus

from workers.sdk import Backoff, InvocationError, Worker, function

from .client import DEFAULT_BACKOFF, McpLink, Registrar
from .config import IntegrationConfig

__all__ = ["Integrations"]

log = logging.getLogger(__name__)


class Integrations:
    """The configured integrations and their links."""

    def __init__(self, configs: Sequence[IntegrationConfig], *,
                 backoff: Backoff = DEFAULT_BACKOFF, errlog: TextIO | None = None) -> None:
        self.configs = {c.id: c for c in configs}
        self.links: dict[str, McpLink] = {}
        self._backoff = backoff
        self._errlog = errlog

    async def run(self, registrar: Registrar, *,
                  task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run a link per enabled integration until cancelled (``await tg.start(svc.run, conn)``
        returns once they are all started, not necessarily up)."""
        async with anyio.create_task_group() as tg:
            for config in self.configs.values():
                if not config.enabled:
                    continue
                link = McpLink(config, registrar, backoff=self._backoff, errlog=self._errlog)
                self.links[config.id] = link
                tg.start_soon(link.run, name=f"integration {config.id}")
            task_status.started()

    def describe(self, integration_id: str) -> dict[str, Any]:
        config = self.configs.get(integration_id)
        if config is None:
            raise InvocationError("not_found", f"no integration {integration_id!r}")
        link = self.links.get(integration_id)
        base = {"id": config.id, "name": config.name, "description": config.description,
                "transport": config.transport, "enabled": config.enabled}
        if link is None:
            return {**base, "status": "disabled", "tools": [], "generation": 0,
                    "last_error": None, "calls": 0}
        return {**base, **link.describe()}

    def worker(self) -> Worker:
        @function("mcp::list", description="Configured MCP integrations, their status and tools")
        async def list_integrations(data: Any) -> dict[str, Any]:
            return {"integrations": [self.describe(i) for i in sorted(self.configs)]}

        @function("mcp::status", description="Status of one MCP integration ({id}) or of all")
        async def status(data: Any) -> dict[str, Any]:
            if isinstance(data, dict) and data.get("id"):
                return self.describe(str(data["id"]))
            return {"integrations": [self.describe(i) for i in sorted(self.configs)]}

        return Worker("integrations", functions=[list_integrations, status],
                      description="MCP servers as bus functions")
