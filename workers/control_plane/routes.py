"""The REST routes of the control plane on :3111, and the translation of HTTP exchanges.

Every route binds the control-plane function itself with the ``http`` trigger and the keys the
engine reads, ``{api_path, http_method}`` (the seed's crates used ``{method, path}``, so their
routes were never bound). The handler then gets the engine's HTTP input
``{path_params, query_params, headers, body, trigger: {type: "http"}, …}``; :func:`define`
recognises it and:

* builds the function's payload from the JSON body, then the query parameters, then the path
  parameters (later wins, so a path's ``:realmId`` cannot be overridden by the body); path
  parameters are renamed to the payload's snake_case keys (``:realmId`` → ``realm_id``, and
  ``:id`` to the id of the route's noun, e.g. ``mission_id``);
* answers ``{status_code, body}``: 201 for creations, 200 otherwise, and for a refusal the
  status of its code (:data:`~workers.control_plane.errors.HTTP_STATUS`) with
  ``{"error": {"code", "message"}}``.

The realm of a REST call is the credential's (the Bearer token); ``:realmId`` only selects a
realm for realm-unbound (operator) tokens, and a realm-bound token naming another realm is
refused with 403. Called over the bus, the same functions take their payload as is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from workers.sdk import Context, FunctionDef, InvocationError, TriggerBinding, function

from .errors import status_of

__all__ = ["ROUTES", "Route", "bindings", "define", "http_payload"]

Handler = Callable[[Any, Context], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Route:
    function_id: str
    method: str
    path: str


ROUTES: tuple[Route, ...] = tuple(Route(f, m, p) for f, m, p in (
    # realm (seed) and realm API keys (ours)
    ("realm::create", "POST", "/api/realms"),
    ("realm::list", "GET", "/api/realms"),
    ("realm::get", "GET", "/api/realms/:id"),
    ("realm::update", "PATCH", "/api/realms/:id"),
    ("realm::delete", "DELETE", "/api/realms/:id"),
    ("realm::export", "POST", "/api/realms/:id/export"),
    ("realm::import", "POST", "/api/realms/import"),
    ("realm::keys::issue", "POST", "/api/realms/:id/keys"),
    ("realm::keys::list", "GET", "/api/realms/:id/keys"),
    ("realm::keys::revoke", "DELETE", "/api/realms/:id/keys/:keyId"),
    # hierarchy
    ("hierarchy::set", "POST", "/api/hierarchy"),
    ("hierarchy::tree", "GET", "/api/hierarchy/:realmId/tree"),
    ("hierarchy::find", "GET", "/api/hierarchy/:realmId/find"),
    ("hierarchy::chain", "GET", "/api/hierarchy/:realmId/chain/:agentId"),
    ("hierarchy::remove", "DELETE", "/api/hierarchy/:realmId/:agentId"),
    # directive
    ("directive::create", "POST", "/api/directives"),
    ("directive::get", "GET", "/api/directives/:realmId/:id"),
    ("directive::list", "GET", "/api/directives/:realmId"),
    ("directive::update", "PATCH", "/api/directives/:realmId/:id"),
    ("directive::ancestry", "GET", "/api/directives/:realmId/:id/ancestry"),
    # mission
    ("mission::create", "POST", "/api/missions"),
    ("mission::checkout", "POST", "/api/missions/:id/checkout"),
    ("mission::release", "POST", "/api/missions/:id/release"),
    ("mission::transition", "PATCH", "/api/missions/:id/status"),
    ("mission::list", "GET", "/api/missions/:realmId"),
    ("mission::comment", "POST", "/api/missions/:id/comments"),
    ("mission::comments", "GET", "/api/missions/:realmId/:missionId/comments"),
    # ledger
    ("ledger::set_budget", "POST", "/api/ledger/budget"),
    ("ledger::check", "GET", "/api/ledger/check/:realmId/:agentId"),
    ("ledger::spend", "POST", "/api/ledger/spend"),
    ("ledger::summary", "GET", "/api/ledger/summary/:realmId"),
    # council (members and vote are ours)
    ("council::submit", "POST", "/api/council/proposals"),
    ("council::decide", "POST", "/api/council/proposals/:id/decide"),
    ("council::vote", "POST", "/api/council/proposals/:id/vote"),
    ("council::proposals", "GET", "/api/council/proposals/:realmId"),
    ("council::override", "POST", "/api/council/override"),
    ("council::members", "POST", "/api/council/members"),
    ("council::activity_log", "GET", "/api/council/activity/:realmId"),
    ("council::verify", "GET", "/api/council/verify/:realmId"),
    # pulse
    ("pulse::register", "POST", "/api/pulse/register"),
    ("pulse::invoke", "POST", "/api/pulse/invoke"),
    ("pulse::status", "GET", "/api/pulse/:realmId/:agentId"),
    ("pulse::toggle", "PATCH", "/api/pulse/:realmId/:agentId"),
    # bridge
    ("bridge::register", "POST", "/api/bridge/runtimes"),
    ("bridge::invoke", "POST", "/api/bridge/invoke"),
    ("bridge::cancel", "POST", "/api/bridge/cancel"),
    ("bridge::list", "GET", "/api/bridge/runtimes"),
    ("bridge::run", "GET", "/api/bridge/runs/:runId"),
))
"""Every route: the seed's paths (catalogue §2.2), plus realm keys, council members and votes."""

_PARAMS = {"realmId": "realm_id", "agentId": "agent_id", "missionId": "mission_id",
           "runId": "run_id", "keyId": "key_id"}
_ID_OF = {"realm": "realm_id", "directive": "directive_id", "mission": "mission_id",
          "council": "proposal_id"}
_CREATED = frozenset({"realm::create", "realm::import", "realm::keys::issue", "directive::create",
                      "mission::create", "mission::comment", "council::submit",
                      "bridge::register", "pulse::register"})


def bindings() -> list[TriggerBinding]:
    """The ``http`` trigger bindings of every route, with the engine's config keys."""
    return [TriggerBinding("http", r.function_id, {"api_path": r.path, "http_method": r.method})
            for r in ROUTES]


def http_payload(function_id: str, data: Any) -> dict[str, Any] | None:
    """The payload of an HTTP exchange's input, or None when ``data`` is not one (a bus call)."""
    if not isinstance(data, dict) or not isinstance(data.get("path_params"), dict):
        return None
    trigger = data.get("trigger")
    if not isinstance(trigger, dict) or trigger.get("type") != "http":
        return None
    payload: dict[str, Any] = {}
    body = data.get("body")
    if isinstance(body, dict):
        payload.update(body)
    query = data.get("query_params")
    if isinstance(query, dict):
        payload.update(query)
    noun = function_id.split("::", 1)[0]
    for name, value in data["path_params"].items():
        key = _ID_OF.get(noun, "id") if name == "id" else _PARAMS.get(name, name)
        payload[key] = value
    return payload


def _error_reply(exc: InvocationError) -> dict[str, Any]:
    return {"status_code": status_of(exc.code),
            "body": {"error": {"code": exc.code, "message": exc.message}}}


def define(function_id: str, handler: Handler, description: str,
           request_model: type[BaseModel] | None = None) -> FunctionDef:
    """The function ``function_id`` served by ``handler``, answering HTTP exchanges as HTTP.

    Args:
        handler: ``async (payload, ctx) -> result``; raise an ``InvocationError`` to refuse.
        request_model: its JSON Schema becomes the function's ``request_format``.
    """

    async def serve(data: Any, ctx: Context) -> Any:
        payload = http_payload(function_id, data)
        if payload is None:
            return await handler(data, ctx)
        try:
            result = await handler(payload, ctx)
        except InvocationError as exc:
            return _error_reply(exc)
        return {"status_code": 201 if function_id in _CREATED else 200, "body": result}

    serve.__name__ = serve.__qualname__ = function_id.replace("::", "_")
    schema = request_model.model_json_schema() if request_model is not None else None
    return FunctionDef.of(function(function_id, description=description,
                                   request_format=schema)(serve))
