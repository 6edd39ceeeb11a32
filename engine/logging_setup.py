"""Logging for the ``agentos`` process: one handler on stderr, configured once by the CLI.

stdout is reserved for what scripts read (the readiness line of ``agentos start``, command
output); everything else — the engine's own log and the forwarded output of supervised workers —
goes to stderr.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

__all__ = ["LEVELS", "configure"]

LEVELS = ("debug", "info", "warning", "error")

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at emit time (as ``logging.lastResort`` does), so a
    test runner that swaps stderr per test never finds a closed stream here."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure(level: str = "info") -> None:
    """Send log records at ``level`` and above to stderr. Call once, before anything logs.

    Calling it again replaces the handler it installed (other handlers stay). The
    ``websockets`` library logs every connection at INFO; it is kept at WARNING unless
    ``level`` is ``debug``.

    Raises:
        ValueError: ``level`` is not one of :data:`LEVELS`.
    """
    if level.lower() not in LEVELS:
        raise ValueError(f"unknown log level {level!r} — use one of {', '.join(LEVELS)}")
    numeric = getattr(logging, level.upper())
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter(_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, _StderrHandler)] + [handler]
    root.setLevel(numeric)
    logging.getLogger("websockets").setLevel(logging.DEBUG if numeric <= logging.DEBUG else logging.WARNING)
