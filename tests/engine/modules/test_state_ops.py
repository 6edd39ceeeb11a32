"""The pure update ops of ``state::update``, from tables (no event loop)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from engine.errors import InvalidArguments
from engine.modules.state_ops import Op, UpdateError, apply_ops, parse_ops, parse_path, same_json


def run(value: Any, *ops: dict[str, Any]) -> Any:
    return apply_ops(value, parse_ops(list(ops)))


@pytest.mark.parametrize(
    ("value", "ops", "expected"),
    [
        # set
        (None, [{"type": "set", "value": 5}], 5),
        ({"a": 1}, [{"type": "set", "path": "b", "value": 2}], {"a": 1, "b": 2}),
        (None, [{"type": "set", "path": "a.b.c", "value": True}], {"a": {"b": {"c": True}}}),
        ({"a": {"x": 1}}, [{"type": "set", "path": ["a", "y"], "value": None}], {"a": {"x": 1, "y": None}}),
        ({"a": 1}, [{"type": "set", "path": "", "value": [1]}], [1]),
        # merge (shallow)
        ({"a": 1, "n": {"x": 1}}, [{"type": "merge", "value": {"b": 2, "n": {"y": 2}}}], {"a": 1, "b": 2, "n": {"y": 2}}),
        (None, [{"type": "merge", "path": "m", "value": {"k": 1}}], {"m": {"k": 1}}),
        # increment / decrement
        (None, [{"type": "increment"}], 1),
        ({"n": 2}, [{"type": "increment", "path": "n", "by": 3}], {"n": 5}),
        ({}, [{"type": "decrement", "path": "c.d"}], {"c": {"d": -1}}),
        ({"n": 1.5}, [{"type": "decrement", "path": "n", "by": 0.5}], {"n": 1.0}),
        ({"n": 1}, [{"type": "increment", "path": "n"}, {"type": "increment", "path": "n", "by": 10}], {"n": 12}),
        # append
        (None, [{"type": "append", "value": "x"}], ["x"]),
        ({"l": [1]}, [{"type": "append", "path": "l", "value": {"o": 1}}], {"l": [1, {"o": 1}]}),
        ({"s": "ab"}, [{"type": "append", "path": "s", "value": "c"}], {"s": "abc"}),
        # remove
        ({"a": 1, "b": 2}, [{"type": "remove", "path": "a"}], {"b": 2}),
        ({"a": {"b": 1, "c": 2}}, [{"type": "remove", "path": "a.b"}], {"a": {"c": 2}}),
        ({"a": 1}, [{"type": "remove", "path": "zz.yy"}], {"a": 1}),
        ({"a": 1}, [{"type": "remove", "path": "a.deeper"}], {"a": 1}),
        (None, [{"type": "remove", "path": "a"}], None),
        ({"a": 1}, [{"type": "remove"}], None),
        # a sequence sees the previous results
        (None, [{"type": "set", "value": {}}, {"type": "append", "path": "log", "value": 1},
                {"type": "append", "path": "log", "value": 2}], {"log": [1, 2]}),
    ],
)
def test_apply_ops(value: Any, ops: list[dict[str, Any]], expected: Any) -> None:
    before = copy.deepcopy(value)
    assert run(value, *ops) == expected
    assert value == before  # pure: the input is never modified


@pytest.mark.parametrize(
    ("value", "op", "message"),
    [
        ("text", {"type": "increment"}, "the whole value is a string, not a number"),
        ({"n": "1"}, {"type": "increment", "path": "n"}, "n is a string, not a number"),
        ({"n": True}, {"type": "decrement", "path": "n"}, "n is a boolean, not a number"),
        ({"m": [1]}, {"type": "merge", "path": "m", "value": {"a": 1}}, "m is a list, not an object"),
        ({"l": {}}, {"type": "append", "path": "l", "value": 1}, "l is an object, not a list"),
        ({"s": "x"}, {"type": "append", "path": "s", "value": 1}, "s is a string, not a list"),
        ({"a": 5}, {"type": "set", "path": "a.b", "value": 1}, "a is a number, not an object"),
        ([1, 2], {"type": "set", "path": "a", "value": 1}, "the whole value is a list, not an object"),
    ],
)
def test_ops_that_do_not_fit_the_value_are_update_errors(value: Any, op: dict[str, Any], message: str) -> None:
    with pytest.raises(UpdateError) as info:
        run(value, op)
    assert info.value.code == "UPDATE_ERROR"
    assert message in info.value.message and "nothing was written" in info.value.message


def test_an_error_in_a_later_op_aborts_the_whole_update() -> None:
    value = {"n": 1, "s": "x"}
    with pytest.raises(UpdateError, match=r"ops\[1\]"):
        run(value, {"type": "increment", "path": "n"}, {"type": "increment", "path": "s"})
    assert value == {"n": 1, "s": "x"}


@pytest.mark.parametrize(
    ("ops", "field"),
    [
        ({"type": "set"}, "'ops' must be a list"),
        (None, "'ops' must be a list"),
        (["set"], "'ops[0]' must be an object"),
        ([{"type": "frobnicate"}], "'ops[0].type' must be one of"),
        ([{}], "'ops[0].type'"),
        ([{"type": "increment"}, {"type": "set", "path": "a"}], "'ops[1].value' is required"),
        ([{"type": "append"}], "'ops[0].value' is required"),
        ([{"type": "merge", "value": [1]}], "'ops[0].value' must be an object"),
        ([{"type": "increment", "by": "2"}], "'ops[0].by' must be a number"),
        ([{"type": "increment", "by": True}], "'ops[0].by' must be a number"),
        ([{"type": "set", "path": 3, "value": 1}], "'ops[0].path' must be a dotted string"),
        ([{"type": "set", "path": "a..b", "value": 1}], "'ops[0].path' has an empty"),
        ([{"type": "set", "path": ["a", 1], "value": 1}], "'ops[0].path' has an empty or non-string"),
    ],
)
def test_malformed_ops_are_invalid_arguments_naming_the_field(ops: Any, field: str) -> None:
    with pytest.raises(InvalidArguments) as info:
        parse_ops(ops)
    assert info.value.code == "invalid_arguments"
    assert field in info.value.message


def test_parse_ops_and_paths() -> None:
    assert parse_ops([{"type": "increment", "path": "a.b", "by": 2}]) == [Op("increment", ("a", "b"), None, 2)]
    assert parse_path(None) == parse_path("") == parse_path([]) == ()
    assert parse_path(["a.b", "c"]) == ("a.b", "c")  # list segments are taken literally


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (None, None, True),
        (1, 1.0, True),
        (True, 1, False),
        (False, 0, False),
        (True, True, True),
        ({}, [], False),
        ({"a": [1, {"b": 2}]}, {"a": [1.0, {"b": 2}]}, True),
        ({"a": 1}, {"a": 1, "b": None}, False),
        ([1, 2], [2, 1], False),
        ("1", 1, False),
        (None, 0, False),
    ],
)
def test_same_json(a: Any, b: Any, equal: bool) -> None:
    assert same_json(a, b) is equal
    assert same_json(b, a) is equal
