"""Stand-in for ``python -m engine start --config PATH`` until the CLI exists.

Same contract as the CLI: print one stdout line ``agentos ready bus=ws://…`` once the bus
listens, serve until SIGTERM/SIGINT, then leave the node's ``async with`` and exit 0.
"""

from __future__ import annotations

import logging
import signal
import sys

import anyio

from engine.config import load_config
from engine.node import Node


async def main(path: str) -> None:
    config = load_config(path)
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with Node(config) as node:
            print(f"agentos ready bus={node.url}", flush=True)  # noqa: T201 - the readiness contract
            async for _signum in signals:
                break


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    anyio.run(main, sys.argv[1])
