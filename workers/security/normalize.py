r"""Normalisation for the injection scanner: several *views* of one text, each mapped back to it.

Theory of operation
-------------------
Attackers hide instructions from naive pattern matching with Unicode tricks. Rather than one
normalised string, the scanner gets :class:`View` s, each with ``origin[i]`` = the index in the
source of the view's ``i``-th character, so a match in any view reports its span in the text the
caller sent:

``native``
    Unicode tag characters (U+E0020-E007E, "ASCII smuggling") decoded to ASCII; invisible
    characters (zero-width, bidi controls, soft hyphen, variation selectors, Arabic tatweel)
    removed; NFKC
    (full-width and mathematical letters become ASCII) and case folding, character by character;
    combining sequences composed (NFC). Rules for scripts that are not Latin (Chinese, Japanese,
    Korean, Russian) and for markup and shell run here.
``latin``
    ``native`` with diacritics stripped (``précédentes`` → ``precedentes``), Cyrillic and Greek
    homoglyphs mapped to Latin letters (``іgnоre`` → ``ignore``) and leetspeak undone inside
    words that mix letters and digits (``1gn0r3`` → ``ignore``). The rules for languages in
    Latin script are written against this view (no accents), and so are those for Arabic and
    Hindi, whose optional marks (vowel signs, virama, nukta, hamza on alef) it strips too;
    :func:`fold` writes rule text the same way.
``joined``
    ``latin`` with hyphens, asterisks, dots-in-the-middle and similar joiners removed *inside*
    words (``ig-nore pre-vious in*struc*tions`` → ``ignore previous instructions``), built only
    when the text has such a joiner between two letters. The ``latin`` rules run on it too;
    a rule that already fired on ``latin`` is not counted again.
``squeezed``
    ``latin`` with everything but letters removed, built only when the text spells words letter
    by letter (``i g n o r e``, ``i.g.n.o.r.e``) or hid invisible characters (which may have
    been the only separators between words: ``ignore\u200ball\u200bprevious``).
``decoded``
    Base64 (also UTF-16, as ``powershell -enc`` takes), hex and percent-encoded blobs of the
    source that decode to readable text, normalised like the source; a match maps to the blob.

Whitespace is not collapsed in the views (that would cost an origin rebuild on every text): the
rules separate words with ``[\W_]{1,12}``, so any run of spaces, newlines, punctuation or
underscores between words matches, which subsumes collapsing.

Cost: per-character folds go through ``str.translate`` with a table built for the distinct
characters of the text (cached across calls), and origin maps are numpy index arrays
(``np.repeat`` of each character's output length), so a megabyte of adversarial Unicode
normalises in tens of milliseconds. Only composition of combining sequences (rare) and the blob
search use Python-level loops over matches.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

import numpy as np

__all__ = ["View", "build_views", "fold", "joined_view", "latin_view", "native_view",
           "squeezed_view"]

MAX_BLOBS = 32
MAX_BLOB_CHARS = 262_144

_INVISIBLE = frozenset(
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180e\u180f\u3164\ufeff\uffa0"
    + "".join(map(chr, range(0x200B, 0x2010))) + "".join(map(chr, range(0x202A, 0x202F)))
    + "".join(map(chr, range(0x2060, 0x2065))) + "".join(map(chr, range(0x2066, 0x2070)))
    + "".join(map(chr, range(0xFE00, 0xFE10)))
    + "\u0640")  # Arabic tatweel: stretches a word, or splits it for a naive matcher
_COMBINING = re.compile("[^\u0300-\u036f\u3099\u309a][\u0300-\u036f\u3099\u309a]+")
_LEET_FROM, _LEET_TO = "01345789@$", "oieastbgas"
_LEET_LUT = np.arange(128, dtype="<u4")
_LEET_LUT[[ord(c) for c in _LEET_FROM]] = [ord(c) for c in _LEET_TO]
_SPACED = re.compile(r"(?:(?<![a-z])[a-z][^a-z\n]{1,3}){6,}")
_JOINER = re.compile(r"(?<=[a-z])[-*·•‧~^](?=[a-z])")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{20,}={0,2}")
_HEX = re.compile(r"[0-9A-Fa-f]{20,}")
_HEX_ESCAPED = re.compile(r"(?:\\x[0-9A-Fa-f]{2}){6,}")
_PERCENT = re.compile(r"(?:%[0-9A-Fa-f]{2}[A-Za-z0-9._~+-]{0,40}){4,}")

# Cyrillic and Greek letters that render like Latin ones (lowercase: views are case-folded).
_HOMOGLYPHS = {
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j", "ѕ": "s", "ԁ": "d",
    "ɡ": "g", "һ": "h", "ӏ": "l", "ԛ": "q", "ԝ": "w", "α": "a", "β": "b", "ε": "e", "η": "n",
    "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ѡ": "w",
    "ı": "i", "ł": "l", "ø": "o", "đ": "d",
}

Origin = Any
"""A 1-d numpy integer array (``origin[i]`` = source index of char ``i``), or None (identity)."""


@dataclass(frozen=True, slots=True)
class View:
    """One normalised form of a text (see the module docstring)."""

    name: str
    text: str
    origin: Origin = None
    blob: tuple[int, int] | None = None
    """For decoded views: the span of the encoded blob in the source."""

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of the source that ``text[start:end]`` came from."""
        if self.blob is not None:
            return self.blob
        if self.origin is None:
            return start, end
        if not len(self.origin):
            return 0, 0
        last = len(self.origin) - 1
        first = int(self.origin[min(start, last)])
        stop = int(self.origin[min(max(end - 1, start), last)]) + 1
        if end <= last:  # up to where the next character starts: trailing combining marks too
            stop = max(stop, int(self.origin[end]))
        return first, stop

    def text_from(self, start: int, end: int) -> str:
        """The part of this view that came from ``source[start:end]``."""
        if self.origin is None:
            return self.text[start:end]
        # origins never decrease: every step keeps the order of the text it rewrites
        lo, hi = np.searchsorted(self.origin, [start, end])
        return self.text[int(lo):int(hi)]


def _native_char(c: str) -> str:
    code = ord(c)
    if 0xE0000 <= code <= 0xE007F:
        return chr(code - 0xE0000) if 0xE0020 <= code <= 0xE007E else ""
    if c in _INVISIBLE:
        return ""
    return unicodedata.normalize("NFKC", c).casefold()


def _latin_char(c: str) -> str:
    bare = "".join(d for d in unicodedata.normalize("NFD", c) if not unicodedata.combining(d))
    return "".join(_HOMOGLYPHS.get(d, d) for d in bare)


def fold(pattern: str) -> str:
    """``pattern`` with each non-ASCII character folded as the ``latin`` view folds it.

    For rules written in scripts with optional marks (Arabic vowels, the Devanagari virama): the
    rule text is written naturally and matches the view. ASCII (regex syntax) is left alone.
    """
    return "".join(c if c.isascii() else "".join(_latin_char(d) for d in _native_char(c))
                   for c in pattern)


class _Fold:
    """A per-character fold applied through lookup tables over all of Unicode.

    ``first[c]`` is the first output code of code ``c`` (``c`` itself when unchanged),
    ``length[c]`` the output length (0: dropped) and ``long`` the outputs of two characters or
    more. Tables fill in lazily, for the codes texts actually contain; filling is idempotent, so
    threads racing on it write the same values.
    """

    def __init__(self, fold: Callable[[str], str]) -> None:
        self.fold = fold
        self.first = np.arange(0x110000, dtype="<u4")
        self.length = np.ones(0x110000, dtype=np.uint8)
        self.known = np.zeros(0x110000, dtype=bool)
        self.long: dict[int, str] = {}

    def _learn(self, codes: Any) -> None:
        unknown = codes[~self.known[codes]]
        if not len(unknown):
            return
        for code in np.unique(unknown).tolist():
            out = self.fold(chr(code))
            if len(out) > 1:
                self.long[code] = out
            self.first[code] = ord(out[0]) if out else code
            self.length[code] = min(len(out), 255)
            self.known[code] = True

    def apply(self, text: str, origin: Origin) -> tuple[str, Origin, Any]:
        """``(folded text, its origin, the codes of text)``."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
        self._learn(codes)
        out = self.first[codes]
        lengths = self.length[codes]
        if bool((lengths == 1).all()):
            same = bool(np.array_equal(out, codes))
            return (text if same else out.tobytes().decode("utf-32-le")), origin, codes
        index = np.repeat(np.arange(len(codes), dtype=np.int64), lengths)
        out = out[index]
        longs = [c for c in self.long if self.known[c]]
        if longs:
            starts = np.cumsum(lengths, dtype=np.int64) - lengths
            present = np.isin(codes, longs)
            for code in np.unique(codes[present]).tolist():
                at = starts[codes == code]
                for k, ch in enumerate(self.long[code][1:], start=1):
                    out[at + k] = ord(ch)
        folded = out.tobytes().decode("utf-32-le")
        return folded, (index if origin is None else origin[index]), codes


_NATIVE = _Fold(_native_char)
_LATIN = _Fold(_latin_char)


def _compose(text: str, origin: Origin) -> tuple[str, Origin]:
    """NFC-compose base + combining-mark clusters (each output char maps to its cluster)."""
    if not _COMBINING.search(text):
        return text, origin
    pieces, index, pos = [], [], 0
    for m in _COMBINING.finditer(text):
        start, end = m.span()
        composed = unicodedata.normalize("NFC", m.group())
        pieces.append(text[pos:start])
        index.append(np.arange(pos, start))
        pieces.append(composed)
        index.append(np.linspace(start, end - 1, len(composed)).astype(np.int64))
        pos = end
    pieces.append(text[pos:])
    index.append(np.arange(pos, len(text)))
    joined = np.concatenate(index).astype(np.int64)
    return "".join(pieces), joined if origin is None else origin[joined]


def native_view(text: str) -> tuple[View, set[str]]:
    """The ``native`` view of ``text`` and the tricks found (``tag_chars``, ``invisible_chars``)."""
    flags: set[str] = set()
    if text.isascii():
        return View("native", text.lower()), flags
    folded, origin, codes = _NATIVE.apply(text, None)
    tags = (codes >= 0xE0000) & (codes <= 0xE007F)
    if bool(tags.any()):
        flags.add("tag_chars")
    if bool(((_NATIVE.length[codes] == 0) & ~tags).any()):
        flags.add("invisible_chars")
    if not folded.isascii():
        folded, origin = _compose(folded, origin)
    return View("native", folded, origin), flags


def latin_view(native: View) -> View:
    """The ``latin`` view derived from a ``native`` one."""
    text, origin = native.text, native.origin
    if not text.isascii():
        text, origin, _ = _LATIN.apply(text, origin)
    if any(c in text for c in _LEET_FROM):
        text = _unleet(text)
    return View("latin", text, origin)


def _unleet(text: str) -> str:
    """Leet characters read as letters inside tokens of ``[a-z0-9@$]`` that hold a letter.

    Vectorised: a token id per character (a running count of the characters that end tokens),
    then "does this token hold a letter" per id. Lengths are kept, so origins are unchanged.
    """
    codes = np.frombuffer(text.encode("utf-32-le"), dtype="<u4").copy()
    letter = (codes >= ord("a")) & (codes <= ord("z"))
    leet = np.isin(codes, [ord(c) for c in _LEET_FROM])
    token = np.cumsum(~(letter | leet | ((codes >= ord("0")) & (codes <= ord("9")))))
    with_letter = np.bincount(token, weights=letter, minlength=int(token[-1]) + 1) > 0
    change = leet & with_letter[token]
    if not change.any():
        return text
    codes[change] = _LEET_LUT[codes[change]]
    return codes.tobytes().decode("utf-32-le")


def joined_view(latin: View) -> View | None:
    """The ``joined`` view, or None when no joiner splits a word (``ig-nore``, ``in*struc*tions``)."""
    drops = [m.start() for m in _JOINER.finditer(latin.text)]
    if not drops:
        return None
    keep = np.delete(np.arange(len(latin.text), dtype=np.int64), drops)
    text = "".join(latin.text[i:j] for i, j in zip([0, *[d + 1 for d in drops]],
                                                   [*drops, len(latin.text)], strict=True))
    return View("joined", text, keep if latin.origin is None else latin.origin[keep])


def squeezed_view(latin: View, force: bool = False) -> View | None:
    """The ``squeezed`` view, or None when the text does not spell words out letter by letter.

    Args:
        force: build it anyway (the source hid invisible characters).
    """
    if not force and not _SPACED.search(latin.text):
        return None
    codes = np.frombuffer(latin.text.encode("utf-32-le"), dtype="<u4")
    keep = np.flatnonzero((codes >= ord("a")) & (codes <= ord("z")))
    text = codes[keep].astype("<u4").tobytes().decode("utf-32-le")
    return View("squeezed", text, keep if latin.origin is None else latin.origin[keep])


def _readable(raw: bytes) -> str | None:
    # UTF-16LE is what `powershell -EncodedCommand` takes
    utf16 = len(raw) >= 16 and raw[1::2].count(0) >= 0.9 * (len(raw) // 2)
    try:
        text = raw.decode("utf-16-le" if utf16 else "utf-8")
    except UnicodeDecodeError:
        return None
    if len(text) < 8:
        return None
    printable = sum(c.isprintable() or c in "\n\r\t" for c in text)
    letters = sum(c.isalpha() for c in text)
    return text if printable >= 0.95 * len(text) and letters >= 0.5 * len(text) else None


def _decode(blob: str, kind: str) -> str | None:
    try:
        if kind == "base64":
            bare = blob.rstrip("=")
            alt = b"-_" if ("-" in blob or "_" in blob) else None
            return _readable(base64.b64decode(bare + "=" * (-len(bare) % 4), altchars=alt,
                                              validate=True))
        if kind == "hex":
            digits = blob.replace("\\x", "")
            return _readable(bytes.fromhex(digits[: len(digits) // 2 * 2]))
        return _readable(unquote_to_bytes(blob))
    except (binascii.Error, ValueError):
        return None


def decoded_texts(source: str) -> list[tuple[str, tuple[int, int], str]]:
    """``(decoded text, span in source, kind)`` for each readable encoded blob (at most 32)."""
    found: list[tuple[str, tuple[int, int], str]] = []
    patterns = (("base64", _BASE64, ""), ("hex", _HEX, ""), ("hex", _HEX_ESCAPED, "\\x"),
                ("percent", _PERCENT, "%"))
    for kind, pattern, needle in patterns:
        if needle and needle not in source:
            continue
        for m in pattern.finditer(source):
            if len(found) >= MAX_BLOBS:
                return found
            if len(m.group()) > MAX_BLOB_CHARS:
                continue
            text = _decode(m.group(), kind)
            if text is not None:
                found.append((text, m.span(), kind))
    return found


def build_views(source: str) -> tuple[list[View], set[str]]:
    """Every view of ``source`` and the obfuscation tricks seen.

    Returns:
        ``(views, flags)``; flags among ``tag_chars``, ``invisible_chars``, ``spaced``,
        ``encoded``. Views come in the order ``native``, ``latin``, ``joined``, ``squeezed``,
        then ``decoded:*``.
    """
    native, flags = native_view(source)
    latin = latin_view(native)
    views = [native, latin]
    joined = joined_view(latin)
    if joined is not None:
        views.append(joined)
    squeezed = squeezed_view(latin, force=bool(flags & {"invisible_chars", "tag_chars"}))
    if squeezed is not None:
        if _SPACED.search(latin.text):
            flags.add("spaced")
        views.append(squeezed)
    for text, span, kind in decoded_texts(source):
        flags.add("encoded")
        inner, _ = native_view(text)
        views.append(View(f"decoded:{kind}:native", inner.text, None, span))
        views.append(View(f"decoded:{kind}:latin", latin_view(inner).text, None, span))
    return views, flags
