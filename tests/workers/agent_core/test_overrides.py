"""Run-context variables, reserved keys, rendering and merging: pure."""

from __future__ import annotations

from typing import Any

import pytest

from workers.agent_core.errors import InvalidArguments
from workers.agent_core.overrides import (
    RESERVED,
    check_variable_name,
    deep_merge,
    parse_context,
    render,
)


@pytest.mark.parametrize(("context", "expected"), [
    (None, {}),
    ("", {}),
    ({"tone": "dry", "n": 3, "ok": True, "none": None, "pi": 1.5},
     {"tone": "dry", "n": "3", "ok": "true", "none": "", "pi": "1.5"}),
    ('{"tone": "dry"}', {"tone": "dry"}),
    ("tone: dry\nitems: [1, 2]\n", {"tone": "dry", "items": "[1, 2]"}),
    ({"nested": {"b": 1, "a": 2}}, {"nested": '{"a": 2, "b": 1}'}),
])
def test_contexts_parse_into_text_variables(context: Any, expected: dict[str, str]) -> None:
    assert parse_context(context) == expected


@pytest.mark.parametrize("context", [
    *[{key: "x"} for key in sorted(RESERVED)],
    {"1abc": "x"}, {"a-b": "x"}, {"": "x"}, "[1, 2]", "just text", "{unclosed: [", 42,
    {f"k{i}": i for i in range(65)}, {"long": "x" * 9000},
])
def test_bad_contexts_are_refused(context: Any) -> None:
    with pytest.raises(InvalidArguments):
        parse_context(context)


def test_reserved_names_cover_identity_and_prompt() -> None:
    assert {"agent_id", "realm", "tools", "system", "model"} <= RESERVED
    with pytest.raises(ValueError, match="reserved"):
        check_variable_name("realm")


def test_render_is_single_pass_and_leaves_unknowns() -> None:
    variables = {"a": "{{b}}", "b": "B"}
    assert render("{{a}} {{ b }} {{c}} {{ }}", variables) == "{{b}} B {{c}} {{ }}"


def test_deep_merge_merges_objects_and_replaces_the_rest() -> None:
    base = {"caps": {"tools": ["a"], "hosts": ["h"]}, "tags": ["x"], "n": 1}
    over = {"caps": {"tools": ["b"]}, "tags": ["y"]}
    assert deep_merge(base, over) == {"caps": {"tools": ["b"], "hosts": ["h"]}, "tags": ["y"], "n": 1}
    assert base["caps"]["tools"] == ["a"]  # inputs untouched
