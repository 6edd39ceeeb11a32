"""The ``iii-http`` module: trigger type ``http`` and the REST listener on :3111.

Theory of operation
-------------------
``async with HttpModule(node, config)`` registers the built-in trigger type ``http`` on the
router (this object is its provider) and serves :class:`~.http_app.HttpApp` with uvicorn in the
module's own task group; it returns once the socket listens, with the port in
``node.ports["http"]`` (config ``port: 0`` picks a free one).

Bindings change the route table at run time: :meth:`register_trigger` parses the trigger's
config ``{api_path, http_method, condition_function_id?, middleware_function_ids?}`` into a
route, and refuses it (the router answers ``trigger_registration_failed``) when the config is
malformed or another live binding already serves that ``METHOD:path``. When a worker leaves,
the router unbinds its triggers, so its routes answer 404 at once.

The files of the module: :mod:`.http_routes` (the route table), :mod:`.http_wire` (request and
response shapes, CORS; pure), :mod:`.http_app` (the ASGI shell: limits, auth, body) and
:mod:`.http_exchange` (the invocation, and the streamed response over a data channel).

The socket is bound here, not by uvicorn: a port in use is then an ``OSError`` out of
``__aenter__`` (which the CLI reports) rather than uvicorn's ``sys.exit``. uvicorn does not
install signal handlers (the engine owns SIGINT/SIGTERM) and its own logging is kept quiet.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Generator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple

import anyio
import uvicorn
from anyio.abc import TaskGroup, TaskStatus

from ..config import HttpModuleConfig
from ..registry import TriggerEntry
from .http_app import HttpApp
from .http_routes import RouteTable, parse_route

if TYPE_CHECKING:
    from ..node import Node

__all__ = ["HttpModule", "HttpStatistics", "AsgiServer", "bind_socket", "server_config"]

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 64 * 1024
"""The largest request head (request line + headers) uvicorn accepts; larger is a 400."""
GRACEFUL_SHUTDOWN_S = 2
KEEP_ALIVE_S = 5


class HttpStatistics(NamedTuple):
    routes: int
    in_flight: int
    requests: int
    """Requests answered or refused so far (CORS preflights excluded)."""
    overloaded: int
    """Requests refused with 503 because ``concurrency_request_limit`` was reached."""


class AsgiServer(uvicorn.Server):
    """uvicorn without signal handlers, that says when it listens and stops without polling.

    ``serve(sockets=[bind_socket(...)])``; ``on_started`` runs once it accepts; ``stop()`` ends it.
    """

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started
        self._wake = anyio.Event()

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the engine owns SIGINT/SIGTERM

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self._on_started()

    async def main_loop(self) -> None:
        ticks = 0
        while not await self.on_tick(ticks):
            ticks += 10  # every tick refreshes the Date header: one per second
            with anyio.move_on_after(1.0):
                await self._wake.wait()

    def stop(self) -> None:
        self.should_exit = True
        self._wake.set()


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket; a failure names the address (the CLI reports a port in use).

    The socket is made with ``IPPROTO_TCP`` explicitly: asyncio only sets ``TCP_NODELAY`` on
    accepted sockets whose protocol says TCP, and without it every response waits for a
    delayed ACK (~40 ms per request).
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP,
                                                             flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(2048)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
    except OSError as exc:
        raise OSError(exc.errno, f"error while attempting to bind on address ({host!r}, {port}): {exc.strerror}") from exc
    return sock


def server_config(app: Any) -> uvicorn.Config:
    """The uvicorn settings of the listener (also used by ``bench/http.py`` for its baseline)."""
    _quiet_uvicorn()
    return uvicorn.Config(
        app, interface="asgi3", http="h11", ws="none", lifespan="off", log_config=None,
        access_log=False, proxy_headers=False, server_header=False,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES, timeout_keep_alive=KEEP_ALIVE_S,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )


def _quiet_uvicorn() -> None:
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            # "Started server process", "Invalid HTTP request received" for every bad client…
            logger.setLevel(logging.ERROR)


class HttpModule:
    """The HTTP module; also the provider of the ``http`` trigger type."""

    def __init__(self, node: Node, config: HttpModuleConfig | None) -> None:
        self.node = node
        self.config = config or HttpModuleConfig()
        self.routes = RouteTable()
        self.app = HttpApp(node, self.config, self.routes)
        self.port = 0
        self._tg: TaskGroup | None = None
        self._server: AsgiServer | None = None

    async def __aenter__(self) -> HttpModule:
        sock = bind_socket(self.config.host, self.config.port)
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        try:
            self.port = await self._tg.start(self._serve, sock)
            await self.node.router.register_local_type(
                "http", self, "HTTP route on the iii-http listener: {api_path, http_method, condition_function_id?}")
        except BaseException:
            self._stop()
            await self._tg.__aexit__(None, None, None)
            sock.close()
            raise
        self.node.ports["http"] = self.port
        log.info("http listening on %s:%d", self.config.host, self.port)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._tg is not None
        self._stop()
        await self._tg.__aexit__(None, None, None)
        self.node.ports.pop("http", None)

    def _stop(self) -> None:
        self.app.close()
        if self._server is not None:
            self._server.stop()

    async def _serve(self, sock: socket.socket, *, task_status: TaskStatus[int]) -> None:
        port = int(sock.getsockname()[1])
        self._server = AsgiServer(server_config(self.app), lambda: task_status.started(port))
        await self._server.serve(sockets=[sock])

    def statistics(self) -> HttpStatistics:
        return HttpStatistics(len(self.routes), len(self.app.active), self.app.served, self.app.overloaded)

    # -- the ``http`` trigger type -----------------------------------------------------------

    async def register_trigger(self, trigger: TriggerEntry) -> None:
        """Serve a route for ``trigger``.

        Raises:
            InvalidRoute: malformed config (missing ``api_path``/``http_method``, unknown method).
            RouteConflict: another live binding serves the same ``METHOD:path``.
        """
        route = parse_route(trigger.id, trigger.function_id, trigger.config, namespace=trigger.namespace,
                            metadata=trigger.metadata)
        self.routes.add(route)
        log.info("http route %s %s → %s", route.method, route.path, route.function_id)

    async def unregister_trigger(self, trigger: TriggerEntry) -> None:
        route = self.routes.remove(trigger.id)
        if route is not None:
            log.info("http route %s %s removed", route.method, route.path)
