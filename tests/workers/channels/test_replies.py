"""Splitting answers (pure)."""

from __future__ import annotations

import pytest

from workers.channels.replies import split


@pytest.mark.parametrize(("text", "limit", "expected"), [
    ("short", 10, ["short"]),
    ("aaaa\n\nbbbb\ncccc", 10, ["aaaa", "bbbb\ncccc"]),
    ("aaaa bbbb\ncccc dddd", 10, ["aaaa bbbb", "cccc dddd"]),
    ("one two three four", 9, ["one two", "three", "four"]),
    ("x" * 25, 10, ["x" * 10, "x" * 10, "x" * 5]),
    ("   ", 10, ["(empty answer)"]),
])
def test_split_prefers_paragraphs_then_lines_then_words(text: str, limit: int, expected: list[str]) -> None:
    assert split(text, limit) == expected


def test_pieces_fit_and_keep_order() -> None:
    text = "\n\n".join(f"para {i} " + "w " * 300 for i in range(40))
    pieces = split(text, 3900)
    assert all(len(p) <= 3900 for p in pieces)
    assert " ".join(" ".join(pieces).split()) == " ".join(text.split())


def test_a_bad_limit_raises() -> None:
    with pytest.raises(ValueError):
        split("x", 0)
