"""The rule machinery, pure: the tail DSL, bounded quantifiers, and the shape of the rule table."""

from __future__ import annotations

import re

import pytest

from workers.security.rules import REPEAT_LIMIT, bounded, phrases, rule, seq
from workers.security.scanner import DEFAULT_RULES, Scanner

CATEGORIES = {"instruction_override", "role_hijack", "jailbreak", "prompt_exfiltration",
              "data_exfiltration", "indirect_injection", "delimiter_injection",
              "command_injection", "tool_injection", "social_engineering"}


@pytest.mark.parametrize(("pattern", "expected"), [
    (r"a+b*", "a{1,40}b{0,40}"),
    (r"(?:ab)+?c*?", "(?:ab){1,40}?c{0,40}?"),
    (r"[+*]+\++", r"[+*]{1,40}\+{1,40}"),
    (r"[^]+]*x", "[^]+]{0,40}x"),
    (r"x{3,}y{2,5}", "x{3,43}y{2,5}"),
])
def test_bounded(pattern: str, expected: str) -> None:
    assert bounded(pattern) == expected
    re.compile(bounded(pattern))


def test_seq_dsl() -> None:
    tail = re.compile(seq("~2 previous|prior ?all instructions|system_prompt"))
    assert tail.match(" the very previous instructions")
    assert tail.match(" previous all system-prompt")
    assert not tail.match(" a b c previous instructions")  # more than two fillers
    assert not tail.match(" previous instructionsxyz")
    [first, second] = phrases("p", "jailbreak", 0.5, "ahora eres", "du bist_jetzt")
    assert (first.anchors, second.anchors) == (("ahora",), ("du",))
    assert second.tail.match(" bist jetzt")


def test_before_starts_at_a_word() -> None:
    r = rule("x", "jailbreak", 0.5, "dan", "", before="es")
    assert r.before is not None
    assert r.before.search("eres es ") and not r.before.search("meeting notes ")


def test_every_rule_is_well_formed_and_every_tail_has_a_finite_reach() -> None:
    Scanner()  # building the index computes every tail's reach; it raises if one is unbounded
    for r in DEFAULT_RULES:
        assert r.category in CATEGORIES, r.name
        assert 0 < r.weight <= 1 and (r.tool_weight is None or 0 < r.tool_weight <= 1), r.name
        assert r.anchors and all(a.rstrip("*") for a in r.anchors), r.name
        assert r.view in ("latin", "native", "squeezed"), r.name
        assert "{0," + str(REPEAT_LIMIT + 1) not in r.tail.pattern
    names = {r.name for r in DEFAULT_RULES}
    assert len(names) >= 80
