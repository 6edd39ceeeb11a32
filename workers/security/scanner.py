"""The prompt-injection scanner: ``security::scan_injection {text, source?}``.

Theory of operation
-------------------
:func:`~.normalize.build_views` turns the text into views (``native``, ``latin``, sometimes
``joined``, ``squeezed`` and ``decoded:*``; ``joined`` is scanned with the ``latin`` rules and
counts only rules ``latin`` did not find). Each rule is written for one kind of view and fires
at an anchor; the tables are :data:`DEFAULT_RULES` (:mod:`.rules_latin`, :mod:`.rules_english`,
:mod:`.rules_indirect`, :mod:`.rules_european`, :mod:`.rules_scripts`, :mod:`.rules_native`).
Per view, the scanner first picks the anchors that occur — word anchors by looking up each
distinct word of the view once (remembered across scans), raw ASCII anchors with ``in``, and
anchors in other scripts with one alternation regex — then walks each one's occurrences and
matches the tails of its rules right after it (one joined regex first, as a prefilter). So the
cost is one pass over the text plus work proportional to the anchors that actually occur.

Repetition is cheap: a rule is recorded at most :data:`MAX_HITS_PER_RULE` times (an anchor whose
rules all reached it is walked no further), and the tails' answers are cached per anchor by the
text that follows it, up to the longest any of its tails can reach (every tail is bounded, see
``rules.bounded``), so a text repeating one phrase a million times costs little more than one
that says it thrice. When the cache does not pay (most of an anchor's first
:data:`ADAPT_AFTER` occurrences were new contexts, as in long varied prose), the walk switches
to one regex that finds only the occurrences some tail follows, all in C. Measured: 0.3-0.75 s
of CPU per megabyte, adversarial texts included (``bench/security_scan.py``). The rule index
for :data:`DEFAULT_RULES` is built once per process (about a second) and shared.

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

import enum
import functools
import math
import re
import unicodedata
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from re import _parser as re_parser  # type: ignore[attr-defined]  # getwidth(): a tail's reach
from re._constants import MAXREPEAT
from typing import Any, Literal

import anyio.to_thread
from pydantic import BaseModel, ConfigDict

from .errors import parse_request
from .normalize import View, build_views
from .rules import Rule
from .rules_english import ENGLISH_RULES
from .rules_european import EUROPEAN_RULES
from .rules_indirect import INDIRECT_RULES
from .rules_latin import LATIN_RULES
from .rules_native import NATIVE_RULES, SQUEEZED_RULES
from .rules_scripts import SCRIPT_RULES

__all__ = ["DEFAULT_RULES", "Match", "ScanResult", "Scanner"]

MAX_HITS_PER_RULE = 3
ADAPT_AFTER = 64
"""Occurrences of an anchor walked with the cache before deciding whether it pays (see _walk)."""
MAX_MATCHES = 50
THREAD_ABOVE_CHARS = 65_536
DEFAULT_RULES: tuple[Rule, ...] = (
    *LATIN_RULES, *ENGLISH_RULES, *INDIRECT_RULES, *EUROPEAN_RULES, *SCRIPT_RULES, *NATIVE_RULES,
    *SQUEEZED_RULES)
_ALNUM = re.compile(r"[\W_]+")

_TOKENS = re.compile(r"\w+")
_VOCAB_WORDS = re.compile("[a-z\u0400-\u04ff]+")
_RULES_OF = {"joined": "latin"}
"""Views scanned with the rules of another view."""
MAX_KNOWN_WORDS = 200_000
"""Words whose anchors are remembered (per view kind); beyond, they are looked up every time."""
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
    locator: re.Pattern[str]
    """The anchor: a whole word, a word starting with the prefix, or the raw literal."""
    finder_pattern: str
    """The anchor followed by at least one of its tails (see :meth:`finder`)."""
    for_source: dict[str, tuple[Rule, ...]]
    """The rules that apply to text from each source."""

    def rules_for(self, source: str) -> tuple[Rule, ...]:
        return self.for_source.get(source, ())

    def finder(self) -> re.Pattern[str]:
        """A C-speed scan that yields only the occurrences where some rule may fire; compiled
        on first use (few texts need it, and compiling every anchor's would more than double
        the cost of building a scanner)."""
        return _compile(self.finder_pattern)


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

    * Word anchors are picked by the distinct words the view holds: each word's anchors (the
      exact one, and the prefix ones of every length) are looked up once and remembered in
      ``by_word`` (most words have none), so a scan costs a dict lookup per distinct word. For a
      very large vocabulary, prefix anchors are found by bisection in the sorted words.
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
    by_word: dict[str, tuple[_Anchor, ...]] = field(default_factory=dict)
    """Word → its anchors, filled as words are met (idempotent, so threads may race on it)."""

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
            if len(words) <= SMALL_VOCABULARY:
                known = self.by_word
                for w in words:
                    hit = known.get(w)
                    if hit is None:
                        hit = self._anchors_of(w)
                        if len(known) < MAX_KNOWN_WORDS:
                            known[w] = hit
                    if hit:
                        found += hit
                if len(found) > 1:  # one anchor may come from several words (ignore, ignored)
                    found = list({id(a): a for a in found}.values())
            else:
                found += [self.exact[w] for w in words & self.exact.keys()]
                ordered = sorted(words)
                for anchors in self.prefix.values():
                    for literal, anchor in anchors.items():
                        at = bisect_left(ordered, literal)
                        if at < len(ordered) and ordered[at].startswith(literal):
                            found.append(anchor)
        found += [a for a in self.raw_ascii if a.literal in text]
        return found

    def _anchors_of(self, word: str) -> tuple[_Anchor, ...]:
        hit = [self.exact[word]] if word in self.exact else []
        for length, anchors in self.prefix.items():
            if len(word) >= length and (a := anchors.get(word[:length])) is not None:
                hit.append(a)
        return tuple(hit)


def _index(rules: Iterable[Rule]) -> dict[str, _ViewRules]:
    grouped: dict[str, dict[tuple[str, bool, bool], list[Rule]]] = defaultdict(
        lambda: defaultdict(list))
    for r in rules:
        for anchor in r.anchors:
            literal, prefix = anchor.rstrip("*"), anchor.endswith("*")
            if r.word and not _TOKENS.fullmatch(literal):
                raise ValueError(f"rule {r.name}: word anchor {anchor!r} is not one word")
            grouped[r.view][(literal, prefix, r.word)].append(r)
    reach = {t: _reach(t) for t in {r.tail for view in grouped.values()
                                     for rs in view.values() for r in rs}}
    return {view: _ViewRules.of([_anchor(lit, prefix, word, tuple(rs), reach)
                                 for (lit, prefix, word), rs in anchors.items()])
            for view, anchors in grouped.items()}


@functools.cache
def _default_index() -> dict[str, _ViewRules]:
    return _index(DEFAULT_RULES)


@functools.cache
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.S)


def _anchor(literal: str, prefix: bool, word: bool, rules: tuple[Rule, ...],
            reach: dict[re.Pattern[str], int]) -> _Anchor:
    any_tail = "|".join(f"(?:{r.tail.pattern})" for r in rules)
    lit = re.escape(literal)
    # the literal first (the regex engine then searches for it at C speed), then the check
    # that it starts a word: no letter or digit just before it
    head = f"{lit}(?<![^\\W_]{lit})" + (r"\w*+" if prefix else r"(?![^\W_])") if word else lit
    return _Anchor(literal, prefix, word, rules, _compile(any_tail),
                   max(reach[r.tail] for r in rules), re.compile(head),
                   f"{head}(?={any_tail})",
                   {s: tuple(r for r in rules if s in r.sources) for s in ("user", "tool")})


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
    if text.isascii():
        return _ALNUM.sub("", text.lower())
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
        self._index = _default_index() if rules is DEFAULT_RULES else _index(rules)

    def scan(self, text: str, source: str = "user") -> ScanResult:
        """Scan ``text`` as coming from ``source`` (``user`` or ``tool``). Linear in its length."""
        if len(text) > self.max_chars:
            return ScanResult(False, 1.0, (), ("too_large",))
        views, flags = build_views(text)
        found: list[Match] = []
        hits: dict[str, int] = defaultdict(int)
        labels: set[str] = set()
        for view in views:
            table = self._index.get(_RULES_OF.get(view.name, view.name.rsplit(":", 1)[-1]))
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
            elif view_kind in ("squeezed", "joined") or flags & {"tag_chars", "invisible_chars"}:
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
        """Every occurrence of an ASCII anchor that some tail may follow."""
        rules = anchor.rules_for(source)
        if not rules:
            return
        # A tail sees at most `anchor.reach` characters after the anchor, so an identical context
        # gives identical matches: a text repeating one phrase a million times is answered from
        # this cache, and the walk stops once every rule of the anchor has hit its limit.
        # (`before`/`unless` look behind and are checked at every occurrence.)
        # Two ways to walk: `locator` and the cache, which wins when contexts repeat, and
        # `finder`, which runs every tail in C at every occurrence and wins when they do not.
        # Start with the first; switch when most of the first occurrences missed the cache.
        seen: dict[str, list[int]] = {}
        text, tried, missed, resume = view.text, 0, 0, -1
        for m in anchor.locator.finditer(text):
            outcome = self._at(view, anchor, rules, m.start(), m.end(), seen, source, hits, found)
            if outcome is _Outcome.EXHAUSTED:
                return
            tried += 1
            missed += outcome is _Outcome.COMPUTED
            if tried >= ADAPT_AFTER and 2 * missed > tried:
                resume = m.end()
                break
        if resume < 0:
            return
        for hit in anchor.finder().finditer(text, resume):
            if self._at(view, anchor, rules, hit.start(), hit.end(), seen, source, hits,
                        found) is _Outcome.EXHAUSTED:
                return

    def _walk_other(self, view: View, table: _ViewRules, source: str, hits: dict[str, int],
                    found: list[Match]) -> None:
        """Every occurrence of every non-ASCII anchor of ``table``, in one regex pass."""
        assert table.other_finder is not None
        text, search = view.text, table.other_finder.search
        caches: dict[str, dict[str, list[int]]] = defaultdict(dict)
        m = search(text)
        while m is not None:
            start = m.start()
            for anchor in table.other[text[start]]:
                if text.startswith(anchor.literal, start):
                    rules = anchor.rules_for(source)
                    if rules:
                        self._at(view, anchor, rules, start, start + len(anchor.literal),
                                 caches[anchor.literal], source, hits, found)
            m = search(text, start + 1)  # one position on, not past the match: overlaps count

    @staticmethod
    def _at(view: View, anchor: _Anchor, rules: tuple[Rule, ...], start: int, end: int,
            seen: dict[str, list[int]], source: str,
            hits: dict[str, int], found: list[Match]) -> _Outcome:
        """Try ``rules`` at one occurrence of their anchor (``text[start:end]``).

        Returns:
            ``EXHAUSTED`` when every rule has hit its limit (later occurrences need not be
            tried), ``CACHED`` when the tails' answers were known for this context, else
            ``COMPUTED``.

        Rules that already hit their limit are not tried. The tails' answers come from the cache
        (by the text that follows), or are computed once; ``before`` and ``unless`` (regex
        searches of the text before, dearer than a tail) are checked only where a tail matched.
        """
        text = view.text
        context = text[end:end + anchor.reach]
        lengths = seen.get(context)
        if lengths is _NO_TAIL:  # the common case, kept short
            return _Outcome.CACHED
        outcome = _Outcome.CACHED
        if lengths is None:
            outcome = _Outcome.COMPUTED
            if anchor.any_tail.match(text, end) is None:
                seen[context] = _NO_TAIL
                return outcome
            lengths = seen[context] = [_UNTRIED] * len(rules)
        again = view.name == "joined"  # latin once more: count only what latin did not find
        live = [i for i, r in enumerate(rules)
                if hits[r.name] < MAX_HITS_PER_RULE and not (again and hits[r.name])]
        if not live:
            return _Outcome.EXHAUSTED
        for i in live:
            length = lengths[i]
            if length == _UNTRIED:
                m = rules[i].tail.match(text, end)
                length = lengths[i] = _FAILED if m is None else m.end() - end
            r = rules[i]
            if length == _FAILED or (r.before is not None and not _before_ok(r.before, text, start)) \
                    or (r.unless is not None and r.unless.search(text[max(0, start - 80):start])):
                continue
            hits[r.name] += 1
            found.append(Match(r.name, r.category, r.weight_for(source),
                               view.source_span(start, end + length), view.name))
        return outcome

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


class _Outcome(enum.Enum):
    EXHAUSTED = 0
    CACHED = 1
    COMPUTED = 2


_UNTRIED, _FAILED = -2, -1
"""Tail lengths in the cache: not tried yet, or no match."""
_NO_TAIL: list[int] = []
"""The cache's answer for a context that no tail of the anchor matches."""


def _before_ok(before: re.Pattern[str], text: str, start: int) -> bool:
    """``before`` matches the (up to) 60 characters before ``start``; a text start reads as a
    line start."""
    window = text[max(0, start - 60):start]
    if start <= 60:
        window = "\n" + window
    return before.search(window) is not None
