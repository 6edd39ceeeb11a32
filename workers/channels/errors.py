"""Errors of the channels worker.

::

    ChannelsError                      the root
    ├── Unauthenticated                an inbound request failed verification (→ 401, no side effect)
    ├── BadPayload (ValueError)        a verified request we cannot read (→ 400)
    └── PlatformError                  a platform API refused or failed a reply (queue retries it)

Foreign errors (slack_sdk, python-telegram-bot, httpx) are translated into :class:`PlatformError`
at one place per platform (the ``send_*`` functions), ``raise … from exc``.
"""

from __future__ import annotations

__all__ = ["BadPayload", "ChannelsError", "PlatformError", "Unauthenticated"]


class ChannelsError(Exception):
    """Root of the channels worker's errors."""


class Unauthenticated(ChannelsError):
    """The request is not from the platform (bad or missing signature, stale timestamp)."""


class BadPayload(ChannelsError, ValueError):
    """The request is authentic but not something we can read."""


class PlatformError(ChannelsError):
    """Sending to the platform failed (its API answered an error, or could not be reached)."""
