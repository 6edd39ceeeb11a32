"""A small real web site on 127.0.0.1 for the fetch tests (starlette served by uvicorn).

``async with LocalSite() as site`` binds ``127.0.0.1:0`` first, so ``site.url(path)`` is known
before the server loop runs. Every request is recorded (path, method, headers, body). Routes:

* ``/page`` — an HTML page; ``/text`` — plain text; ``/binary`` — 256 raw bytes;
* ``/echo`` — JSON of the request (method, host header, headers, body);
* ``/big?n=N`` — ``N`` bytes of ``x``;
* ``/redirect?to=URL&status=302`` — a redirect to ``to``;
* ``/loop`` — redirects to itself, forever;
* ``/hang`` — never answers until the site closes (``hang_started`` is set when it is hit);
* ``/search`` — a Brave-shaped JSON answer (checks the ``X-Subscription-Token``).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

import anyio
import uvicorn
from anyio.abc import TaskGroup
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

SEARCH_TOKEN = "search-key"
PAGE = """<html><head><title>Ignored title</title><style>p {color: red}</style>
<script>alert('no')</script></head>
<body><h1>Hello</h1><p>A <a href="https://example.org/x">link</a> and text.</p></body></html>"""


@dataclass
class Seen:
    path: str
    method: str
    headers: dict[str, str]
    body: bytes


class LocalSite:
    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.hang_started = anyio.Event()
        self._release = anyio.Event()
        self._tg: TaskGroup | None = None
        self._server: uvicorn.Server | None = None
        self._sock: socket.socket | None = None
        self.port = 0

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    async def __aenter__(self) -> LocalSite:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        sock.setblocking(False)
        self._sock, self.port = sock, sock.getsockname()[1]
        config = uvicorn.Config(self._app(), lifespan="off", log_config=None, log_level="warning",
                                access_log=False, ws="none", http="h11", timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._server.serve, [sock])
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._tg is not None and self._server is not None and self._sock is not None
        self._release.set()
        self._server.should_exit = True
        try:
            await self._tg.__aexit__(None, None, None)
        finally:
            self._sock.close()

    def _app(self) -> Starlette:
        return Starlette(routes=[
            Route("/page", self._page), Route("/text", self._text), Route("/binary", self._binary),
            Route("/echo", self._echo, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
            Route("/big", self._big), Route("/redirect", self._redirect, methods=["GET", "POST"]),
            Route("/loop", self._loop), Route("/hang", self._hang), Route("/search", self._search),
        ])

    async def _record(self, request: Request) -> Seen:
        seen = Seen(request.url.path, request.method,
                    {k.lower(): v for k, v in request.headers.items()}, await request.body())
        self.requests.append(seen)
        return seen

    async def _page(self, request: Request) -> Response:
        await self._record(request)
        return HTMLResponse(PAGE)

    async def _text(self, request: Request) -> Response:
        await self._record(request)
        return PlainTextResponse("just text")

    async def _binary(self, request: Request) -> Response:
        await self._record(request)
        return Response(bytes(range(256)), media_type="application/octet-stream")

    async def _echo(self, request: Request) -> Response:
        seen = await self._record(request)
        return JSONResponse({"method": seen.method, "host": seen.headers.get("host"),
                             "headers": seen.headers, "body": seen.body.decode("utf-8", "replace")})

    async def _big(self, request: Request) -> Response:
        await self._record(request)
        return PlainTextResponse("x" * int(request.query_params.get("n", "1000")))

    async def _redirect(self, request: Request) -> Response:
        await self._record(request)
        return RedirectResponse(request.query_params["to"],
                                status_code=int(request.query_params.get("status", "302")))

    async def _loop(self, request: Request) -> Response:
        await self._record(request)
        return RedirectResponse("/loop", status_code=302)

    async def _hang(self, request: Request) -> Response:
        await self._record(request)
        self.hang_started.set()
        await self._release.wait()
        return PlainTextResponse("too late")

    async def _search(self, request: Request) -> Response:
        seen = await self._record(request)
        if seen.headers.get("x-subscription-token") != SEARCH_TOKEN:
            return JSONResponse({"error": "bad token"}, status_code=401)
        q = request.query_params.get("q", "")
        return JSONResponse({"web": {"results": [
            {"title": f"About {q}", "url": "https://example.org/a", "description": "first"},
            {"title": "Second", "url": "https://example.org/b", "description": "second"},
        ]}})
