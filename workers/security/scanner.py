"""The prompt-injection scanner: ``security::scan_injection {text, source?}``.

Theory of operation
-------------------
:func:`~.normalize.build_views` turns the text into views (``native``, ``latin``, sometimes
``squeezed`` and ``decoded:*``). Each rule (:mod:`.rules_latin`, :mod:`.rules_native`) is
written for one kind of view and fires at an anchor. Per view, the scanner first picks the
anchors that occur — word anchors by intersecting the view's set of words with the anchor
words (C-speed set operations), raw ASCII anchors with ``in``, and anchors in other scripts with
one alternation regex — then walks each one's occurrences with ``str.find`` and matches the
tails of its rules right after it (one joined regex first, as a prefilter). So the cost is one
pass over the text plus work proportional to the anchors that actually occur.

Repetition is cheap: a rule is recorded at most :data:`MAX_HITS_PER_RULE` times, and the tails'
answers are cached per anchor by the text that follows it, up to the longest any of its tails
can reach (every tail is bounded, see ``rules.bounded``), so a text repeating one phrase a
million times costs little more than one that says it thrice. Measured: 0.2-0.5 s of CPU per
megabyte, adversarial texts included (``bench/security_scan.py``).

Score: the distinct rules that fired, each with its weight for the source (``user`` or
``tool``), combine as ``risk = 1 - Π(1 - w)``; ``safe`` is ``risk < threshold`` (0.5 by
default). One explicit override ("ignore all previous instructions", weight 0.8) is enough;
weak signals ("from now on", a ``curl | sh`` in a user's message) need company. ``labels`` are
the categories that fired, plus ``obfuscated`` (the match needed Unicode, leetspeak or spacing
normalisation) and ``encoded`` (it was inside a base64/hex/percent blob). ``matches`` give each
rule and the span of the *original* text it matched.

Scan user input before the model sees it and tool output before it goes back to the model
(``source: "tool"`` turns on the weights for instructions addressed to an AI). A text over
``max_chars`` is not scanned and answers ``safe: false`` with label ``too_large``: fail closed.
"""

from __future__ import annotations

import math
import re
import unicodedata
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from re import _parser as re_parser  # type: ignore[attr-defined]  # getwidth(): a tail's reach
from re._constants import MAXREPEAT
from typing import Any, Literal

import anyio.to_thread
from pydantic import BaseModel, ConfigDict

from .errors import parse_request
from .normalize import View, build_views
from .rules import Rule
from .rules_latin import LATIN_RULES
from .rules_native import NATIVE_RULES, SQUEEZED_RULES

__all__ = ["DEFAULT_RULES", "Match", "ScanResult", "Scanner"]

MAX_HITS_PER_RULE = 3
MAX_MATCHES = 50
THREAD_ABOVE_CHARS = 65_536
DEFAULT_RULES: tuple[Rule, ...] = (*LATIN_RULES, *NATIVE_RULES, *SQUEEZED_RULES)
_WORD_REST = re.compile(r"\w*")
_ALNUM = re.compile(r"[\W_]+")

_TOKENS = re.compile(r"\w+")
_VOCAB_WORDS = re.compile("[a-z\u0400-\u04ff]+")
SMALL_VOCABULARY = 5000
"""Up to this many distinct words, prefix anchors are found by set intersection; beyond, bisection."""


@dataclass(frozen=True, slots=True)
class _Anchor:
    """The rules sharing one anchor in one view, with their tails joined into one prefilter."""

    literal: str
    prefix: bool
    word: bool
    rules: tuple[Rule, ...]
    any_tail: re.Pattern[str]
    reach: int
    """The most characters any tail can match: what the match cache must key on."""

    def rules_for(self, source: str) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if source in r.sources)


@dataclass(frozen=True, slots=True)
class Match:
    rule: str
    category: str
    weight: float
    span: tuple[int, int]
    view: str

    def public(self) -> dict[str, Any]:
        return {"rule": self.rule, "category": self.category, "weight": self.weight,
                "span": list(self.span), "view": self.view}


@dataclass(frozen=True, slots=True)
class ScanResult:
    safe: bool
    risk_score: float
    matches: tuple[Match, ...]
    labels: tuple[str, ...]

    def public(self) -> dict[str, Any]:
        return {"safe": self.safe, "risk_score": self.risk_score,
                "matches": [m.public() for m in self.matches], "labels": list(self.labels)}


class ScanRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: str
    source: Literal["user", "tool"] = "user"


@dataclass(frozen=True, slots=True)
class _ViewRules:
    """The anchors of one kind of view, arranged so a scan only visits those that occur.

    * Word anchors are picked by the words the view holds: exact ones by one set intersection,
      prefix ones by intersecting, per prefix length, the words cut to that length (or, for a
      very large vocabulary, by bisection in the sorted words).
    * Raw ASCII anchors (markup, shell) are tested with ``in``.
    * Raw anchors in other scripts (Chinese, Japanese, Korean) share one alternation regex: the
      engine skips every position whose character cannot start one of them.
    """

    exact: dict[str, _Anchor]
    prefix: dict[int, dict[str, _Anchor]]
    """Prefix anchors by their length."""
    raw_ascii: tuple[_Anchor, ...]
    other: dict[str, tuple[_Anchor, ...]]
    """Non-ASCII raw anchors by their first character."""
    other_finder: re.Pattern[str] | None

    @classmethod
    def of(cls, anchors: list[_Anchor]) -> _ViewRules:
        exact: dict[str, _Anchor] = {}
        prefix: dict[int, dict[str, _Anchor]] = defaultdict(dict)
        raw_ascii: list[_Anchor] = []
        other: dict[str, list[_Anchor]] = defaultdict(list)
        for a in anchors:
            if a.word and a.prefix:
                prefix[len(a.literal)][a.literal] = a
            elif a.word:
                exact[a.literal] = a
            elif a.literal.isascii():
                raw_ascii.append(a)
            else:
                other[a.literal[0]].append(a)
        literals = sorted({a.literal for v in other.values() for a in v}, key=len, reverse=True)
        finder = re.compile("|".join(map(re.escape, literals))) if literals else None
        return cls(exact, dict(prefix), tuple(raw_ascii), {c: tuple(v) for c, v in other.items()},
                   finder)

    def candidates(self, text: str) -> list[_Anchor]:
        """The ASCII and word anchors that occur in ``text`` (at least as words or substrings)."""
        found: list[_Anchor] = []
        if self.exact or self.prefix:
            words = frozenset(_VOCAB_WORDS.findall(text))
            found += [self.exact[w] for w in words & self.exact.keys()]
            if len(words) <= SMALL_VOCABULARY:
                for length, anchors in self.prefix.items():
                    cut = {w[:length] for w in words if len(w) >= length}
                    found += [anchors[p] for p in cut & anchors.keys()]
            else:
                ordered = sorted(words)
                for anchors in self.prefix.values():
                    for literal, anchor in anchors.items():
                        at = bisect_left(ordered, literal)
                        if at < len(ordered) and ordered[at].startswith(literal):
                            found.append(anchor)
        found += [a for a in self.raw_ascii if a.literal in text]
        return found


def _index(rules: Iterable[Rule]) -> dict[str, _ViewRules]:
    grouped: dict[str, dict[tuple[str, bool, bool], list[Rule]]] = defaultdict(
        lambda: defaultdict(list))
    for r in rules:
        for anchor in r.anchors:
            literal, prefix = anchor.rstrip("*"), anchor.endswith("*")
            if r.word and not _TOKENS.fullmatch(literal):
                raise ValueError(f"rule {r.name}: word anchor {anchor!r} is not one word")
            grouped[r.view][(literal, prefix, r.word)].append(r)
    return {view: _ViewRules.of([
                _Anchor(lit, prefix, word, tuple(rs),
                        re.compile("|".join(f"(?:{r.tail.pattern})" for r in rs), re.S),
                        max(_reach(r.tail) for r in rs))
                for (lit, prefix, word), rs in anchors.items()])
            for view, anchors in grouped.items()}


def _reach(tail: re.Pattern[str]) -> int:
    """The longest text ``tail`` can match.

    Raises:
        ValueError: the tail is unbounded (rules bound their tails, see ``rules.bounded``).
    """
    widest = int(re_parser.parse(tail.pattern, tail.flags).getwidth()[1])
    if widest >= MAXREPEAT:
        raise ValueError(f"tail {tail.pattern[:60]!r}… can match without bound")
    return widest


def _bare(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.casefold())
    return _ALNUM.sub("", "".join(c for c in decomposed if not unicodedata.combining(c)))


class Scanner:
    """Scores texts for prompt injection. Pure and thread-safe; build it once.

    Args:
        threshold: ``risk_score`` at or above which a text is unsafe.
        max_chars: longer texts are not scanned (answered unsafe).
        rules: the rule table (default: every rule of this package).
    """

    def __init__(self, threshold: float = 0.5, max_chars: int = 4_000_000,
                 rules: Iterable[Rule] = DEFAULT_RULES) -> None:
        self.threshold, self.max_chars = threshold, max_chars
        self._index = _index(rules)

    def scan(self, text: str, source: str = "user") -> ScanResult:
        """Scan ``text`` as coming from ``source`` (``user`` or ``tool``). Linear in its length."""
        if len(text) > self.max_chars:
            return ScanResult(False, 1.0, (), ("too_large",))
        views, flags = build_views(text)
        found: list[Match] = []
        hits: dict[str, int] = defaultdict(int)
        labels: set[str] = set()
        for view in views:
            table = self._index.get(view.name.rsplit(":", 1)[-1])
            if table is None:
                continue
            for anchor in table.candidates(view.text):
                self._walk(view, anchor, source, hits, found)
            if table.other_finder is not None and not view.text.isascii():
                self._walk_other(view, table, source, hits, found)
        for match in found:
            view_kind = match.view
            if view_kind.startswith("decoded"):
                labels.add("encoded")
            elif view_kind == "squeezed" or flags & {"tag_chars", "invisible_chars"}:
                labels.add("obfuscated")
        labels.update(self._obfuscated(text, views, found))
        best: dict[str, float] = {}
        for match in found:
            best[match.rule] = max(best.get(match.rule, 0.0), match.weight)
            labels.add(match.category)
        risk = 1.0 - math.prod(1.0 - w for w in best.values())
        risk = round(min(max(risk, 0.0), 1.0), 4)
        safe = risk < self.threshold
        if not safe and source == "tool":
            labels.add("indirect")
        ordered = sorted(found, key=lambda m: (m.span, m.rule))[:MAX_MATCHES]
        return ScanResult(safe, risk, tuple(ordered), tuple(sorted(labels)))

    def _walk(self, view: View, anchor: _Anchor, source: str, hits: dict[str, int],
              found: list[Match]) -> None:
        """Every occurrence of an ASCII anchor, by ``str.find``."""
        rules = anchor.rules_for(source)
        text, literal = view.text, anchor.literal
        # A tail sees at most `anchor.reach` characters after the anchor, so an identical context
        # gives identical matches: a text repeating one phrase a million times is answered from
        # this cache. (`before`/`unless` look behind and are checked at every occurrence.)
        seen: dict[str, tuple[tuple[Rule, int], ...]] = {}
        start = text.find(literal)
        while start != -1:
            end = start + len(literal)
            if anchor.word:
                if start > 0 and text[start - 1].isalnum():
                    start = text.find(literal, end)
                    continue
                if anchor.prefix:
                    end = _WORD_REST.match(text, end).end()  # type: ignore[union-attr]
                elif end < len(text) and text[end].isalnum():
                    start = text.find(literal, end)
                    continue
            self._at(view, anchor, rules, start, end, seen, source, hits, found)
            start = text.find(literal, start + 1)

    def _walk_other(self, view: View, table: _ViewRules, source: str, hits: dict[str, int],
                    found: list[Match]) -> None:
        """Every occurrence of every non-ASCII anchor of ``table``, in one regex pass."""
        assert table.other_finder is not None
        text, search = view.text, table.other_finder.search
        caches: dict[str, dict[str, tuple[tuple[Rule, int], ...]]] = defaultdict(dict)
        m = search(text)
        while m is not None:
            start = m.start()
            for anchor in table.other[text[start]]:
                if text.startswith(anchor.literal, start):
                    rules = anchor.rules_for(source)
                    self._at(view, anchor, rules, start, start + len(anchor.literal),
                             caches[anchor.literal], source, hits, found)
            m = search(text, start + 1)  # one position on, not past the match: overlaps count

    @staticmethod
    def _at(view: View, anchor: _Anchor, rules: tuple[Rule, ...], start: int, end: int,
            seen: dict[str, tuple[tuple[Rule, int], ...]], source: str,
            hits: dict[str, int], found: list[Match]) -> None:
        """Try ``rules`` at one occurrence of their anchor (``text[start:end]``)."""
        text = view.text
        context = text[end:end + anchor.reach]
        matched = seen.get(context)
        if matched is None:
            matched = ()
            if anchor.any_tail.match(text, end) is not None:
                matched = tuple((r, m.end() - end) for r in rules
                                if (m := r.tail.match(text, end)) is not None)
            seen[context] = matched
        for r, length in matched:
            if hits[r.name] >= MAX_HITS_PER_RULE or not _context_ok(r, text, start):
                continue
            hits[r.name] += 1
            found.append(Match(r.name, r.category, r.weight_for(source),
                               view.source_span(start, end + length), view.name))

    @staticmethod
    def _obfuscated(text: str, views: list[View], found: list[Match]) -> set[str]:
        """``{"obfuscated"}`` when a ``latin``/``native`` match differs from its source text."""
        by_name = {v.name: v for v in views}
        for match in found:
            view = by_name.get(match.view)
            if view is None or match.view not in ("latin", "native"):
                continue
            start, end = match.span
            seen = _bare(text[start:end])
            if seen and seen != _bare(view.text_from(start, end)):
                return {"obfuscated"}
        return set()

    async def scan_injection(self, data: Any) -> dict[str, Any]:
        """``security::scan_injection {text, source?}`` → ``{safe, risk_score, matches, labels}``.

        Large texts are scanned in a worker thread, so the event loop keeps serving.
        """
        req = parse_request(ScanRequest, data)
        text, source = req.text, req.source
        if len(text) > THREAD_ABOVE_CHARS:
            result = await anyio.to_thread.run_sync(self.scan, text, source)
        else:
            result = self.scan(text, source)
        return result.public()


def _context_ok(r: Rule, text: str, start: int) -> bool:
    if r.before is not None:
        window = text[max(0, start - 60):start]
        if start <= 60:
            window = "\n" + window
        if not r.before.search(window):
            return False
    return not (r.unless is not None and r.unless.search(text[max(0, start - 80):start]))
