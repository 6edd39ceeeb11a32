"""``python -m workers.control_plane``: serve the control plane until SIGINT/SIGTERM.

Connects with ``AGENTOS_URL`` / ``AGENTOS_TOKEN`` (an unbound ``worker`` token), binds again
what the engine may have forgotten (:meth:`ControlPlane.restore`), then serves.
"""

from __future__ import annotations

import logging
import signal

import anyio

from workers.sdk import SdkError, connect

from .worker import ControlPlane

log = logging.getLogger("workers.control_plane")


async def _serve() -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with ControlPlane() as plane, connect(workers=[plane.worker()]) as conn, \
                anyio.create_task_group() as tg:

            async def stop() -> None:
                async for signum in signals:
                    log.info("received %s, shutting down", signal.Signals(signum).name)
                    tg.cancel_scope.cancel()
                    return

            tg.start_soon(stop)
            await plane.restore(conn)
            await conn.serve_forever()


def main() -> None:
    """Run the worker in a fresh event loop; exits 1 when the engine refuses it."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        anyio.run(_serve)
    except SdkError as exc:
        log.error("control plane stopped: %s", exc)
        raise SystemExit(1) from exc


if __name__ == "__main__":
    main()
