"""The open/closed lifecycle every adapter shares (see ``base.Resource``)."""

from __future__ import annotations

from types import TracebackType
from typing import Self

import anyio

from engine.adapters.base import AdapterClosedError

__all__ = ["ResourceBase"]


class ResourceBase:
    """Mixin: ``async with`` opens (``_open``) and closes; ``close`` runs ``_close`` once.

    Subclasses override ``_open`` (connect; default: nothing) and ``_close`` (release), and call
    ``_check_open()`` at the top of each operation.
    """

    _closed: bool = False
    _close_started: bool = False

    def _check_open(self) -> None:
        """Raise ``AdapterClosedError`` if ``close()`` was called."""
        if self._closed:
            raise AdapterClosedError(f"{type(self).__name__} is closed")

    async def _open(self) -> None:
        return None

    async def _close(self) -> None:
        return None

    async def close(self) -> None:
        """Release connections and threads; idempotent. Later calls raise AdapterClosedError."""
        if self._close_started:
            return
        self._close_started = True
        self._closed = True
        with anyio.CancelScope(shield=True):
            await self._close()

    async def __aenter__(self) -> Self:
        self._check_open()
        await self._open()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        await self.close()
        return None
