"""``agentos``: start a node, or ask a running one about itself.

Each command parses its arguments, loads what it needs, calls the library and maps errors to an
exit code and a one-line message on stderr (never a traceback; ``--log-level debug`` logs it).
stdout carries only what scripts read: the readiness line of ``start`` and command output.

Exit codes: 0 ok, 1 runtime or wire error, 2 usage or configuration error, 3 port in use.

Imports of the engine are deferred into the commands, so ``agentos start`` is ready fast and the
client commands never load the node.
"""

from __future__ import annotations

import errno
import functools
import json
import logging
import re
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from .cli_client import BusClient
    from .config import NodeConfig

__all__ = [
    "DEFAULT_URL", "EXIT_FAILURE", "EXIT_OK", "EXIT_PORT_IN_USE", "EXIT_USAGE", "OPEN_WARNING",
    "app", "exit_for", "format_table", "main", "readiness_line",
]

log = logging.getLogger("engine.cli")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_PORT_IN_USE = 0, 1, 2, 3
DEFAULT_URL = "ws://127.0.0.1:49134"
OPEN_WARNING = ("running OPEN: no tokens configured; anyone on this machine can connect "
                "(bind stays on loopback)")

app = typer.Typer(
    name="agentos", help="AgentOS: an iii-compatible message bus and its worker processes.",
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
)

Url = Annotated[str, typer.Option("--url", envvar="AGENTOS_URL", help="The engine's bus.")]
Token = Annotated[str | None, typer.Option("--token", envvar="AGENTOS_TOKEN",
                                           help="Bearer token (not needed when running open).")]
Timeout = Annotated[float, typer.Option("--timeout", min=0.001, help="Seconds to wait.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def main() -> None:
    """Entry point of ``python -m engine``."""
    app(prog_name="agentos")


# ---- start -------------------------------------------------------------------------------------


@app.command()
def start(
    config: Annotated[Path, typer.Option("--config", "-c", help="The node's config.yaml.")] = Path("config.yaml"),
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the engine and its worker processes until SIGINT/SIGTERM.

    Prints one line to stdout once the bus listens: ``agentos ready bus=ws://HOST:PORT …``.
    """
    from . import logging_setup

    try:
        logging_setup.configure(log_level)
    except ValueError as exc:
        _fail(EXIT_USAGE, str(exc))
    from .config import load_config

    node_config = _guard(lambda: load_config(config))
    _run(_serve, node_config, use_uvloop=True)


async def _serve(config: NodeConfig) -> None:
    """Run the node until SIGINT/SIGTERM: bus and modules, readiness line, then the workers."""
    import anyio

    from .node import Node
    from .supervisor import Supervisor, worker_env

    if config.is_open:
        log.warning(OPEN_WARNING)
        from .auth import is_loopback

        for entry in config.modules:
            host = entry.config.get("host") if isinstance(entry.config, dict) else None
            if isinstance(host, str) and not is_loopback(host):
                log.warning("module %s listens on %s with no tokens: requests from other machines "
                            "are served as anonymous clients; set engine.auth.tokens", entry.name, host)
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with Node(config) as node:
            typer.echo(readiness_line(config, node.ports))
            async with Supervisor(config.processes, env_base=worker_env(config, node.url)):
                async for signum in signals:
                    log.info("received %s; shutting down", signal.Signals(signum).name)
                    break
    log.info("stopped")


_SCHEMES = {"bus": "ws", "http": "http", "stream": "ws"}


def readiness_line(config: NodeConfig, ports: Mapping[str, int]) -> str:
    """``agentos ready bus=ws://… [http=http://…] [stream=ws://…]``: the bus first, then the
    other listeners in the order the node opened them. Wildcard binds show as loopback."""
    hosts = {"bus": config.engine.host}
    http, stream = config.http(), config.stream()
    if http is not None:
        hosts["http"] = http.host
    if stream is not None:
        hosts["stream"] = stream.host
    parts = ["agentos ready"]
    for key in sorted(ports, key=lambda k: k != "bus"):
        host = hosts.get(key, config.engine.host)
        host = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
        host = f"[{host}]" if ":" in host else host
        parts.append(f"{key}={_SCHEMES.get(key, 'tcp')}://{host}:{ports[key]}")
    return " ".join(parts)


# ---- client commands -----------------------------------------------------------------------------


@app.command()
def status(url: Url = DEFAULT_URL, token: Token = None, timeout: Timeout = 10.0,
           as_json: AsJson = False) -> None:
    """Ask a running engine whether it is healthy (engine::health::check)."""
    health = _call(url, token, "engine::health::check", timeout=timeout)
    if as_json:
        _echo_json(health)
        return
    # The engine counts every connection, this one included; show the others.
    workers = max(0, int(health.get("workers", 0)) - 1)
    rows = [("status", health.get("status")), ("uptime", _duration(health.get("uptime_s", 0))),
            ("workers", workers), ("functions", health.get("functions")),
            ("triggers", health.get("triggers")), ("pending calls", health.get("pending_calls"))]
    typer.echo(format_table(None, [(k, "-" if v is None else str(v)) for k, v in rows]))


@app.command()
def functions(url: Url = DEFAULT_URL, token: Token = None, timeout: Timeout = 10.0,
              prefix: Annotated[str | None, typer.Option("--prefix", help="Only ids starting so.")] = None,
              as_json: AsJson = False) -> None:
    """List the functions registered on the engine (engine::functions::list)."""
    args = {"prefix": prefix} if prefix else {}
    found = _call(url, token, "engine::functions::list", args, timeout=timeout).get("functions", [])
    if as_json:
        _echo_json(found)
        return
    rows = [(f.get("function_id", ""), f.get("worker_name") or f.get("worker_id") or "-",
             (f.get("description") or "").splitlines()[0] if f.get("description") else "")
            for f in found]
    typer.echo(format_table(("FUNCTION", "WORKER", "DESCRIPTION"), rows))


@app.command()
def workers(url: Url = DEFAULT_URL, token: Token = None, timeout: Timeout = 10.0,
            as_json: AsJson = False) -> None:
    """List the workers connected to the engine (engine::workers::list), this client excluded."""

    async def others(client: BusClient) -> list[dict[str, Any]]:
        listed = (await client.call("engine::workers::list", timeout_s=timeout)).get("workers", [])
        return [w for w in listed if w.get("id") != client.worker_id]

    found = _with_client(url, token, others)
    if as_json:
        _echo_json(found)
        return
    rows = [(w.get("id", ""), w.get("name") or "-", w.get("role") or "-", w.get("remote") or "-",
             str(len(w.get("functions") or [])), str(w.get("invocations", 0)), w.get("status") or "-")
            for w in found]
    typer.echo(format_table(("ID", "NAME", "ROLE", "REMOTE", "FUNCTIONS", "CALLS", "STATUS"), rows))


@app.command()
def trigger(
    function_id: Annotated[str, typer.Argument(help="e.g. engine::health::check")],
    payload: Annotated[str | None, typer.Argument(metavar="[JSON]", help="The payload; - reads stdin.")] = None,
    url: Url = DEFAULT_URL, token: Token = None, timeout: Timeout = 30.0,
    void: Annotated[bool, typer.Option("--void", help="Fire and forget: no answer is awaited.")] = False,
) -> None:
    """Invoke a function and print its result as JSON."""
    data = None
    if payload is not None:
        text = sys.stdin.read() if payload == "-" else payload
        try:
            data = json.loads(text)
        except ValueError as exc:
            _fail(EXIT_USAGE, f"invalid JSON payload: {exc}")
    result = _call(url, token, function_id, data, timeout=timeout, void=void)
    if not void:
        _echo_json(result)


# ---- plumbing --------------------------------------------------------------------------------


def exit_for(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one-line message for an error that ended a command.

    Exception groups (from task groups) are searched for the first error we know; ``ConfigError``
    keeps its one line per problem.
    """
    leaf = _known_leaf(exc)
    if isinstance(leaf, OSError) and leaf.errno == errno.EADDRINUSE:
        found = re.search(r"\('([^']*)', (\d+)", str(leaf))
        where = f"port {found.group(2)} on {found.group(1)}" if found else "a configured port"
        return EXIT_PORT_IN_USE, (f"{where} is already in use — stop whatever holds it (another "
                                  "`agentos start`?) or choose another port in the config "
                                  "(0 picks a free one)")
    from .errors import EngineError, WireError

    if isinstance(leaf, WireError):
        return EXIT_FAILURE, f"{leaf.code}: {leaf.message}"
    if isinstance(leaf, EngineError):
        from .config import ConfigError

        return (EXIT_USAGE if isinstance(leaf, ConfigError) else EXIT_FAILURE), str(leaf)
    text = " ".join(str(leaf).split())
    return EXIT_FAILURE, (f"internal error: {type(leaf).__name__}: {text} "
                          "(run with --log-level debug for details)")


def _known_leaf(exc: BaseException) -> BaseException:
    from .errors import EngineError

    leaves = list(_leaves(exc))
    known = [e for e in leaves if isinstance(e, EngineError | OSError)]
    return (known or leaves or [exc])[0]


def _leaves(exc: BaseException) -> Any:
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc


def _fail(code: int, message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _guard(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as exc:
        log.debug("command failed", exc_info=exc)
        _fail(*exit_for(exc))


def _run(fn: Callable[..., Awaitable[Any]], *args: Any, use_uvloop: bool = False) -> Any:
    import anyio

    options: dict[str, Any] = {}
    if use_uvloop:
        try:
            import uvloop  # noqa: F401

            options["use_uvloop"] = True
        except ImportError:
            pass
    return _guard(lambda: anyio.run(fn, *args, backend_options=options))


def _call(url: str, token: str | None, function_id: str, data: Any = None, *,
          timeout: float, void: bool = False) -> Any:
    from .cli_client import call

    return _run(functools.partial(call, url, function_id, data, token=token, timeout_s=timeout,
                                  void=void))


def _with_client(url: str, token: str | None,
                 body: Callable[[BusClient], Awaitable[Any]]) -> Any:
    from .cli_client import open_client

    async def session() -> Any:
        async with open_client(url, token=token) as client:
            return await body(client)

    return _run(session)


def format_table(headers: Sequence[str] | None, rows: Sequence[Sequence[str]]) -> str:
    """Plain left-aligned columns, two spaces apart; ``(none)`` under the headers when empty."""
    table = ([list(headers)] if headers else []) + [list(r) for r in rows]
    if not table:
        return "(none)"
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
             for r in table]
    return "\n".join(lines + (["(none)"] if headers and not rows else []))


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _duration(seconds: Any) -> str:
    total = float(seconds or 0)
    if total < 60:
        return f"{total:.1f}s"
    minutes, secs = divmod(int(total), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    return " ".join(f"{n}{unit}" for n, unit in parts if n) or "0s"


# Sub-apps (realm, mission, ledger; hands, workflow; approvals) live in their own modules and use the
# helpers above, so they are imported last.
from .cli_approvals import SUBCOMMANDS as _APPROVALS  # noqa: E402
from .cli_more import SUBCOMMANDS as _MORE  # noqa: E402
from .cli_ops import SUBCOMMANDS as _OPS  # noqa: E402

for _sub in (*_OPS, *_MORE, *_APPROVALS):
    app.add_typer(_sub)
