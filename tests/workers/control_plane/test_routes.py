"""workers/control_plane/routes.py: every REST route, with the seed's paths and trigger keys."""

from __future__ import annotations

import sys
from typing import Any

from workers.control_plane import ROUTES
from workers.control_plane.routes import bindings, http_payload

from .conftest import Stack

SEED_ROUTES = {
    ("realm::create", "POST", "/api/realms"), ("realm::list", "GET", "/api/realms"),
    ("realm::get", "GET", "/api/realms/:id"), ("realm::update", "PATCH", "/api/realms/:id"),
    ("realm::delete", "DELETE", "/api/realms/:id"),
    ("realm::export", "POST", "/api/realms/:id/export"),
    ("realm::import", "POST", "/api/realms/import"),
    ("hierarchy::set", "POST", "/api/hierarchy"),
    ("hierarchy::tree", "GET", "/api/hierarchy/:realmId/tree"),
    ("hierarchy::find", "GET", "/api/hierarchy/:realmId/find"),
    ("hierarchy::chain", "GET", "/api/hierarchy/:realmId/chain/:agentId"),
    ("hierarchy::remove", "DELETE", "/api/hierarchy/:realmId/:agentId"),
    ("directive::create", "POST", "/api/directives"),
    ("directive::get", "GET", "/api/directives/:realmId/:id"),
    ("directive::list", "GET", "/api/directives/:realmId"),
    ("directive::update", "PATCH", "/api/directives/:realmId/:id"),
    ("directive::ancestry", "GET", "/api/directives/:realmId/:id/ancestry"),
    ("mission::create", "POST", "/api/missions"),
    ("mission::checkout", "POST", "/api/missions/:id/checkout"),
    ("mission::release", "POST", "/api/missions/:id/release"),
    ("mission::transition", "PATCH", "/api/missions/:id/status"),
    ("mission::list", "GET", "/api/missions/:realmId"),
    ("mission::comment", "POST", "/api/missions/:id/comments"),
    ("mission::comments", "GET", "/api/missions/:realmId/:missionId/comments"),
    ("ledger::set_budget", "POST", "/api/ledger/budget"),
    ("ledger::check", "GET", "/api/ledger/check/:realmId/:agentId"),
    ("ledger::spend", "POST", "/api/ledger/spend"),
    ("ledger::summary", "GET", "/api/ledger/summary/:realmId"),
    ("council::submit", "POST", "/api/council/proposals"),
    ("council::decide", "POST", "/api/council/proposals/:id/decide"),
    ("council::proposals", "GET", "/api/council/proposals/:realmId"),
    ("council::override", "POST", "/api/council/override"),
    ("council::activity_log", "GET", "/api/council/activity/:realmId"),
    ("council::verify", "GET", "/api/council/verify/:realmId"),
    ("pulse::register", "POST", "/api/pulse/register"),
    ("pulse::invoke", "POST", "/api/pulse/invoke"),
    ("pulse::status", "GET", "/api/pulse/:realmId/:agentId"),
    ("pulse::toggle", "PATCH", "/api/pulse/:realmId/:agentId"),
    ("bridge::register", "POST", "/api/bridge/runtimes"),
    ("bridge::invoke", "POST", "/api/bridge/invoke"),
    ("bridge::cancel", "POST", "/api/bridge/cancel"),
    ("bridge::list", "GET", "/api/bridge/runtimes"),
    ("bridge::run", "GET", "/api/bridge/runs/:runId"),
}
"""Catalogue §2.2, verbatim."""


def test_the_seed_routes_are_all_served_with_the_engine_keys() -> None:
    table = {(r.function_id, r.method, r.path) for r in ROUTES}
    assert SEED_ROUTES <= table
    assert table - SEED_ROUTES == {
        ("realm::keys::issue", "POST", "/api/realms/:id/keys"),
        ("realm::keys::list", "GET", "/api/realms/:id/keys"),
        ("realm::keys::revoke", "DELETE", "/api/realms/:id/keys/:keyId"),
        ("council::vote", "POST", "/api/council/proposals/:id/vote"),
        ("council::members", "POST", "/api/council/members"),
    }
    assert {b.type for b in bindings()} == {"http"}
    assert all(set(b.config) == {"api_path", "http_method"} for b in bindings())


def test_http_input_becomes_the_payload() -> None:
    data = {"path_params": {"realmId": "a", "id": "mis-1"}, "query_params": {"x": "1"},
            "body": {"realm_id": "evil", "title": "t"}, "trigger": {"type": "http"}}
    assert http_payload("mission::checkout", data) == {
        "realm_id": "a", "mission_id": "mis-1", "x": "1", "title": "t"}
    assert http_payload("mission::checkout", {"mission_id": "m"}) is None


def route_of(method: str, path: str) -> str:
    """The function of the route serving ``method path`` (literal segments beat parameters)."""
    segments = path.strip("/").split("/")
    fits = [r for r in ROUTES if r.method == method
            and len(r.path.strip("/").split("/")) == len(segments)
            and all(p.startswith(":") or p == s
                    for p, s in zip(r.path.strip("/").split("/"), segments, strict=True))]
    return max(fits, key=lambda r: sum(not p.startswith(":") for p in r.path.split("/"))).function_id


async def test_every_route_answers_through_its_function(cp: Stack) -> None:
    ids: dict[str, Any] = {}
    await cp.sys.trigger("realm::create", {"name": "A", "id": "a"})
    await cp.a.trigger("agent::create", {"name": "ag"})
    echo = [sys.executable, "-c", "import sys, json; json.load(sys.stdin); print('{}')"]

    def body_of(key: str, field: str) -> Any:
        return lambda r: ids.__setitem__(key, r.json()[field])

    steps: list[tuple[str, str, int, Any, Any]] = [
        # method, path (formatted with ids), expected status, JSON body, what to remember
        ("POST", "/api/realms", 201, {"name": "R2", "id": "r2"}, None),
        ("GET", "/api/realms", 200, None, None),
        ("GET", "/api/realms/a", 200, None, None),
        ("PATCH", "/api/realms/a", 200, {"description": "the a realm"}, None),
        ("POST", "/api/realms/a/keys", 201, {"role": "client"}, body_of("key", "key_id")),
        ("GET", "/api/realms/a/keys", 200, None, None),
        ("DELETE", "/api/realms/a/keys/{key}", 200, None, None),
        ("POST", "/api/hierarchy", 200, {"realm_id": "a", "agent_id": "boss",
                                         "capabilities": ["lead"]}, None),
        ("GET", "/api/hierarchy/a/tree", 200, None, None),
        ("GET", "/api/hierarchy/a/find?capability=LEAD", 200, None, None),
        ("GET", "/api/hierarchy/a/chain/boss", 200, None, None),
        ("DELETE", "/api/hierarchy/a/boss", 200, None, None),
        ("POST", "/api/directives", 201, {"realm_id": "a", "title": "goal"}, body_of("d", "id")),
        ("GET", "/api/directives/a/{d}", 200, None, None),
        ("GET", "/api/directives/a", 200, None, None),
        ("PATCH", "/api/directives/a/{d}", 200, {"expectedVersion": 1, "status": "active"}, None),
        ("GET", "/api/directives/a/{d}/ancestry", 200, None, None),
        ("POST", "/api/missions", 201, {"realm_id": "a", "title": "task"}, body_of("m", "id")),
        ("POST", "/api/missions/{m}/checkout", 200, {"realm_id": "a", "agent_id": "ag"}, None),
        ("POST", "/api/missions/{m}/checkout", 409, {"realm_id": "a", "agent_id": "other"}, None),
        ("POST", "/api/missions/{m}/release", 200, {"realm_id": "a", "agent_id": "ag"}, None),
        ("PATCH", "/api/missions/{m}/status", 200, {"realm_id": "a", "status": "in_progress"}, None),
        ("GET", "/api/missions/a", 200, None, None),
        ("POST", "/api/missions/{m}/comments", 201, {"realm_id": "a", "body": "hi"}, None),
        ("GET", "/api/missions/a/{m}/comments", 200, None, None),
        ("POST", "/api/ledger/budget", 200, {"realm_id": "a", "agent_id": "ag", "limit_usd": 1}, None),
        ("GET", "/api/ledger/check/a/ag?estimated_cost=0.5", 200, None, None),
        ("POST", "/api/ledger/spend", 200, {"realm_id": "a", "agent_id": "ag", "cost_usd": 0.1}, None),
        ("GET", "/api/ledger/summary/a", 200, None, None),
        ("POST", "/api/council/members", 200, {"realm_id": "a", "members": ["x"], "quorum": 1}, None),
        ("POST", "/api/council/proposals", 201, {"realm_id": "a", "type": "custom"}, body_of("p", "id")),
        ("POST", "/api/council/proposals", 201, {"realm_id": "a", "type": "custom"}, body_of("q", "id")),
        ("POST", "/api/council/proposals/{p}/vote", 200, {"realm_id": "a", "member": "x",
                                                          "vote": "reject"}, None),
        ("POST", "/api/council/proposals/{q}/decide", 200, {"realm_id": "a", "member": "x",
                                                            "decision": "approve"}, None),
        ("POST", "/api/council/proposals/{q}/decide", 409, {"realm_id": "a", "member": "x",
                                                            "decision": "approve"}, None),
        ("GET", "/api/council/proposals/a", 200, None, None),
        ("POST", "/api/council/override", 200, {"realm_id": "a", "agent_id": "ag",
                                                "action": "pause"}, None),
        ("GET", "/api/council/activity/a", 200, None, None),
        ("GET", "/api/council/verify/a", 200, None, None),
        ("POST", "/api/pulse/register", 201, {"realm_id": "a", "agent_id": "ag",
                                              "schedule": "0 0 1 1 *"}, None),
        ("POST", "/api/pulse/invoke", 200, {"realm_id": "a", "agent_id": "ag"}, None),
        ("GET", "/api/pulse/a/ag", 200, None, None),
        ("PATCH", "/api/pulse/a/ag", 200, {"enabled": False}, None),
        ("POST", "/api/bridge/runtimes", 201, {"name": "echo", "kind": "process",
                                               "command": echo}, None),
        ("GET", "/api/bridge/runtimes", 200, None, None),
        ("POST", "/api/bridge/invoke", 200, {"realm_id": "a", "runtime": "echo"},
         body_of("run", "run_id")),
        ("POST", "/api/bridge/cancel", 200, lambda: {"realm_id": "a", "run_id": ids["run"]}, None),
        ("GET", "/api/bridge/runs/{run}?realm_id=a", 200, None, None),
        ("POST", "/api/realms/a/export", 200, None, lambda r: ids.__setitem__("bundle", r.json())),
        ("POST", "/api/realms/import", 201, lambda: {"bundle": ids["bundle"], "id": "r3"}, None),
        ("DELETE", "/api/realms/r2", 200, None, None),
        ("GET", "/api/realms/r2", 404, None, None),
    ]
    served: set[tuple[str, str]] = set()
    for method, path, status, body, remember in steps:
        url = path.format(**ids)
        r = await cp.rest(method, url, "t-sys", body() if callable(body) else body)
        assert r.status_code == status, (method, url, r.status_code, r.text)
        if status >= 400:
            assert r.json()["error"]["code"] not in ("NOT_FOUND", "METHOD_NOT_ALLOWED"), r.text
        if remember is not None:
            remember(r)
        served.add((method, url.split("?")[0]))
    assert {route_of(method, path) for method, path in served} == {r.function_id for r in ROUTES}


async def test_errors_become_statuses_and_realm_tokens_stay_home(cp: Stack) -> None:
    r = await cp.rest("POST", "/api/missions", "t-a", {"title": ""})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_arguments")
    r = await cp.rest("GET", "/api/directives/a/dir-nope", "t-a")
    assert (r.status_code, r.json()["error"]["code"]) == (404, "not_found")
    m = (await cp.rest("POST", "/api/missions", "t-a", {"title": "mine", "realm_id": "b"}))
    assert m.status_code == 403
    m = (await cp.rest("POST", "/api/missions", "t-a", {"title": "mine"})).json()
    r = await cp.rest("POST", f"/api/missions/{m['id']}/checkout", "t-b", {"agent_id": "thief"})
    assert r.status_code == 404  # realm b has no such mission
    r = await cp.rest("GET", "/api/missions/a", "nope")
    assert r.status_code == 401
