"""``agentos realm|mission|ledger``: the control plane from the command line.

Each command is one call to a control-plane function over the bus (:mod:`engine.cli_client`),
with the same URL, token and timeout options as the other client commands; errors become the
usual one-line message and exit code (``engine.cli.exit_for``). The realm a command acts in is
the token's: a realm-bound key acts in its realm, the system token in the default realm unless
``--realm`` names one.

::

    agentos realm create|list|get|delete|issue-key
    agentos mission create|list|checkout|transition
    agentos ledger set-budget|summary|check
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .cli import DEFAULT_URL, AsJson, Timeout, Token, Url, _call, _echo_json, format_table

__all__ = ["SUBCOMMANDS", "ledger_app", "mission_app", "realm_app"]

realm_app = typer.Typer(name="realm", help="Realms (tenants) and their API keys.",
                        no_args_is_help=True)
mission_app = typer.Typer(name="mission", help="Missions: create, list, check out, move.",
                          no_args_is_help=True)
ledger_app = typer.Typer(name="ledger", help="Budgets and spend.", no_args_is_help=True)
SUBCOMMANDS: tuple[typer.Typer, ...] = (realm_app, mission_app, ledger_app)

Realm = Annotated[str | None, typer.Option("--realm", help="Realm id (operators; 'default' "
                                                           "names the default realm).")]


def _with_realm(payload: dict[str, Any], realm: str | None) -> dict[str, Any]:
    return {**payload, "realm_id": realm} if realm else payload


def _cell(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


# ---- realm ---------------------------------------------------------------------------------------


@realm_app.command("create")
def realm_create(name: Annotated[str, typer.Argument(help="Display name.")],
                 realm_id: Annotated[str | None, typer.Option("--id", help="Realm id "
                                                              "(default: realm-<random>).")] = None,
                 description: Annotated[str, typer.Option("--description")] = "",
                 url: Url = DEFAULT_URL, token: Token = None, timeout: Timeout = 30.0) -> None:
    """Create a realm (system token)."""
    payload: dict[str, Any] = {"name": name, "description": description}
    if realm_id:
        payload["id"] = realm_id
    _echo_json(_call(url, token, "realm::create", payload, timeout=timeout))


@realm_app.command("list")
def realm_list(url: Url = DEFAULT_URL, token: Token = None, timeout: Timeout = 30.0,
               as_json: AsJson = False) -> None:
    """List realms (a realm key sees its own realm)."""
    realms = _call(url, token, "realm::list", {}, timeout=timeout).get("realms", [])
    if as_json:
        _echo_json(realms)
        return
    rows = [(_cell(r.get("id")), _cell(r.get("name")), _cell(r.get("status"))) for r in realms]
    typer.echo(format_table(("ID", "NAME", "STATUS"), rows))


@realm_app.command("get")
def realm_get(realm_id: Annotated[str, typer.Argument(help="Realm id.")],
              url: Url = DEFAULT_URL, token: Token = None, timeout: Timeout = 30.0) -> None:
    """Show a realm record."""
    _echo_json(_call(url, token, "realm::get", {"realm_id": realm_id}, timeout=timeout))


@realm_app.command("delete")
def realm_delete(realm_id: Annotated[str, typer.Argument(help="Realm id.")],
                 yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
                 url: Url = DEFAULT_URL, token: Token = None, timeout: Timeout = 60.0) -> None:
    """Delete a realm and all of its data (system token)."""
    if not yes:
        typer.confirm(f"Delete realm {realm_id} and all of its data?", abort=True)
    _echo_json(_call(url, token, "realm::delete", {"realm_id": realm_id}, timeout=timeout))


@realm_app.command("issue-key")
def realm_issue_key(realm_id: Annotated[str, typer.Argument(help="Realm id.")],
                    role: Annotated[str, typer.Option("--role", help="client or worker.")] = "client",
                    name: Annotated[str | None, typer.Option("--name")] = None,
                    url: Url = DEFAULT_URL, token: Token = None, timeout: Timeout = 30.0) -> None:
    """Issue an API key for a realm; the key is printed once (system token)."""
    issued = _call(url, token, "realm::keys::issue",
                   {"realm_id": realm_id, "role": role, "name": name}, timeout=timeout)
    typer.echo(issued["key"])
    typer.echo(f"key_id={issued['key_id']} realm={issued['realm']} role={issued['role']} "
               "(the key is not shown again)", err=True)


# ---- mission -------------------------------------------------------------------------------------


@mission_app.command("create")
def mission_create(title: Annotated[str, typer.Argument()],
                   description: Annotated[str, typer.Option("--description")] = "",
                   priority: Annotated[str, typer.Option("--priority")] = "medium",
                   status: Annotated[str, typer.Option("--status", help="backlog or todo.")] = "backlog",
                   realm: Realm = None, url: Url = DEFAULT_URL, token: Token = None,
                   timeout: Timeout = 30.0) -> None:
    """Create a mission."""
    payload = {"title": title, "description": description, "priority": priority,
               "status": status}
    _echo_json(_call(url, token, "mission::create", _with_realm(payload, realm), timeout=timeout))


@mission_app.command("list")
def mission_list(status: Annotated[str | None, typer.Option("--status")] = None,
                 realm: Realm = None, url: Url = DEFAULT_URL, token: Token = None,
                 timeout: Timeout = 30.0, as_json: AsJson = False) -> None:
    """List missions."""
    payload = {"status": status} if status else {}
    missions = _call(url, token, "mission::list", _with_realm(payload, realm),
                     timeout=timeout).get("missions", [])
    if as_json:
        _echo_json(missions)
        return
    rows = [(_cell(m.get("id")), _cell(m.get("status")), _cell(m.get("assignee")),
             _cell(m.get("title"))) for m in missions]
    typer.echo(format_table(("ID", "STATUS", "ASSIGNEE", "TITLE"), rows))


@mission_app.command("checkout")
def mission_checkout(mission_id: Annotated[str, typer.Argument()],
                     agent_id: Annotated[str, typer.Argument()],
                     realm: Realm = None, url: Url = DEFAULT_URL, token: Token = None,
                     timeout: Timeout = 30.0) -> None:
    """Check a mission out to an agent (exit 1 with already_checked_out if someone holds it)."""
    payload = {"mission_id": mission_id, "agent_id": agent_id}
    _echo_json(_call(url, token, "mission::checkout", _with_realm(payload, realm), timeout=timeout))


@mission_app.command("transition")
def mission_transition(mission_id: Annotated[str, typer.Argument()],
                       status: Annotated[str, typer.Argument(help="The new status.")],
                       agent_id: Annotated[str | None, typer.Option("--agent")] = None,
                       realm: Realm = None, url: Url = DEFAULT_URL, token: Token = None,
                       timeout: Timeout = 30.0) -> None:
    """Move a mission to another status."""
    payload: dict[str, Any] = {"mission_id": mission_id, "status": status}
    if agent_id:
        payload["agent_id"] = agent_id
    _echo_json(_call(url, token, "mission::transition", _with_realm(payload, realm),
                     timeout=timeout))


# ---- ledger --------------------------------------------------------------------------------------


@ledger_app.command("set-budget")
def ledger_set_budget(limit_usd: Annotated[float, typer.Argument(min=0, help="The limit in USD.")],
                      agent_id: Annotated[str | None, typer.Option("--agent", help="Default: "
                                                                   "the realm's budget.")] = None,
                      soft: Annotated[float, typer.Option("--soft", min=0, max=1)] = 0.8,
                      period: Annotated[str, typer.Option("--period")] = "monthly",
                      hard: Annotated[bool, typer.Option("--hard/--soft-only")] = True,
                      realm: Realm = None, url: Url = DEFAULT_URL, token: Token = None,
                      timeout: Timeout = 30.0) -> None:
    """Set an agent's or the realm's budget (system token)."""
    payload: dict[str, Any] = {"limit_usd": limit_usd, "soft_threshold": soft, "period": period,
                               "hard": hard}
    if agent_id:
        payload["agent_id"] = agent_id
    _echo_json(_call(url, token, "ledger::set_budget", _with_realm(payload, realm),
                     timeout=timeout))


@ledger_app.command("summary")
def ledger_summary(agent_id: Annotated[str | None, typer.Option("--agent")] = None,
                   period: Annotated[str, typer.Option("--period", help="all, monthly or "
                                                       "daily.")] = "all",
                   realm: Realm = None, url: Url = DEFAULT_URL, token: Token = None,
                   timeout: Timeout = 30.0, as_json: AsJson = False) -> None:
    """Spend by agent, model and provider."""
    payload: dict[str, Any] = {"period": period}
    if agent_id:
        payload["agent_id"] = agent_id
    summary = _call(url, token, "ledger::summary", _with_realm(payload, realm), timeout=timeout)
    if as_json:
        _echo_json(summary)
        return
    rows = [(kind, key, f"{row['cost_usd']:.6f}", str(row["requests"]))
            for kind in ("agent", "model", "provider")
            for key, row in sorted(summary.get(f"by_{kind}", {}).items())]
    typer.echo(format_table(("BY", "KEY", "COST_USD", "REQUESTS"), rows))
    typer.echo(f"total_usd {summary.get('total_usd', 0.0):.6f}")


@ledger_app.command("check")
def ledger_check(agent_id: Annotated[str, typer.Argument()],
                 estimated_cost: Annotated[float, typer.Option("--estimated-cost", min=0)] = 0.0,
                 realm: Realm = None, url: Url = DEFAULT_URL, token: Token = None,
                 timeout: Timeout = 30.0) -> None:
    """May the agent spend now? Exit 1 when the ledger refuses."""
    payload = {"agent_id": agent_id, "estimated_cost": estimated_cost}
    answer = _call(url, token, "ledger::check", _with_realm(payload, realm), timeout=timeout)
    _echo_json(answer)
    if not answer.get("allowed"):
        raise typer.Exit(1)
