"""One MCP server, kept alive: connect, list its tools, serve each as ``mcp::<id>::<tool>``.

Theory of operation
-------------------
An :class:`McpLink` runs one supervision loop (:meth:`McpLink.run`, in the caller's task group):

1. open the transport — ``stdio_client`` (spawns the server; the SDK kills its process group on
   exit) or ``streamable_http_client`` — and a ``ClientSession``; ``initialize`` and
   ``list_tools``;
2. register one function per allowed tool (``tools`` globs) on the :class:`Registrar` (our bus
   connection): id ``mcp::<integration>::<tool>``, the tool's ``inputSchema`` as
   ``request_format``, so agent-core offers it to agents whose capability globs match;
3. watch the link until it breaks: the server's read stream ends (the stdio process died; the
   stream is relayed through a pipe of ours, so its end is an event, not a poll), or a ping
   fails. Pings (``send_ping``) go out every ``ping_interval_s`` and at once after a call
   failed on the connection. They are what notices a streamable HTTP server going away: that
   transport is a POST per message, and its read stream stays open while nobody asks. A POST
   that cannot connect breaks the transport (the SDK's task group fails); a server that came
   back without our session answers our session id with 404; either way the link restarts;
4. unregister every function (a call meanwhile answers ``function_not_found`` from the engine),
   wait the backoff delay (growing while attempts keep failing, reset after a healthy run), and
   start again. A server that cannot be reached at start is the same failure: ``down`` with
   ``last_error`` (a refused connection, or "refused our headers" on HTTP 401/403), retried.

A tool call is ``session.call_tool`` bounded by ``call_timeout_s``. The result becomes JSON:
``{content: [blocks], text, structured}``; a result flagged ``isError`` is answered as the
error ``mcp_tool_error``; a call cut off by the connection closing is ``integration_down``.
Status changes are observable: :meth:`McpLink.wait_for` returns once a predicate on the link
holds (tests and ``mcp::status`` use it; no polling).
"""

from __future__ import annotations

import enum
import logging
import math
import random
import re
import sys
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from fnmatch import fnmatchcase
from typing import Any, Protocol, TextIO

import anyio
import httpx2
from anyio.streams.memory import MemoryObjectSendStream
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED

from workers.sdk import Backoff, Context, FunctionDef, InvocationError, SdkError, function

from .config import IntegrationConfig

__all__ = ["LinkStatus", "McpLink", "Registrar", "describe_error", "result_json", "tool_function_id"]

log = logging.getLogger(__name__)

DEFAULT_BACKOFF = Backoff(initial=0.5, maximum=30.0, jitter=0.2)
_UNSAFE = re.compile(r"[:\s]")
HEALTHY_AFTER_S = 10.0
"""A run that lasted this long resets the backoff to its first step."""


class Registrar(Protocol):
    """What a link registers its tools on: :class:`workers.sdk.Connection` fits."""

    async def register_function(self, fdef: FunctionDef) -> None: ...

    async def unregister_function(self, function_id: str) -> None: ...


class LinkStatus(enum.StrEnum):
    STARTING = "starting"
    UP = "up"
    DOWN = "down"
    STOPPED = "stopped"


def tool_function_id(integration: str, tool: str) -> str:
    """``mcp::<integration>::<tool>``, the tool name's ``:`` and whitespace made ``_``."""
    name = _UNSAFE.sub("_", tool) or "_"
    return f"mcp::{integration}::{name}"


def result_json(result: Any) -> dict[str, Any]:
    """A ``CallToolResult`` as JSON: ``{content, text, structured}``.

    Raises:
        InvocationError: ``mcp_tool_error`` when the server flagged the result as an error.
    """
    blocks = [b.model_dump(mode="json", by_alias=True, exclude_none=True)
              for b in getattr(result, "content", None) or []]
    text = "\n".join(b["text"] for b in blocks if b.get("type") == "text" and "text" in b)
    if getattr(result, "is_error", False):
        raise InvocationError("mcp_tool_error", text or "the MCP tool reported an error")
    return {"content": blocks, "text": text,
            "structured": getattr(result, "structured_content", None)}


class McpLink:
    """The supervised connection to one MCP server (see the module docstring)."""

    def __init__(self, config: IntegrationConfig, registrar: Registrar, *,
                 backoff: Backoff = DEFAULT_BACKOFF, errlog: TextIO | None = None,
                 rng: random.Random | None = None) -> None:
        self.config = config
        self._registrar = registrar
        self._backoff = backoff
        self._errlog = errlog
        self._rng = rng or random.Random()
        self._session: ClientSession | None = None
        self._check = anyio.Event()
        """Set to ping the server now (a call failed on the connection)."""
        self._changed = anyio.Event()
        self.status = LinkStatus.STARTING
        self.functions: dict[str, str] = {}
        """``{function id: MCP tool name}`` while up."""
        self.generation = 0
        """How many times the server came up."""
        self.last_error: str | None = None
        self.calls = 0

    # -- observation -------------------------------------------------------------------------

    def _set(self, status: LinkStatus) -> None:
        self.status = status
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    async def wait_for(self, predicate: Callable[[McpLink], bool]) -> None:
        """Return once ``predicate(self)`` holds (checked on every status change)."""
        while not predicate(self):
            await self._changed.wait()

    def describe(self) -> dict[str, Any]:
        return {"id": self.config.id, "name": self.config.name, "transport": self.config.transport,
                "url": self.config.url, "status": self.status.value, "generation": self.generation,
                "tools": sorted(self.functions), "last_error": self.last_error,
                "calls": self.calls}

    # -- the loop ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Keep the server connected until cancelled; never raises for the server's failures."""
        attempt = 0
        try:
            while True:
                started = time.monotonic()
                try:
                    await self._serve_once()
                    self.last_error = "the server went away"
                except (OSError, MCPError, SdkError, ValueError, TimeoutError,
                        anyio.BrokenResourceError, anyio.ClosedResourceError,
                        httpx2.HTTPError) as exc:
                    self.last_error = describe_error(exc)
                except BaseExceptionGroup as group:  # transport task groups wrap their errors
                    if group.subgroup(Exception) is None or group.subgroup(
                            lambda e: not isinstance(e, Exception)) is not None:
                        raise
                    self.last_error = describe_error(group)
                await self._unregister_all()
                self._set(LinkStatus.DOWN)
                attempt = 0 if time.monotonic() - started > HEALTHY_AFTER_S else attempt + 1
                delay = self._backoff.delay(max(attempt - 1, 0), self._rng)
                log.warning("integration %s down (%s); restarting in %.2fs", self.config.id,
                            self.last_error, delay)
                await anyio.sleep(delay)
        finally:
            with anyio.CancelScope(shield=True):
                await self._unregister_all()
            self._set(LinkStatus.STOPPED)

    async def _serve_once(self) -> None:
        async with self._transport() as (read, write, closed):
            async with ClientSession(read, write) as session:
                with anyio.fail_after(self.config.call_timeout_s):
                    await session.initialize()
                    listing = await session.list_tools()
                self._session = session
                try:
                    for tool in listing.tools:
                        if any(fnmatchcase(tool.name, g) for g in self.config.tools):
                            await self._register(tool)
                    self.generation += 1
                    self.last_error = None
                    self._set(LinkStatus.UP)
                    log.info("integration %s up: %d tools", self.config.id, len(self.functions))
                    await self._watch(session, closed)
                finally:
                    self._session = None

    async def _watch(self, session: ClientSession, closed: anyio.Event) -> None:
        """Return when the server's side ended; raise when a ping fails (see the module doc)."""
        interval = self.config.ping_interval_s or math.inf
        while True:
            with anyio.move_on_after(interval):
                await _first(closed, self._check)
            if closed.is_set():
                return
            self._check = anyio.Event()  # set during the ping: ping again
            with anyio.fail_after(self.config.call_timeout_s):
                await session.send_ping()

    @asynccontextmanager
    async def _transport(self) -> AsyncIterator[tuple[Any, Any, anyio.Event]]:
        cfg = self.config
        async with AsyncExitStack() as stack:
            if cfg.transport == "stdio":
                assert cfg.command is not None
                params = StdioServerParameters(command=cfg.command, args=cfg.args,
                                               env=cfg.resolved_env() or None, cwd=cfg.cwd)
                read, write = await stack.enter_async_context(
                    stdio_client(params, errlog=self._errlog or sys.stderr))
            else:
                assert cfg.url is not None
                # No read timeout: the server's GET stream is long-lived; calls and pings have
                # their own deadlines.
                http = await stack.enter_async_context(httpx2.AsyncClient(
                    headers=cfg.resolved_headers(), timeout=httpx2.Timeout(cfg.call_timeout_s, read=None),
                    event_hooks={"response": [_refuse_auth_failures]}))
                read, write = await stack.enter_async_context(
                    streamable_http_client(cfg.url, http_client=http))
            closed = anyio.Event()
            relay_send, relay_recv = anyio.create_memory_object_stream[Any](0)
            async with anyio.create_task_group() as tg:
                tg.start_soon(_relay, read, relay_send, closed)
                try:
                    yield relay_recv, write, closed
                finally:
                    tg.cancel_scope.cancel()

    # -- functions ---------------------------------------------------------------------------

    async def _register(self, tool: Any) -> None:
        fid = tool_function_id(self.config.id, tool.name)
        if fid in self.functions:
            log.warning("integration %s: tool %r maps to %s twice; skipped", self.config.id,
                        tool.name, fid)
            return
        name, timeout = tool.name, self.config.call_timeout_s

        async def call(data: Any, ctx: Context) -> dict[str, Any]:
            return await self.call_tool(name, data, timeout)

        description = f"[{self.config.name or self.config.id}] {tool.description or tool.name}"
        fdef = FunctionDef.of(function(
            fid, description=description[:1024],
            request_format=tool.input_schema or {"type": "object"},
            metadata={"integration": self.config.id, "mcp_tool": name},
        )(call))
        await self._registrar.register_function(fdef)
        self.functions[fid] = name

    async def call_tool(self, name: str, data: Any, timeout: float) -> dict[str, Any]:
        """Call MCP tool ``name`` with ``data`` (an object) and return :func:`result_json`.

        Raises:
            InvocationError: ``integration_down``, ``timeout``, ``mcp_error``, ``mcp_tool_error``.
        """
        session = self._session
        if session is None:
            raise InvocationError("integration_down", f"integration {self.config.id} is down")
        if data is not None and not isinstance(data, dict):
            raise InvocationError("invalid_arguments", "MCP tool arguments must be an object")
        self.calls += 1
        try:
            with anyio.fail_after(timeout):
                result = await session.call_tool(name, data or {})
        except TimeoutError:
            raise InvocationError("timeout", f"MCP tool {name} did not answer within "
                                             f"{timeout:g}s") from None
        except MCPError as exc:
            self._check.set()  # the error may be the connection's: make sure of it now
            if exc.code == CONNECTION_CLOSED:
                raise InvocationError("integration_down", f"integration {self.config.id} went "
                                                          f"away during the call: {exc}") from exc
            raise InvocationError("mcp_error", f"MCP tool {name}: {exc}") from exc
        except (anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            self._check.set()
            raise InvocationError("integration_down", f"integration {self.config.id} went "
                                                      "away during the call") from exc
        return result_json(result)

    async def _unregister_all(self) -> None:
        for fid in list(self.functions):
            self.functions.pop(fid)
            try:
                await self._registrar.unregister_function(fid)
            except SdkError as exc:  # the connection is closing: nothing left to undo
                log.debug("integration %s: could not unregister %s: %s", self.config.id, fid, exc)


def describe_error(exc: BaseException) -> str:
    """``Type: message`` of each leaf of ``exc`` (groups flattened); HTTP errors name the request."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe_error(e) for e in exc.exceptions)
    text = str(exc) or "(no detail)"
    if isinstance(exc, httpx2.RequestError):
        try:
            text = f"{exc.request.method} {exc.request.url}: {text}"
        except RuntimeError:  # no request attached
            pass
    return f"{type(exc).__name__}: {text}"


async def _first(*events: anyio.Event) -> None:
    """Return once any of ``events`` is set."""
    async with anyio.create_task_group() as tg:
        async def wait(event: anyio.Event) -> None:
            await event.wait()
            tg.cancel_scope.cancel()

        for event in events:
            tg.start_soon(wait, event)


async def _refuse_auth_failures(response: httpx2.Response) -> None:
    """Turn 401/403 into an error naming the cause (the SDK would report a bare "error response")."""
    if response.status_code in (401, 403):
        raise httpx2.HTTPStatusError(
            f"{response.request.url} refused our headers (HTTP {response.status_code}); "
            "check [integration.headers]", request=response.request, response=response)


async def _relay(source: AsyncIterable[Any], sink: MemoryObjectSendStream[Any],
                 closed: anyio.Event) -> None:
    """Copy the server's messages to the session; set ``closed`` when the server's side ends."""
    try:
        async with sink:
            async for message in source:
                await sink.send(message)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream):
        pass  # either end closed: the session is over, which ``closed`` reports
    finally:
        closed.set()
