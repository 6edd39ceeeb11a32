"""Injection rules: the :class:`Rule` shape and a small pattern DSL to write them.

Theory of operation
-------------------
A rule fires at an *anchor* — a literal word (``ignore``; ``ignor*`` is a prefix, so ``ignorez``
and ``ignoriere`` count) or, for scripts without spaces, a literal substring — and then matches
its ``tail`` regex right after it. The scanner finds anchors by the words a text holds (fast,
whatever the text's length), so a rule costs nothing on texts that lack its anchors. ``before`` must match
the words just before the anchor; ``unless`` vetoes a match when found there.

Tails are written in a DSL (:func:`seq`), mostly over the ``latin`` view (lowercase, no accents):
tokens separated by spaces, each a regex alternation of words matched after a separator; ``~N``
allows up to N filler words; ``?tok`` is an optional word; ``_`` inside a token is a separator,
so ``system_prompt`` also matches ``system-prompt`` and ``system  prompt``. The tables live in
:mod:`.rules_latin` (core English, shared vocabulary), :mod:`.rules_english` (paraphrases,
jailbreak framing, forged authority), :mod:`.rules_indirect` (instructions planted in tool
output), :mod:`.rules_european` (other languages in Latin script), :mod:`.rules_scripts`
(Arabic, Hindi) and :mod:`.rules_native` (CJK, Russian, markup, shell, letter-by-letter).

Generalise, don't enumerate: a rule should name a *family* (an override verb, then something
that was given to the model; a possessive, then the model's instructions) rather than a phrase
seen once. Fillers never hold an underscore, and at most one apostrophe (see :data:`FILL`):
anything a separator and a filler could both take lets a long run of it be split in
exponentially many ways.

Weights are the probability-like strength of one rule; the scanner combines the distinct rules
that fired as ``1 - Π(1 - w)``. A rule worth 0.5 or more flags a text on its own (an explicit
override, a request for the system prompt); weaker ones (``from now on``, ``curl | sh`` from a
user) need company. ``tool_weight`` replaces ``weight`` for text that came out of a tool, where
instructions addressed to an AI are the indirect-injection signal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FILL", "REPEAT_LIMIT", "SEP", "Rule", "bounded", "phrases", "rule", "seq"]

SEP = r"[\W_]{1,12}"
FILL = r"[^\W_]+(?:['’][^\W_]+)?"
"""A filler word: letters or digits, with at most one apostrophe inside (``don't``). Nothing a
separator can also take may stand on its own in a filler: a run of such characters (``_____``,
``'_'_'_``) could then be split between separators and fillers in exponentially many ways."""


def seq(spec: str) -> str:
    """The regex of a DSL tail (see the module docstring); it starts with a separator."""
    out = []
    for token in spec.split():
        if token.startswith("~"):
            out.append(f"(?:{SEP}{FILL}){{0,{int(token[1:])}}}?")
            continue
        optional = token.startswith("?")
        body = token.lstrip("?").replace("_", SEP)
        part = f"{SEP}(?:{body})\\b"
        out.append(f"(?:{part})?" if optional else part)
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Rule:
    """One weighted pattern; build it with :func:`rule`."""

    name: str
    category: str
    weight: float
    anchors: tuple[str, ...]
    tail: re.Pattern[str]
    view: str = "latin"
    word: bool = True
    """Anchors are words (checked for word boundaries) rather than raw substrings."""
    before: re.Pattern[str] | None = None
    unless: re.Pattern[str] | None = None
    tool_weight: float | None = None
    sources: frozenset[str] = field(default=frozenset({"user", "tool"}))

    def weight_for(self, source: str) -> float:
        return self.tool_weight if source == "tool" and self.tool_weight is not None else self.weight


def rule(name: str, category: str, weight: float, anchors: str | tuple[str, ...], tail: str = "", *,
         view: str = "latin", word: bool = True, before: str | None = None,
         unless: str | None = None, tool_weight: float | None = None,
         sources: tuple[str, ...] = ("user", "tool")) -> Rule:
    """A :class:`Rule`; ``anchors`` is space-separated words, or a tuple of literal strings."""
    found = anchors.split() if isinstance(anchors, str) else anchors
    return Rule(
        name, category, weight, tuple(found),
        re.compile(bounded(tail), re.S), view, word,
        re.compile(_before(before), re.S) if before else None,
        re.compile(unless, re.S) if unless else None, tool_weight, frozenset(sources))


_OPEN_BRACE = re.compile(r"\{(\d+),\}")
REPEAT_LIMIT = 40
"""Tails never repeat a piece more than this: every tail has a finite reach (see the scanner)."""


def bounded(pattern: str, limit: int = REPEAT_LIMIT) -> str:
    """``pattern`` with every ``*``, ``+`` and ``{m,}`` quantifier bounded by ``limit`` more.

    Escapes and character classes are left alone; lazy ``?`` suffixes are kept.
    """
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            in_class = c != "]" or (bool(out) and out[-1] in ("[", "[^"))
        elif c == "[":
            in_class = True
            if pattern.startswith("[^", i):
                out.append("[^")
                i += 2
                continue
        elif c in "*+":
            c = f"{{0,{limit}}}" if c == "*" else f"{{1,{limit}}}"
        elif c == "{" and (m := _OPEN_BRACE.match(pattern, i)):
            out.append(f"{{{m.group(1)},{int(m.group(1)) + limit}}}")
            i = m.end()
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _before(pattern: str) -> str:
    """``pattern`` must end the text before the anchor, and start at a word boundary."""
    starts_word = not pattern.startswith(("\\n", "(?:\\n"))
    return ("(?<![^\\W_])" if starts_word else "") + f"(?:{pattern})[\\W_]*$"


def phrases(name: str, category: str, weight: float, *texts: str, **options: Any) -> tuple[Rule, ...]:
    """One rule per DSL phrase: its first token is the anchor, the rest the tail.

    Rules sharing a name count once in a score.
    """
    out = []
    for text in texts:
        anchor, _, rest = text.partition(" ")
        out.append(rule(name, category, weight, anchor, seq(rest), **options))
    return tuple(out)
