"""Splitting an answer into messages a platform accepts (pure).

``split(text, limit)`` cuts at the last paragraph break (``\\n\\n``) that fits, else the last line
break, else the last space, else hard at ``limit``; pieces keep their order and, joined back with
the separators that were cut, give the text again (leading/trailing whitespace of a piece is
dropped). Limits: Slack 3900 (it recommends ≤ 4000 per message), Telegram 4096, Discord 2000.
"""

from __future__ import annotations

__all__ = ["DISCORD_LIMIT", "SLACK_LIMIT", "TELEGRAM_LIMIT", "split"]

SLACK_LIMIT = 3900
TELEGRAM_LIMIT = 4096
DISCORD_LIMIT = 2000
_BREAKS = ("\n\n", "\n", " ")


def split(text: str, limit: int) -> list[str]:
    """The pieces of ``text``, each at most ``limit`` characters, in order; never empty.

    Raises:
        ValueError: ``limit`` < 1.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    rest = text.strip()
    pieces: list[str] = []
    while len(rest) > limit:
        cut = _cut(rest, limit)
        piece = rest[:cut].rstrip()
        if piece:
            pieces.append(piece)
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces or ["(empty answer)"]


def _cut(text: str, limit: int) -> int:
    """Where to cut ``text`` (longer than ``limit``): just after the best break that fits."""
    window = text[:limit + 1]  # a break right at the limit still fits the piece before it
    for sep in _BREAKS:
        at = window.rfind(sep)
        if at > 0:
            return at
    return limit
