"""``python -m workers.integrations``: connect every enabled ``integrations/*.toml`` MCP server.

``AGENTOS_INTEGRATIONS_DIR`` (default ``integrations``) is where the files are; the engine URL and
token come from ``AGENTOS_URL``/``AGENTOS_TOKEN``.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import anyio

from workers.sdk import connect

from .config import load_integrations
from .worker import Integrations

log = logging.getLogger("workers.integrations")


async def main() -> None:
    directory = Path(os.environ.get("AGENTOS_INTEGRATIONS_DIR", "integrations"))
    service = Integrations(load_integrations(directory))
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with connect(workers=[service.worker()]) as conn, anyio.create_task_group() as tg:
            await tg.start(service.run, conn)
            async for signum in signals:
                log.info("received %s, shutting down", signal.Signals(signum).name)
                tg.cancel_scope.cancel()
                break


if __name__ == "__main__":
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    anyio.run(main)
