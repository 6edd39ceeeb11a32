"""Running workers as a process: what ``python -m workers.<name>`` calls.

``run()`` owns the event loop (uvloop when installed), serves until SIGINT or SIGTERM, then
closes the connection cleanly (handlers cancelled, socket closed) and returns. A fatal refusal
(bad token, worker name taken) exits the process with status 1.
"""

from __future__ import annotations

import functools
import logging
import signal
from collections.abc import Sequence
from typing import Any

import anyio
from anyio import CancelScope

from .connection import connect
from .errors import SdkError
from .worker import Worker

__all__ = ["run", "serve"]

log = logging.getLogger(__name__)


async def serve(workers: Sequence[Worker], **connect_kwargs: Any) -> None:
    """Connect, serve ``workers`` until SIGINT/SIGTERM, then close cleanly.

    Call it as the body of your own ``anyio.run`` (:func:`run` does exactly that).

    Args:
        workers: the workers to serve on one connection.
        connect_kwargs: passed to :func:`~workers.sdk.connect` (``url``, ``token``, …).

    Raises:
        SdkError: the connection failed for good (``AuthenticationError``,
            ``RegistrationRejectedError``).
    """
    error: SdkError | None = None
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_stop_on_signal, signals, tg.cancel_scope)
            try:
                async with connect(workers=workers, **connect_kwargs) as conn:
                    await conn.serve_forever()
            except SdkError as exc:  # raised after the group, unwrapped
                error = exc
            tg.cancel_scope.cancel()
    if error is not None:
        raise error


async def _stop_on_signal(signals: Any, scope: CancelScope) -> None:
    async for signum in signals:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        scope.cancel()
        return


def run(workers: Sequence[Worker], **connect_kwargs: Any) -> None:
    """Serve ``workers`` in a fresh event loop until SIGINT/SIGTERM. Blocks.

    Call it from a worker package's ``__main__``. Uses uvloop when it is importable and sets up
    basic INFO logging if the process has none.

    Raises:
        SystemExit: status 1 when the connection failed for good.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    try:
        import uvloop  # noqa: F401

        backend_options = {"use_uvloop": True}
    except ImportError:
        backend_options = {}
    try:
        anyio.run(
            functools.partial(serve, workers, **connect_kwargs),
            backend="asyncio",
            backend_options=backend_options,
        )
    except SdkError as exc:
        log.error("worker stopped: %s", exc)
        raise SystemExit(1) from exc
