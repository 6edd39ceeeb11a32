"""``python -m workers.hands``: load ``hands/*/HAND.toml`` and serve them.

``AGENTOS_HANDS_DIR`` (default ``hands``); the engine from ``AGENTOS_URL``/``AGENTOS_TOKEN``.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import anyio

from workers.sdk import connect

from .spec import load_hands
from .worker import Hands

log = logging.getLogger("workers.hands")


async def main() -> None:
    hands = Hands(load_hands(Path(os.environ.get("AGENTOS_HANDS_DIR", "hands"))))
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with connect(workers=[hands.worker()]) as conn, anyio.create_task_group() as tg:
            await tg.start(hands.run, conn)
            async for signum in signals:
                log.info("received %s, shutting down", signal.Signals(signum).name)
                tg.cancel_scope.cancel()
                break


if __name__ == "__main__":
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    anyio.run(main)
