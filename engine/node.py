"""A node: the router, the built-ins, the configured modules and the bus listener, started together.

``async with Node(config) as node`` brings everything up and ``node.ports`` says where it
listens (port 0 in the config picks a free port, which tests use). Leaving the block stops the
listener first, then the modules, then the router, so no worker call is routed into a module
that is already gone.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from typing import Any

from .auth import Authenticator
from .builtins import install_builtins
from .config import NodeConfig
from .router import Router
from .server import BusServer

__all__ = ["Node"]

log = logging.getLogger(__name__)


class Node:
    """One engine process worth of parts."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        tokens = [(t.token.get_secret_value(), t.role, t.realm, t.name) for t in config.engine.auth.tokens]
        self.auth = Authenticator(tokens)
        self.router = Router()
        self.modules: dict[str, Any] = {}
        self.ports: dict[str, int] = {}
        self._stack = AsyncExitStack()
        self.bus: BusServer | None = None

    async def __aenter__(self) -> Node:
        stack = self._stack
        await stack.__aenter__()
        try:
            await stack.enter_async_context(self.router)
            await install_builtins(self.router)
            from .modules import start_modules  # noqa: PLC0415 - modules import adapters lazily

            await start_modules(self, stack)
            settings = self.config.engine
            self.bus = await stack.enter_async_context(
                BusServer(
                    self.router,
                    self.auth,
                    host=settings.host,
                    port=settings.port,
                    max_frame_bytes=settings.max_frame_bytes,
                    handshake_timeout_s=settings.handshake_timeout_ms / 1000,
                    grace_s=settings.registration_namespace_grace_ms / 1000,
                    channels=self.modules.get("channels"),
                    telemetry=self.modules.get("observability"),
                )
            )
            self.ports["bus"] = self.bus.port
        except BaseException:
            await stack.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc: Any) -> bool | None:
        return await self._stack.__aexit__(*exc)

    @property
    def url(self) -> str:
        """The worker URL of this node's bus."""
        host = self.config.engine.host
        return f"ws://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{self.ports['bus']}"
