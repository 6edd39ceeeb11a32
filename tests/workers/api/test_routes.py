"""The route table: every route is bound and answers; the REST agent routes; /v1/models."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.fakes import Text
from workers.api import ROUTES

from .conftest import Stack, user

SAMPLES: dict[str, tuple[str, dict[str, Any] | None, int]] = {
    # function id → (concrete path, JSON body, expected status)
    "api::chat_completions": ("/v1/chat/completions", {"model": "default", "messages": user("hi")}, 200),
    "api::models_list": ("/v1/models", None, 200),
    "api::models_get": ("/v1/models/agent:probe", None, 200),
    "api::models_get_qualified": ("/v1/models/openai/gpt-4o-mini", None, 200),
    "api::agents_list": ("/api/agents", None, 200),
    "api::agents_create": ("/api/agents", {"name": "fresh"}, 201),
    "api::agents_get": ("/api/agents/probe", None, 200),
    "api::agents_update": ("/api/agents/probe", {"description": "changed"}, 200),
    "api::agents_message": ("/api/agents/probe/message", {"message": "hi"}, 200),
    "api::agents_delete": ("/api/agents/probe", None, 200),
    "api::runs_list": ("/api/runs", None, 200),
    "api::runs_get": ("/api/runs/run_missing", None, 404),
    "api::approvals_list": ("/api/approvals", None, 200),
    "api::approvals_decide": ("/api/approvals/apr_missing", {"decision": "approve"}, 404),
    "api::health": ("/api/health", None, 200),
}


def test_every_route_has_a_sample_and_a_unique_method_and_path() -> None:
    assert {r.function_id for r in ROUTES} == set(SAMPLES)
    assert len({(r.method, r.path) for r in ROUTES}) == len(ROUTES)
    for route in ROUTES:
        assert route.binding().config == {"api_path": route.path, "http_method": route.method}


async def test_every_route_answers(stack: Stack) -> None:
    await stack.create_agent(name="probe")
    stack.fake.script(Text("one"), Text("two"))
    async with stack.http() as http:
        by_id = {r.function_id: r for r in ROUTES}
        for function_id, (path, body, status) in SAMPLES.items():  # delete last: the others need the agent
            route = by_id[function_id]
            response = await http.request(route.method, path, json=body)
            assert response.status_code == status, (route, response.text)
            assert response.headers["content-type"].startswith("application/json")


async def test_agent_crud_over_rest(stack: Stack) -> None:
    async with stack.http() as http:
        created = await http.post("/api/agents", json={"name": "writer", "description": "writes",
                                                       "capabilities": {"tools": ["tools::*"]}})
        assert created.status_code == 201 and created.json()["agent_id"] == "writer"
        duplicate = await http.post("/api/agents", json={"name": "writer"})
        assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "agent_exists"
        invalid = await http.post("/api/agents", json={"name": "Bad Name!"})
        assert invalid.status_code == 400 and invalid.json()["error"]["code"] == "invalid_arguments"
        listed = await http.get("/api/agents")
        assert [a["agent_id"] for a in listed.json()["agents"]] == ["writer"]
        patched = await http.patch("/api/agents/writer", json={"description": "edits", "status": "paused"})
        assert patched.status_code == 200 and patched.json()["description"] == "edits"
        assert [a["agent_id"] for a in (await http.get("/api/agents", params={"status": "paused"})).json()["agents"]] == ["writer"]
        paused = await http.post("/v1/chat/completions", json={"model": "agent:writer", "messages": user("hi")})
        assert paused.status_code == 409 and paused.headers["x-should-retry"] == "false"
        assert (await http.get("/api/agents/writer")).json()["status"] == "paused"
        deleted = await http.delete("/api/agents/writer")
        assert deleted.json() == {"deleted": True, "agent_id": "writer"}
        missing = await http.get("/api/agents/writer")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "agent_not_found"
        not_json = await http.post("/api/agents", content=b"name=x", headers={"content-type": "text/plain"})
        assert not_json.status_code == 400
        both = await http.post("/api/agents/writer/message", json={"message": "a", "messages": user("b")})
        assert both.status_code == 400


async def test_models_list_and_get(stack: Stack) -> None:
    await stack.create_agent(name="helper")
    async with stack.openai() as client:
        listed = await client.models.list()
        ids = [m.id for m in listed.data]
        assert ids[0] == "agent:helper"
        assert {"auto", "default", "fast", "openai/gpt-4o-mini"} <= set(ids)
        assert all(m.object == "model" and isinstance(m.created, int) and m.owned_by for m in listed.data)
        assert (await client.models.retrieve("agent:helper")).id == "agent:helper"
        assert (await client.models.retrieve("default")).id == "default"
        assert (await client.models.retrieve("openai/gpt-4o-mini")).owned_by == "openai"
        with pytest.raises(openai.NotFoundError):
            await client.models.retrieve("agent:nobody")
        with pytest.raises(openai.NotFoundError):
            await client.models.retrieve("nothing-like-it")


async def test_health_reports_the_workers_behind(stack: Stack) -> None:
    async with stack.http() as http:
        health = (await http.get("/api/health")).json()
    assert health["status"] == "ok"
    assert health["checks"] == {"llm_router": True, "agent_core": True, "llm_configured": True}
