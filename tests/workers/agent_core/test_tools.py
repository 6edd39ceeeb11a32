"""Tool names, selection, schemas and results: pure, no engine."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.agent_core.spec import Capabilities
from workers.agent_core.tools import (
    NAME_RE,
    PERMISSIVE_SCHEMA,
    FunctionInfo,
    ToolNames,
    build_tools,
    error_content,
    is_allowed,
    result_content,
    sanitize,
    truncate,
)

# Function ids as the SDK allows them (non-space, colon-free parts joined by "::"), biased towards
# what broke the seed ("_", "__") and towards long ids; plus any text at all, for good measure.
_part = st.lists(st.sampled_from(["a", "b", "Z", "9", "_", "__", "-", ".", "/", "é", "x" * 30]),
                 min_size=1, max_size=8).map("".join)
function_ids = st.one_of(
    st.lists(_part, min_size=2, max_size=4).map("::".join),
    st.text(min_size=1, max_size=100),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(function_ids, max_size=40))
def test_every_id_round_trips_exactly_through_a_valid_unique_name(ids: list[str]) -> None:
    names = ToolNames(ids)
    sent = [names.name_of(i) for i in set(ids)]
    assert len(set(sent)) == len(sent)
    for function_id in set(ids):
        name = names.name_of(function_id)
        assert NAME_RE.fullmatch(name), name
        assert names.id_of(name) == function_id


@settings(max_examples=200, deadline=None)
@given(st.lists(function_ids, max_size=20, unique=True))
def test_names_do_not_depend_on_the_order_of_ids(ids: list[str]) -> None:
    forward, backward = ToolNames(ids), ToolNames(list(reversed(ids)))
    assert all(forward.name_of(i) == backward.name_of(i) for i in ids)


@pytest.mark.parametrize(("function_id", "name"), [
    ("tools::get_weather", "tools__get_weather"),
    ("math::add_numbers", "math__add_numbers"),
    ("tool::web_search", "tool__web_search"),
    ("a::b::c", "a__b__c"),
    ("kb::search-v2", "kb__search-v2"),
    ("svc::do.it", "svc__do_it"),
])
def test_plain_ids_get_readable_names(function_id: str, name: str) -> None:
    assert ToolNames([function_id]).name_of(function_id) == name


def test_collisions_and_overlong_ids_get_hashed_names_and_still_round_trip() -> None:
    ids = ["a::b_c", "a::b.c", "a::b__c", "a__b::c", "svc::" + "x" * 80, "svc::" + "x" * 81]
    names = ToolNames(ids)
    assert names.name_of("a::b_c") == "a__b_c"  # the lossless id keeps the plain name
    assert names.name_of("a::b.c") != "a__b_c"
    assert {names.name_of("a::b__c"), names.name_of("a__b::c")} >= {"a__b__c"}
    for function_id in ids:
        assert NAME_RE.fullmatch(names.name_of(function_id))
        assert names.id_of(names.name_of(function_id)) == function_id
    assert names.id_of("tools_get_weather") is None
    assert sanitize("::") == "__"


def test_selection_follows_globs_and_keeps_agent_chat_out() -> None:
    caps = Capabilities(tools=["tool::*", "kb::search"])
    assert is_allowed("tool::web_search", caps) and is_allowed("tool::a::b", caps)
    assert is_allowed("kb::search", caps) and not is_allowed("kb::searches", caps)
    assert not is_allowed("Tool::x", caps)  # case-sensitive
    assert not is_allowed("agent::chat", Capabilities(tools=["*"]))
    assert is_allowed("agent::chat", Capabilities(tools=["*"], allow_agent_chat=True))
    assert not is_allowed("anything::x", Capabilities())


def test_schemas_are_never_empty() -> None:
    infos = [
        FunctionInfo(function_id="t::typed", description="Typed",
                     request_format={"type": "object", "properties": {"q": {"type": "string"}},
                                     "required": ["q"]}),
        FunctionInfo(function_id="t::untyped"),
        FunctionInfo(function_id="t::empty", request_format={}),
        FunctionInfo(function_id="t::string", request_format={"type": "string"}),
        FunctionInfo(function_id="t::props_only", request_format={"properties": {"a": {}}}),
        FunctionInfo(function_id="x::other"),
    ]
    tools, names = build_tools(infos, Capabilities(tools=["t::*"]))
    by_id = {t.function_id: t for t in tools}
    assert set(by_id) == {"t::typed", "t::untyped", "t::empty", "t::string", "t::props_only"}
    assert by_id["t::typed"].parameters["required"] == ["q"]
    assert by_id["t::typed"].description == "t::typed: Typed"
    for fid in ("t::untyped", "t::empty", "t::string"):
        assert by_id[fid].parameters == PERMISSIVE_SCHEMA
        assert "No input schema" in by_id[fid].description
    assert by_id["t::props_only"].parameters == {"type": "object", "properties": {"a": {}}}
    openai = by_id["t::typed"].openai()
    assert openai["type"] == "function" and openai["function"]["name"] == "t__typed"
    assert len(names) == 5


def test_results_are_json_and_cut_visibly() -> None:
    assert json.loads(result_content({"a": [1, 2]}, 100)) == {"a": [1, 2]}
    cut = result_content("x" * 500, 100)
    assert cut.startswith('"' + "x" * 99) and "[truncated: 402 of 502 characters cut]" in cut
    assert truncate("short", 10) == "short"
    assert json.loads(error_content("timeout", "too slow", 1000)) == {
        "error": {"code": "timeout", "message": "too slow"}}
