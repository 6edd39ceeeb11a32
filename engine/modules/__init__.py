"""Built-in modules (observability, state, pubsub, cron, queue, http, stream), started from config.

Each module is a class ``Module(node, config)`` used as an async context manager: entering it
opens its adapters, registers its functions and trigger types on ``node.router`` (the same
registry remote workers use) and starts its listeners; leaving it undoes that. ``config`` is the
module's typed config (see :mod:`engine.config`). Modules are entered in :data:`ORDER` (storage
first, then what fires triggers, then the listeners) and left in reverse, and are reachable as
``node.modules[<short name>]``; a module that listens sets ``node.ports[<short name>]``.

Data channels are not optional (streamed results need them): the node always starts them.
Observability is on by default, as iii's mandatory ``iii-observability`` is: it starts unless its
entry says ``enabled: false``, first, so every later module can log through it.
"""

from __future__ import annotations

import importlib
import logging
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..node import Node

__all__ = ["start_modules", "MODULES", "ORDER"]

log = logging.getLogger(__name__)

MODULES: dict[str, tuple[str, str, str]] = {
    # iii name: (short name, "module:Class", typed-config getter on NodeConfig)
    "iii-observability": ("observability", "engine.modules.observability:ObservabilityModule", "observability"),
    "iii-state": ("state", "engine.modules.state:StateModule", "state"),
    "iii-pubsub": ("pubsub", "engine.modules.pubsub:PubSubModule", "pubsub"),
    "iii-queue": ("queue", "engine.modules.queue:QueueModule", "queue"),
    "iii-cron": ("cron", "engine.modules.cron:CronModule", "cron"),
    "iii-http": ("http", "engine.modules.http:HttpModule", "http"),
    "iii-stream": ("stream", "engine.modules.stream:StreamModule", "stream"),
}
ORDER = ["iii-observability", "iii-state", "iii-pubsub", "iii-queue", "iii-cron", "iii-http", "iii-stream"]
_ALWAYS_ON = {"iii-worker-manager"}
_DEFAULT_ON = {"iii-observability"}
"""Started when not configured at all; an entry with ``enabled: false`` turns them off."""


def _load(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


async def start_modules(node: Node, stack: AsyncExitStack) -> None:
    """Start the data channels and every configured module the engine implements."""
    from ..channels import ChannelHub

    node.modules["channels"] = await stack.enter_async_context(ChannelHub(node))
    configured = {entry.name for entry in node.config.modules}
    for name in sorted(configured - set(MODULES) - _ALWAYS_ON):
        log.warning("module %s is configured but not implemented by this engine; skipped", name)
    for name in ORDER:
        if name not in configured and name not in _DEFAULT_ON:
            continue
        short, target, getter = MODULES[name]
        config = getattr(node.config, getter)()
        if not getattr(config, "enabled", True):
            log.info("module %s is disabled in the config", name)
            continue
        module = _load(target)(node, config)
        node.modules[short] = await stack.enter_async_context(module)
        log.info("module %s started", name)
