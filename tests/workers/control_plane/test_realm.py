"""workers/control_plane/realm.py and keys.py (with engine/realm_keys.py): tenants end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.node import Node
from workers.control_plane.realm import scrub
from workers.sdk import AuthenticationError, connect

from .conftest import Stack, code_of, node_config


async def test_only_the_system_role_creates_deletes_and_imports(cp: Stack) -> None:
    for client in (cp.a, cp.worker):
        assert await code_of(client.trigger("realm::create", {"name": "evil"})) == "forbidden"
        assert await code_of(client.trigger("realm::delete", {"realm_id": "a"})) == "forbidden"
        assert await code_of(client.trigger("realm::import", {"bundle": {}})) == "forbidden"
    r = await cp.rest("POST", "/api/realms", "t-a", {"name": "evil"})
    assert r.status_code == 403
    created = await cp.sys.trigger("realm::create", {"name": "Acme", "id": "acme"})
    assert (created["id"], created["status"]) == ("acme", "active")
    assert await code_of(cp.sys.trigger("realm::create", {"name": "again", "id": "acme"})) == "realm_exists"
    assert await code_of(cp.sys.trigger("realm::create", {"name": "x", "id": "default"})) == "invalid_arguments"
    generated = await cp.sys.trigger("realm::create", {"name": "Generated"})
    assert generated["id"].startswith("realm-")
    listed = await cp.sys.trigger("realm::list", {})
    assert sorted(r["id"] for r in listed["realms"]) == sorted(["acme", generated["id"]])


async def test_realm_callers_see_their_own_realm_only(cp: Stack) -> None:
    await cp.sys.trigger("realm::create", {"name": "A", "id": "a"})
    await cp.sys.trigger("realm::create", {"name": "B", "id": "b"})
    assert [r["id"] for r in (await cp.a.trigger("realm::list", {}))["realms"]] == ["a"]
    assert (await cp.a.trigger("realm::get", {}))["name"] == "A"
    assert await code_of(cp.a.trigger("realm::get", {"realm_id": "b"})) == "forbidden"
    r = await cp.rest("GET", "/api/realms/b", "t-a")
    assert r.status_code == 403
    r = await cp.rest("GET", "/api/realms/a", "t-a")
    assert (r.status_code, r.json()["name"]) == (200, "A")
    updated = await cp.sys.trigger("realm::update", {"realm_id": "a", "status": "suspended"})
    assert updated["status"] == "suspended"
    assert await code_of(cp.a.trigger("realm::update", {"status": "active"})) == "forbidden"


async def test_delete_removes_the_data_not_only_the_record(cp: Stack) -> None:
    await cp.sys.trigger("realm::create", {"name": "Doomed", "id": "a"})
    await cp.a.trigger("agent::create", {"name": "helper"})
    await cp.a.trigger("agent::chat", {"agent_id": "helper", "message": "hi", "session_id": "s1"},
                       timeout=30)
    await cp.a.trigger("mission::create", {"title": "m"})
    await cp.a.trigger("pulse::register", {"agent_id": "helper", "schedule": "0 0 1 1 *"})
    await cp.sys.trigger("realm::keys::issue", {"realm_id": "a"})
    before = (await cp.a.trigger("state::list_groups", {}))["groups"]
    assert {"agents", "sessions:helper", "missions", "pulse"} <= set(before)
    await cp.b.trigger("mission::create", {"title": "survivor"})

    out = await cp.sys.trigger("realm::delete", {"realm_id": "a"})
    assert (out["deleted"], out["agents"], out["keys_revoked"]) == (True, 1, 1)
    assert (await cp.a.trigger("state::list_groups", {}))["groups"] == []
    assert (await cp.a.trigger("agent::list", {}))["agents"] == []
    assert await code_of(cp.sys.trigger("realm::get", {"realm_id": "a"})) == "not_found"
    triggers = [t["id"] for t in (await cp.sys.trigger("engine::triggers::list", {}))["triggers"]]
    assert not [t for t in triggers if ":a:" in t or t.endswith(":a")]
    assert (await cp.sys.trigger("realm::keys::list", {}))["keys"] == []
    assert [m["title"] for m in (await cp.b.trigger("mission::list", {}))["missions"]] == ["survivor"]
    assert await code_of(cp.sys.trigger("realm::delete", {"realm_id": "a"})) == "not_found"
    assert await code_of(cp.sys.trigger("realm::delete", {"realm_id": "default"})) == "invalid_arguments"


async def populate(cp: Stack) -> None:
    await cp.sys.trigger("realm::create", {"name": "Source", "id": "a",
                                           "metadata": {"team": "x", "api_key": "sk-live"}})
    await cp.a.trigger("agent::create", {"name": "writer", "system_prompt": "write",
                                         "variables": {"tone": "dry"}})
    await cp.a.trigger("agent::create", {"name": "idle"})
    await cp.a.trigger("agent::pause", {"agent_id": "idle"})
    await cp.a.trigger("hierarchy::set", {"agent_id": "writer", "title": "Lead"})
    await cp.a.trigger("hierarchy::set", {"agent_id": "idle", "reports_to": "writer"})
    root = await cp.a.trigger("directive::create", {"title": "goal", "status": "active"})
    await cp.a.trigger("directive::create", {"title": "sub", "parent_id": root["id"]})
    m = await cp.a.trigger("mission::create", {"title": "task", "directive_id": root["id"]})
    await cp.a.trigger("mission::comment", {"mission_id": m["id"], "body": "note", "author": "me"})
    await cp.sys.trigger("ledger::set_budget", {"realm_id": "a", "agent_id": "writer",
                                                "limit_usd": 3})
    await cp.sys.trigger("council::members", {"realm_id": "a", "members": ["x", "y"]})
    await cp.a.trigger("pulse::register", {"agent_id": "writer", "schedule": "0 0 1 1 *"})
    await cp.a.trigger("state::set", {"scope": "vault", "key": "openai", "value": {"secret": "sk"}})


async def test_export_scrubs_secrets_and_import_round_trips(cp: Stack) -> None:
    await populate(cp)
    bundle = await cp.a.trigger("realm::export", {})
    assert bundle["realm"]["metadata"] == {"team": "x"}  # the api_key is scrubbed
    assert "sk-live" not in str(bundle) and "vault" not in str(bundle)
    assert sorted(a["agent_id"] for a in bundle["agents"]) == ["idle", "writer"]
    for section in ("hierarchy", "directives", "missions", "budgets", "council", "pulse"):
        assert bundle[section], section
    assert await code_of(cp.b.trigger("realm::export", {"realm_id": "a"})) == "forbidden"

    imported = await cp.sys.trigger("realm::import", {"bundle": bundle, "id": "b", "name": "Copy"})
    assert imported["imported"]["agents"] == 2 and imported["realm"]["name"] == "Copy"
    again = await cp.b.trigger("realm::export", {})
    assert {**again, "realm": None} == {**bundle, "realm": None}
    assert (await cp.b.trigger("agent::get", {"agent_id": "idle"}))["status"] == "paused"
    triggers = [t["id"] for t in (await cp.sys.trigger("engine::triggers::list", {}))["triggers"]]
    assert "pulse:b:writer" in triggers
    r = await cp.rest("POST", "/api/realms/a/export", "t-a")
    assert r.status_code == 200 and r.json()["format"] == "agentos.realm/1"
    r = await cp.rest("POST", "/api/realms/import", "t-sys", {"bundle": {"format": "v0"}})
    assert r.status_code == 400


def test_scrub_drops_secret_fields_at_any_depth() -> None:
    value: Any = {"a": 1, "password": "p", "nested": [{"private_key": "k", "max_tokens": 5,
                                                        "access_token": "t", "ok": True}]}
    assert scrub(value) == {"a": 1, "nested": [{"max_tokens": 5, "ok": True}]}


async def test_a_key_issued_at_run_time_authenticates_until_revoked(cp: Stack) -> None:
    await cp.a.trigger("mission::create", {"title": "a's"})
    issued = await cp.sys.trigger("realm::keys::issue", {"realm_id": "a", "name": "ci"})
    key = issued["key"]
    assert issued["active"] is True and issued["key_id"].startswith("key-")
    async with connect(cp.url, workers=[], name="key-client", token=key) as client:
        listed = await client.trigger("mission::list", {})
        assert [m["title"] for m in listed["missions"]] == ["a's"]
        assert await code_of(client.trigger("mission::list", {"realm_id": "b"})) == "forbidden"
    r = await cp.rest("GET", "/api/missions/a", key)
    assert (r.status_code, len(r.json()["missions"])) == (200, 1)
    keys = (await cp.a.trigger("realm::keys::list", {}))["keys"]
    assert [k["key_id"] for k in keys] == [issued["key_id"]] and "hash" not in keys[0]
    assert (await cp.b.trigger("realm::keys::list", {}))["keys"] == []
    assert await code_of(cp.a.trigger("realm::keys::issue", {"realm_id": "a"})) == "forbidden"

    revoked = await cp.sys.trigger("realm::keys::revoke", {"realm_id": "a", "key_id": issued["key_id"]})
    assert revoked["revoked"] is True
    with pytest.raises(AuthenticationError):
        async with connect(cp.url, workers=[], name="late", token=key):
            pass
    r = await cp.rest("GET", "/api/missions/a", key)
    assert r.status_code == 401
    assert await code_of(cp.sys.trigger("realm::keys::revoke", {"key_id": issued["key_id"]})) == "not_found"


async def test_keys_survive_an_engine_restart_on_the_same_store(cp: Stack) -> None:
    issued = await cp.sys.trigger("realm::keys::issue", {"realm_id": "a", "role": "client"})
    db = cp.node.config.state().adapter.config["path"]
    async with Node(node_config(Path(db).parent)) as second:
        port = second.ports["http"]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            r = await http.get("/api/missions/a", headers={"authorization": f"Bearer {issued['key']}"})
            assert r.status_code != 401  # authenticated (no control plane here: 404 no route)
            r = await http.get("/api/missions/a", headers={"authorization": "Bearer nope"})
            assert r.status_code == 401


async def test_unbound_clients_stay_in_the_default_realm(cp: Stack) -> None:
    await cp.a.trigger("mission::create", {"title": "a's"})
    async with connect(cp.url, workers=[], name="unbound", token="t-c") as client:
        assert await code_of(client.trigger("mission::list", {"realm_id": "a"})) == "forbidden"
        assert await code_of(client.trigger("realm::create", {"name": "x"})) == "forbidden"
        await client.trigger("mission::create", {"title": "default's"})
        listed = await client.trigger("mission::list", {})
        assert [m["title"] for m in listed["missions"]] == ["default's"]
    # an unbound worker (an operator's tool) may name a realm
    named = await cp.worker.trigger("mission::list", {"realm_id": "a"})
    assert [m["title"] for m in named["missions"]] == ["a's"]
