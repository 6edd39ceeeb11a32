"""chunking: windows over token offsets, boundary-aware chunks, the content hash. Pure."""

from __future__ import annotations

import pytest

from workers.memory.chunking import content_hash, normalize, split_text, token_windows


def offsets(n: int, width: int = 3) -> list[tuple[int, int]]:
    """n tokens of ``width`` characters separated by one space."""
    return [(i * (width + 1), i * (width + 1) + width) for i in range(n)]


@pytest.mark.parametrize(("n", "max_tokens", "overlap", "expected"), [
    (0, 4, 0, []),
    (3, 4, 0, [(0, 11)]),
    (4, 4, 0, [(0, 15)]),
    (5, 4, 0, [(0, 15), (16, 19)]),
    (8, 4, 0, [(0, 15), (16, 31)]),
    (6, 4, 2, [(0, 15), (8, 23)]),
    (5, 4, 9, [(0, 15), (4, 19)]),  # overlap clamped: always moves forward
    (3, 1, 0, [(0, 3), (4, 7), (8, 11)]),
])
def test_token_windows(n: int, max_tokens: int, overlap: int, expected: list[tuple[int, int]]) -> None:
    assert token_windows(offsets(n), max_tokens, overlap) == expected


def test_token_windows_cover_every_token() -> None:
    offs = offsets(1000)
    spans = token_windows(offs, 254, 32)
    assert spans[0][0] == 0 and spans[-1][1] == offs[-1][1]
    assert all(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False))  # they overlap


def test_token_windows_refuses_zero() -> None:
    with pytest.raises(ValueError):
        token_windows(offsets(3), 0)


@pytest.mark.parametrize(("text", "max_chars", "overlap", "expected"), [
    ("", 10, 0, []),
    ("   \n ", 10, 0, []),
    ("short text", 100, 0, ["short text"]),
    ("  padded  ", 100, 0, ["padded"]),
    ("one two three four five", 10, 0, ["one two", "three four", "five"]),
    ("First one. Second one. Third one.", 25, 0, ["First one. Second one.", "Third one."]),
    ("para one\n\npara two is here", 20, 0, ["para one", "para two is here"]),
    ("abcdefghijklmnopqrstuvwxyz", 10, 0, ["abcdefghij", "klmnopqrst", "uvwxyz"]),
    ("aa bb cc dd ee ff gg hh", 8, 3, ["aa bb cc", "cc dd ee", "ee ff gg", "gg hh"]),
])
def test_split_text(text: str, max_chars: int, overlap: int, expected: list[str]) -> None:
    assert [text[s:e] for s, e in split_text(text, max_chars, overlap)] == expected


def test_split_text_covers_a_long_document_in_order() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(2000))
    spans = split_text(text, 500, 50)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(e - s <= 500 for s, e in spans)
    assert all(b[0] <= a[1] and b[0] > a[0] for a, b in zip(spans, spans[1:], strict=False))


def test_normalize_and_hash() -> None:
    assert normalize("  a \n\t b  ") == "a b"
    assert content_hash("memory", "a  b") == content_hash("memory", " a b\n")
    assert content_hash("memory", "a b") != content_hash("summary", "a b")
    assert content_hash("memory", "A b") != content_hash("memory", "a b")
