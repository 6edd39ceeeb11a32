"""Built-in modules (state, queue, pubsub, cron, http, stream, channels), started from config.

Each module is an async context manager built from the node and its own config entry. They are
entered in dependency order (adapters first, then the modules that fire triggers) and left in
reverse.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..node import Node

__all__ = ["start_modules"]

log = logging.getLogger(__name__)


async def start_modules(node: Node, stack: AsyncExitStack) -> None:
    """Start every configured module the engine implements; log the ones it does not."""
    for entry in node.config.modules:
        if entry.name != "iii-worker-manager":
            log.info("module %s is configured but not implemented in this build; skipped", entry.name)
