"""``agentos hands|workflow``: hands and workflows from the command line.

Each command is one call over the bus (:mod:`engine.cli_client`) with the usual URL, token and
timeout options; errors become the usual one-line message and exit code (``engine.cli.exit_for``).

::

    agentos hands list|run ID|enable ID|disable ID
    agentos workflow run FILE [--input JSON]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from .cli import (
    DEFAULT_URL,
    EXIT_FAILURE,
    EXIT_USAGE,
    AsJson,
    Timeout,
    Token,
    Url,
    _call,
    _echo_json,
    _fail,
    format_table,
)

__all__ = ["SUBCOMMANDS", "hands_app", "workflow_app"]

hands_app = typer.Typer(name="hands", help="Hands: autonomous agents on a schedule.",
                        no_args_is_help=True)
workflow_app = typer.Typer(name="workflow", help="Declarative multi-step workflows.",
                           no_args_is_help=True)
SUBCOMMANDS = (hands_app, workflow_app)

HandId = Annotated[str, typer.Argument(help="The hand's id (hands/<id>/HAND.toml).")]


def _cell(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


@hands_app.command("list")
def hands_list(url: Url = DEFAULT_URL, token: Token = None, timeout: Timeout = 30.0,
               as_json: AsJson = False) -> None:
    """List the hands with their schedule, state and run counts (hand::list)."""
    found = _call(url, token, "hand::list", {}, timeout=timeout).get("hands", [])
    if as_json:
        _echo_json(found)
        return
    rows = [(h["id"], h.get("name") or "-", h.get("schedule") or "-",
             "enabled" if h.get("enabled") else "disabled",
             _cell((h.get("metrics") or {}).get("runs", 0)),
             _cell((h.get("metrics") or {}).get("failures", 0)),
             _cell((h.get("metrics") or {}).get("last_status"))) for h in found]
    typer.echo(format_table(("ID", "NAME", "SCHEDULE", "STATE", "RUNS", "FAILURES", "LAST"), rows))


@hands_app.command("run")
def hands_run(hand_id: HandId, url: Url = DEFAULT_URL, token: Token = None,
              timeout: Timeout = 600.0) -> None:
    """Run a hand now and print its run record (hand::run); exit 1 if the run failed."""
    record = _call(url, token, "hand::run", {"hand_id": hand_id}, timeout=timeout)
    _echo_json(record)
    if not record.get("ok"):
        raise typer.Exit(EXIT_FAILURE)


@hands_app.command("enable")
def hands_enable(hand_id: HandId, url: Url = DEFAULT_URL, token: Token = None,
                 timeout: Timeout = 30.0) -> None:
    """Enable a hand: its agent is created and its cron bound (hand::enable)."""
    _echo_json(_call(url, token, "hand::enable", {"hand_id": hand_id}, timeout=timeout))


@hands_app.command("disable")
def hands_disable(hand_id: HandId, url: Url = DEFAULT_URL, token: Token = None,
                  timeout: Timeout = 30.0) -> None:
    """Disable a hand: its cron is unbound (hand::disable)."""
    _echo_json(_call(url, token, "hand::disable", {"hand_id": hand_id}, timeout=timeout))


@workflow_app.command("run")
def workflow_run(
    file: Annotated[Path, typer.Argument(help="The workflow's YAML file.")],
    input_json: Annotated[str | None, typer.Option("--input", help="The input, as JSON.")] = None,
    url: Url = DEFAULT_URL, token: Token = None, timeout: Timeout = 3600.0,
    as_json: AsJson = False,
) -> None:
    """Run a workflow file to the end (workflow::run) and show each step; exit 1 if it failed."""
    try:
        source = file.read_text(encoding="utf-8")
    except OSError as exc:
        _fail(EXIT_USAGE, f"cannot read {file}: {exc.strerror or exc}")
    data = None
    if input_json is not None:
        try:
            data = json.loads(input_json)
        except ValueError as exc:
            _fail(EXIT_USAGE, f"invalid JSON input: {exc}")
    record = _call(url, token, "workflow::run", {"yaml": source, "input": data}, timeout=timeout)
    if as_json:
        _echo_json(record)
    else:
        rows = [(sid, s.get("status", "-"), str(s.get("attempts", 0)),
                 _cell(s.get("error") or s.get("reason"))[:80])
                for sid, s in (record.get("steps") or {}).items()]
        typer.echo(f"run {record.get('run_id')}: {record.get('status')}")
        typer.echo(format_table(("STEP", "STATUS", "ATTEMPTS", "NOTE"), rows))
    if record.get("status") != "succeeded":
        raise typer.Exit(EXIT_FAILURE)
