"""Okapi BM25 over the rows of a partition, kept up to date incrementally.

Theory of operation
-------------------
Documents are the rows of a :class:`~.vectors.VectorIndex` (one row per embedded window), so a
keyword score lines up with a cosine score by row number. Each term keeps a posting list as two
``array.array`` buffers (rows, term frequencies); adding a row appends to them, so a store costs
O(terms of the row). Removing a row only updates the statistics (document frequency, total
length, document count): its postings stay, and :meth:`BM25Index.scores` zeroes dead rows
through the caller's ``alive`` mask. :meth:`rebuild` (after a compaction) starts over.

:meth:`BM25Index.ceiling` is what a caller divides by to get a keyword component in about
``[0, 1]`` that measures how much of the query a row covers: dividing by the best score of the
query instead would give a full 1 to a row that shares one incidental word with it.

Scoring a query turns each posting list into a zero-copy numpy view, computes the BM25 term
weight for all its rows at once and accumulates into one dense array, so a query over 100k rows
costs O(postings of the query's terms), not O(rows · terms).

:func:`tokenize` is deliberately simple: lower-cased word characters, English stop words and
one-letter tokens dropped, a trailing plural ``s`` stripped.
"""

from __future__ import annotations

import math
import re
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = ["BM25Index", "BM25Statistics", "tokenize"]

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
STOP_WORDS = frozenset(
    "a about all also am an and any are as at be been but by can could did do does for from had "
    "has have he her his how i if in into is it its just me my no not of on or our own she so "
    "some such than that the their them then there these they this to too up very was we were "
    "what when where which who why will with would you your".split()
)


def tokenize(text: str) -> list[str]:
    """The index terms of ``text``, in order (repeats kept)."""
    out = []
    for match in _WORD.finditer(text.lower()):
        word = match.group()
        if len(word) < 2 or word in STOP_WORDS:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.append(word)
    return out


class BM25Statistics(NamedTuple):
    documents: int
    """Live documents (rows)."""
    terms: int
    """Distinct terms ever indexed."""
    postings: int
    """Posting entries, dead rows included (reclaimed by a rebuild)."""


class _Postings:
    __slots__ = ("rows", "tfs")

    def __init__(self) -> None:
        self.rows = array("q")
        self.tfs = array("f")


class BM25Index:
    """BM25 (``k1``, ``b``) over rows identified by their number.

    Args:
        k1: term-frequency saturation.
        b: length normalisation (0: none, 1: full).
    """

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self._reset()

    def _reset(self) -> None:
        self._postings: dict[str, _Postings] = {}
        self._df: Counter[str] = Counter()
        self._lengths = array("f")
        self._documents = 0
        self._total_length = 0.0

    def add(self, row: int, tokens: Sequence[str]) -> None:
        """Index row ``row`` (rows must be added in increasing order, each once)."""
        if row < len(self._lengths):
            raise ValueError(f"row {row} is already indexed")
        self._lengths.extend([0.0] * (row - len(self._lengths)))
        self._lengths.append(float(len(tokens)))
        self._documents += 1
        self._total_length += len(tokens)
        for term, tf in Counter(tokens).items():
            postings = self._postings.get(term)
            if postings is None:
                postings = self._postings[term] = _Postings()
            postings.rows.append(row)
            postings.tfs.append(tf)
            self._df[term] += 1

    def remove(self, row: int, tokens: Iterable[str]) -> None:
        """Forget row ``row``, whose ``tokens`` are the ones it was added with."""
        if row >= len(self._lengths):
            return
        self._documents -= 1
        self._total_length -= self._lengths[row]
        for term in set(tokens):
            self._df[term] -= 1
            if self._df[term] <= 0:
                del self._df[term]

    def rebuild(self, rows: Iterable[tuple[int, Sequence[str]]]) -> None:
        """Start over with ``rows`` (``(row, tokens)`` in increasing row order)."""
        self._reset()
        for row, tokens in rows:
            self.add(row, tokens)

    def statistics(self) -> BM25Statistics:
        return BM25Statistics(self._documents, len(self._postings),
                              sum(len(p.rows) for p in self._postings.values()))

    def idf(self, term: str) -> float:
        """BM25's (non-negative) inverse document frequency of ``term``."""
        df = self._df.get(term, 0)
        n = max(self._documents, 0)
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def ceiling(self, query: Sequence[str]) -> float:
        """The sum of the query terms' idf: about the score of a document of average length
        holding each term once. Dividing by it turns a score into "how much of the query this
        row matches" (a term no row holds counts at its full idf)."""
        return sum(self.idf(term) for term in set(query))

    def scores(self, query: Sequence[str], alive: npt.NDArray[np.bool_]) -> npt.NDArray[np.float32]:
        """The BM25 score of every row ``< len(alive)`` for the query terms (0 for dead rows).

        Call it from the thread that adds and removes rows: the posting views are borrowed.
        """
        n = len(alive)
        out = np.zeros(n, dtype=np.float32)
        if self._documents <= 0 or n == 0:
            return out
        avg = self._total_length / self._documents if self._documents else 1.0
        lengths: Any = np.frombuffer(self._lengths, dtype=np.float32)[:n]
        norm = self.k1 * (1.0 - self.b + self.b * lengths / max(avg, 1e-9))
        for term in set(query):
            postings = self._postings.get(term)
            if postings is None or term not in self._df:
                continue
            rows = np.frombuffer(postings.rows, dtype=np.int64)
            tfs = np.frombuffer(postings.tfs, dtype=np.float32)
            keep = rows < n
            if not keep.all():
                rows, tfs = rows[keep], tfs[keep]
            weight = tfs * (self.k1 + 1.0) / (tfs + norm[rows])
            out[rows] += np.float32(self.idf(term)) * weight
            del rows, tfs, weight
        del lengths
        out[~alive] = 0.0
        return out
