"""``python -m workers.channels``: serve the channels worker (and Telegram polling) until stopped.

Settings: ``AGENTOS_CHANNELS_CONFIG`` names a YAML file (see :mod:`.config`); the engine URL and
token come from ``AGENTOS_URL``/``AGENTOS_TOKEN`` (see ``workers.sdk.connect``).
"""

from __future__ import annotations

import logging
import signal

import anyio

from workers.sdk import connect

from .config import ChannelsConfig
from .worker import ChannelsService


async def serve(config: ChannelsConfig) -> None:
    async with ChannelsService(config) as service, connect(workers=[service.worker()]) as conn, \
            anyio.create_task_group() as tg:
        await tg.start(service.serve_polling, conn)
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                tg.cancel_scope.cancel()
                return


def main() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    anyio.run(serve, ChannelsConfig.load())


if __name__ == "__main__":
    main()
