"""What the tools may write to their logs: never tool content raw.

A tool's arguments and results may carry secrets and personal data (an API key in a request
body, a card number in a file), so the tools log ids, sizes, labels and kinds. Anything else
that must appear in a log line goes through :func:`loggable` first.
"""

from __future__ import annotations

from workers.security.pii import redact

__all__ = ["LOGGABLE_CHARS", "loggable"]

LOGGABLE_CHARS = 1_000


def loggable(value: object) -> str:
    """``value`` fit for a log line: PII and secrets masked, or only its size when long.

    Call it on anything a model or a remote worker wrote before logging it.
    """
    text = value if isinstance(value, str) else repr(value)
    if len(text) > LOGGABLE_CHARS:
        return f"<{len(text)} chars>"
    return redact(text)
