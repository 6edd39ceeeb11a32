"""``agentos approvals``: the human side of tool calls that wait for approval.

::

    agentos approvals list [--status pending] [--agent ID]
    agentos approvals approve ID [--note TEXT] [--by NAME]
    agentos approvals reject ID [--note TEXT] [--by NAME]
    agentos approvals run RUN_ID          the paused (or resumed) agent run behind an approval

Deciding resumes the paused run through the engine's queue (see workers/agent_core/runs.py).
``--by`` defaults to ``cli:<login name>``.
"""

from __future__ import annotations

import getpass
from typing import Annotated, Any

import typer

from .cli import DEFAULT_URL, AsJson, Timeout, Token, Url, _call, _echo_json, format_table

__all__ = ["SUBCOMMANDS", "approvals_app"]

approvals_app = typer.Typer(name="approvals", help="Tool calls waiting for a human's approval.",
                            no_args_is_help=True)
SUBCOMMANDS = (approvals_app,)

ApprovalId = Annotated[str, typer.Argument(help="The approval's id (apr_…).")]
Note = Annotated[str | None, typer.Option("--note", help="Why; shown to the agent on reject.")]
By = Annotated[str | None, typer.Option("--by", help="Who decides (default cli:<login>).")]


def _who(by: str | None) -> str:
    if by:
        return by
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "cli:unknown"


@approvals_app.command("list")
def approvals_list(
    status: Annotated[str | None, typer.Option("--status", help="pending|approved|rejected|expired")] = "pending",
    agent: Annotated[str | None, typer.Option("--agent", help="Only this agent's requests.")] = None,
    url: Url = DEFAULT_URL, token: Token = None, timeout: Timeout = 30.0, as_json: AsJson = False,
) -> None:
    """List approval requests (approval::list), pending ones by default."""
    query: dict[str, Any] = {k: v for k, v in (("status", status), ("agent_id", agent)) if v}
    found = _call(url, token, "approval::list", query, timeout=timeout).get("approvals", [])
    if as_json:
        _echo_json(found)
        return
    rows = [(a["approval_id"], a.get("status") or "-", a.get("agent_id") or "-",
             a.get("function_id") or "-", str(a.get("run_id") or "-")) for a in found]
    typer.echo(format_table(("ID", "STATUS", "AGENT", "FUNCTION", "RUN"), rows))


def _decide(decision: str, approval_id: str, note: str | None, by: str | None, url: str,
            token: str | None, timeout: float) -> None:
    record = _call(url, token, "approval::decide", {"approval_id": approval_id, "decision": decision,
                                                    "by": _who(by), "note": note}, timeout=timeout)
    typer.echo(f"{approval_id}: {record.get('status')} by {record.get('decided_by')}"
               + (f"; run {record.get('run_id')} resumes" if record.get("resume") else ""))


@approvals_app.command("approve")
def approvals_approve(approval_id: ApprovalId, note: Note = None, by: By = None, url: Url = DEFAULT_URL,
                      token: Token = None, timeout: Timeout = 30.0) -> None:
    """Approve a pending request; its run goes on (approval::decide)."""
    _decide("approve", approval_id, note, by, url, token, timeout)


@approvals_app.command("reject")
def approvals_reject(approval_id: ApprovalId, note: Note = None, by: By = None, url: Url = DEFAULT_URL,
                     token: Token = None, timeout: Timeout = 30.0) -> None:
    """Reject a pending request; the agent is told, the call never runs (approval::decide)."""
    _decide("reject", approval_id, note, by, url, token, timeout)


@approvals_app.command("run")
def approvals_run(run_id: Annotated[str, typer.Argument(help="The run id (run_…).")],
                  url: Url = DEFAULT_URL, token: Token = None, timeout: Timeout = 30.0) -> None:
    """Show an agent run that paused for approval: status, pending approvals, result (agent::run_get)."""
    run = _call(url, token, "agent::run_get", {"run_id": run_id}, timeout=timeout)
    _echo_json({k: run.get(k) for k in ("run_id", "agent_id", "session_id", "status", "iterations",
                                        "result", "error")} | {"approvals": [
        {"approval_id": r.get("approval_id"), "function_id": r.get("function_id")}
        for r in run.get("round") or [] if r.get("awaiting")]})
