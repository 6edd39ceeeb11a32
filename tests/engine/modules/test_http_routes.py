"""The HTTP module's pure parts: the route table and the request/response shapes. No event loop."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.modules.http_exchange import body_frames
from engine.modules.http_routes import (
    InvalidRoute,
    RouteConflict,
    RouteTable,
    parse_route,
    split_path,
)
from engine.modules.http_wire import (
    Cors,
    Head,
    apply_control,
    clean_header,
    envelope,
    parse_query,
    reply_from_result,
    request_id_of,
)


def route(trigger_id: str, path: str, method: str = "GET", **extra: Any) -> Any:
    return parse_route(trigger_id, f"f::{trigger_id}", {"api_path": path, "http_method": method, **extra})


# -- parsing a binding ---------------------------------------------------------------------------

@pytest.mark.parametrize(("api_path", "expected"), [
    ("t/x", "/t/x"), ("/t/x", "/t/x"), ("/t//x/", "/t/x"), ("/", "/"), ("users/:id", "/users/:id"),
])
def test_paths_are_normalised(api_path: str, expected: str) -> None:
    assert route("a", api_path).path == expected


def test_method_is_case_insensitive() -> None:
    assert route("a", "x", "post").method == "POST"


@pytest.mark.parametrize(("config", "needle"), [
    ({"http_method": "GET"}, "api_path"),
    ({"api_path": "", "http_method": "GET"}, "api_path"),
    ({"api_path": "x"}, "http_method"),
    ({"api_path": "x", "http_method": "FETCH"}, "unknown http_method"),
    ({"api_path": "x/:", "http_method": "GET"}, "without a name"),
    ({"api_path": "x/:a/:a", "http_method": "GET"}, "repeats"),
    ({"api_path": "x?y=1", "http_method": "GET"}, "may not contain"),
    ({"api_path": "x", "http_method": "GET", "condition_function_id": 3}, "condition_function_id"),
    ({"api_path": "x", "http_method": "GET", "middleware_function_ids": "m::a"}, "middleware_function_ids"),
])
def test_bad_configs_are_refused(config: dict[str, Any], needle: str) -> None:
    with pytest.raises(InvalidRoute, match=needle):
        parse_route("t", "f::g", config)


def test_a_config_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidRoute):
        parse_route("t", "f::g", "GET /x")


# -- the table -------------------------------------------------------------------------------------

def test_static_and_param_routes_match() -> None:
    table = RouteTable()
    table.add(route("a", "users/:id"))
    table.add(route("b", "users/me"))
    table.add(route("c", "users/:id/posts/:post"))
    me = table.match("GET", ("users", "me"))
    assert me is not None and me.route.trigger_id == "b" and me.path_params == {}
    one = table.match("GET", ("users", "42"))
    assert one is not None and one.route.trigger_id == "a" and one.path_params == {"id": "42"}
    post = table.match("GET", ("users", "42", "posts", "7"))
    assert post is not None and post.path_params == {"id": "42", "post": "7"}
    assert table.match("GET", ("users",)) is None
    assert table.match("POST", ("users", "42")) is None


def test_literal_beats_parameter_at_the_first_difference() -> None:
    table = RouteTable()
    table.add(route("p", ":a/b"))
    table.add(route("l", "a/:b"))
    found = table.match("GET", ("a", "b"))
    assert found is not None and found.route.trigger_id == "l"


def test_same_shape_is_a_conflict_but_rebinding_the_same_trigger_replaces() -> None:
    table = RouteTable()
    table.add(route("a", "users/:id"))
    with pytest.raises(RouteConflict, match="already served by trigger a"):
        table.add(route("b", "users/:uid"))
    table.add(route("b", "users/:uid", "POST"))  # another method is another route
    table.add(route("a", "accounts/:id"))  # same trigger id: the old route goes
    assert table.match("GET", ("users", "1")) is None
    assert len(table) == 2


def test_remove_and_allowed_methods() -> None:
    table = RouteTable()
    table.add(route("g", "x"))
    table.add(route("p", "x", "POST"))
    assert table.allowed(("x",)) == ["GET", "HEAD", "POST"]
    assert table.remove("g") is not None
    assert table.remove("g") is None
    assert table.allowed(("x",)) == ["POST"]
    assert table.allowed(("y",)) == []


def test_head_falls_back_to_get() -> None:
    table = RouteTable()
    table.add(route("g", "x"))
    found = table.match("HEAD", ("x",))
    assert found is not None and found.route.trigger_id == "g"


def test_split_path() -> None:
    assert split_path("//a/b//") == ("a", "b")


# -- request and response shapes ------------------------------------------------------------------

def test_reply_defaults_to_json() -> None:
    reply = reply_from_result({"status_code": 201, "body": {"a": 1}, "headers": {"X-A": "1"}})
    assert reply.status == 201
    assert json.loads(reply.body) == {"a": 1}
    assert (b"x-a", b"1") in reply.headers and (b"content-type", b"application/json") in reply.headers


def test_reply_without_body_is_empty_object_as_in_iii() -> None:
    assert reply_from_result({"status_code": 202}).body == b"{}"
    assert reply_from_result({}).status == 200


def test_reply_non_object_result_is_the_body() -> None:
    assert json.loads(reply_from_result([1, 2]).body) == [1, 2]


def test_reply_keeps_a_string_body_with_its_content_type() -> None:
    reply = reply_from_result({"headers": ["Content-Type: text/xml", "no-colon", 3], "body": "<a/>"})
    assert reply.body == b"<a/>" and reply.headers == [(b"content-type", b"text/xml")]


def test_reply_bytes_body() -> None:
    reply = reply_from_result({"body": b"\x00\x01"})
    assert reply.body == b"\x00\x01" and (b"content-type", b"application/octet-stream") in reply.headers


def test_reply_bad_status_and_no_body_statuses() -> None:
    assert reply_from_result({"status_code": "x"}).status == 200
    assert reply_from_result({"status_code": 99}).status == 200
    assert reply_from_result({"status_code": True}).status == 200
    empty = reply_from_result({"status_code": 204, "body": {"a": 1}})
    assert empty.body == b"" and not empty.headers


@pytest.mark.parametrize(("name", "value"), [
    ("x-a", "v\r\nSet-Cookie: evil=1"), ("bad name", "v"), ("content-length", "5"), ("transfer-encoding", "chunked"),
    ("x-a", None), ("x-a", True), ("x-a", "caf\u00e9\u2603"),
])
def test_unsafe_headers_are_dropped(name: str, value: Any) -> None:
    assert clean_header(name, value) is None


def test_control_frames() -> None:
    head = Head()
    assert apply_control('{"type":"set_status","status_code":201}', head)
    assert apply_control('{"type":"set_headers","headers":{"a":"1","b":2}}', head)
    assert not apply_control('{"type":"set_status","status_code":1000}', head)
    assert not apply_control("not json", head)
    assert not apply_control("[1]", head)
    assert head.status == 201 and head.headers == {"a": "1"}


def test_envelope_and_request_id() -> None:
    assert json.loads(envelope("NOT_FOUND", "no", error_id="e1", skipped=True)) == {
        "error": {"code": "NOT_FOUND", "message": "no", "error_id": "e1"}, "skipped": True}
    assert request_id_of("abc-123_x.y:z") == "abc-123_x.y:z"
    assert request_id_of("has space") is None
    assert request_id_of("x" * 129) is None
    assert request_id_of(None) is None


def test_query_last_value_wins_and_blanks_kept() -> None:
    assert parse_query(b"a=1&a=2&b=&c=%C3%A9") == {"a": "2", "b": "", "c": "\u00e9"}
    assert parse_query(b"") == {}


def test_cors_any_and_listed_origins() -> None:
    anyone = Cors.of([], [])
    assert (b"access-control-allow-origin", b"*") in anyone.headers_for("https://x")
    assert anyone.headers_for(None) == []
    listed = Cors.of(["https://a"], ["get", "POST"])
    assert (b"vary", b"origin") in listed.headers_for("https://a")
    assert listed.headers_for("https://b") == []
    assert listed.preflight("https://a", "DELETE", None) is None
    assert listed.preflight("https://b", "GET", None) is None
    allowed = listed.preflight("https://a", "post", "content-type")
    assert allowed is not None and (b"access-control-allow-methods", b"GET, POST") in allowed
    assert (b"access-control-allow-headers", b"content-type") in allowed


def test_body_frames() -> None:
    assert body_frames(b"", 10) == []
    assert [len(f) for f in body_frames(b"x" * (64 * 1024 + 1), 10)] == [64 * 1024, 1]
    big = body_frames(b"x" * (64 * 1024 * 8), 4)
    assert len(big) == 4 and b"".join(big) == b"x" * (64 * 1024 * 8)
