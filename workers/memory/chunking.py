"""Cutting text into pieces an embedding model can take whole, and the content hash. Pure.

Two cuts, for two purposes:

* :func:`split_text` cuts a document into *chunks* a reader can cite (a knowledge-base entry):
  about ``max_chars`` characters, broken at a paragraph, sentence or word boundary when one is
  near, consecutive chunks overlapping by about ``overlap`` characters.
* :func:`token_windows` cuts one text into *windows* of at most ``max_tokens`` model tokens,
  given the tokenizer's character offsets. A model such as all-MiniLM-L6-v2 silently drops
  everything past its 256th token; embedding window by window is how nothing is dropped. Each
  window becomes one vector, so a long memory has several.

Spans are ``(start, end)`` character offsets into the original text, so a citation can always
point back at the exact source characters.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

__all__ = ["Span", "content_hash", "normalize", "split_text", "token_windows", "char_windows"]

Span = tuple[int, int]

_SENTENCE_END = re.compile(r"[.!?。][\"')\]]*\s")


def normalize(text: str) -> str:
    """``text`` with runs of whitespace collapsed to one space and the ends stripped."""
    return " ".join(text.split())


def content_hash(kind: str, text: str) -> str:
    """The dedup key of a text: SHA-256 of its kind and its whitespace-normalised content."""
    return hashlib.sha256(f"{kind}\x00{normalize(text)}".encode()).hexdigest()


def token_windows(offsets: Sequence[Span], max_tokens: int, overlap: int = 0) -> list[Span]:
    """Character spans of consecutive windows of at most ``max_tokens`` tokens.

    Args:
        offsets: ``(start, end)`` of every token, in order (special tokens excluded).
        max_tokens: the most tokens a window may hold (>= 1).
        overlap: tokens shared by consecutive windows (clamped below ``max_tokens``).

    Returns:
        One span when everything fits, none for a text without tokens.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    n = len(offsets)
    if n == 0:
        return []
    step = max(1, max_tokens - max(0, overlap))
    spans: list[Span] = []
    start = 0
    while True:
        end = min(start + max_tokens, n)
        spans.append((offsets[start][0], offsets[end - 1][1]))
        if end == n:
            return spans
        start += step


def _break_at(text: str, pos: int, hi: int) -> int:
    """Where a chunk starting at ``pos`` should end, at most at ``hi`` (``hi`` when nowhere).

    A paragraph break counts from a quarter of the allowance on, a sentence end or whitespace
    from half of it; a separator right at ``hi`` still counts (the chunk then fills its allowance).
    """
    size = hi - pos
    window = text[pos:hi + 1]
    cut = window.rfind("\n\n", size // 4)
    if cut >= 0:
        return pos + cut
    half = size // 2
    ends = [m for m in _SENTENCE_END.finditer(window, half)]
    if ends:
        return pos + ends[-1].end() - 1
    for sep in ("\n", " ", "\t"):
        cut = window.rfind(sep, half)
        if cut >= 0:
            return pos + cut
    return hi


def split_text(text: str, max_chars: int, overlap: int = 0) -> list[Span]:
    """Chunks of about ``max_chars`` characters covering every non-blank part of ``text``.

    A chunk ends at the last paragraph break (past a quarter of its allowance), else sentence
    end, else whitespace (past half of it); only a word longer than that is cut mid-word. The next chunk starts
    about ``overlap`` characters before the previous end, on a word boundary. Leading and
    trailing whitespace is left out of every span.

    Raises:
        ValueError: ``max_chars`` < 1.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be >= 1, got {max_chars}")
    overlap = max(0, min(overlap, max_chars // 2))
    spans: list[Span] = []
    n = len(text.rstrip())
    pos = _skip_space(text, 0, n)
    while pos < n:
        if n - pos <= max_chars:
            end = n
        else:
            end = _break_at(text, pos, pos + max_chars)
            if end <= pos:
                end = pos + max_chars
        stop = end
        while stop > pos and text[stop - 1].isspace():
            stop -= 1
        spans.append((pos, stop))
        if end >= n:
            break
        nxt = max(end - overlap, pos + 1)
        if nxt < end:
            space = text.find(" ", nxt, end)
            nxt = space + 1 if space >= 0 else end
        pos = _skip_space(text, nxt, n)
    return spans


def char_windows(text: str, max_chars: int) -> list[Span]:
    """Windows of at most ``max_chars`` characters, for models without a local tokenizer."""
    return split_text(text, max_chars, overlap=0)


def _skip_space(text: str, pos: int, n: int) -> int:
    while pos < n and text[pos].isspace():
        pos += 1
    return pos
