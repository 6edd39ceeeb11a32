"""A fake of the platforms' APIs on loopback: Slack Web API, Telegram Bot API, Discord, callbacks.

One real HTTP server (uvicorn + starlette on 127.0.0.1, port 0) that the real client libraries
talk to through their base URL:

* Slack: ``POST /slack/api/chat.postMessage`` (``api_base = f"{url}/slack/api/"``);
* Telegram: ``POST /telegram/bot<token>/{getMe,sendMessage,getUpdates}`` (``api_base =
  f"{url}/telegram/bot"``); ``getUpdates`` serves :meth:`FakePlatforms.push_update` updates from
  ``offset`` on, holding the request (up to its ``timeout``) while there are none;
* Discord: ``PATCH/POST /discord/webhooks/…`` and ``POST /discord/channels/{id}/messages``;
* webhook callbacks: ``POST /callback/{name}``.

Every message posted is recorded as a :class:`Posted`; tests synchronise with
:meth:`FakePlatforms.wait_posts` (an event per post, never a sleep).
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Any

import anyio
import uvicorn
from anyio.abc import TaskGroup
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

__all__ = ["FakePlatforms", "Posted"]


@dataclass
class Posted:
    platform: str
    """slack, telegram, discord or callback."""
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    raw: bytes = b""

    @property
    def text(self) -> str:
        return str(self.body.get("text") or self.body.get("content") or "")


class FakePlatforms:
    """The fake server; ``async with FakePlatforms() as fake``."""

    def __init__(self) -> None:
        self.posts: list[Posted] = []
        self.updates: list[dict[str, Any]] = []
        self.get_updates_calls: list[dict[str, Any]] = []
        self._posted = anyio.Event()
        self._new_update = anyio.Event()
        self._polled = anyio.Event()
        self._ts = 1000
        self._sock: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._tg: TaskGroup | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def posted(self, platform: str) -> list[Posted]:
        return [p for p in self.posts if p.platform == platform]

    async def wait_posts(self, n: int, platform: str) -> list[Posted]:
        """Wait until ``platform`` has received at least ``n`` messages; those messages."""
        while len(self.posted(platform)) < n:
            await self._posted.wait()
        return self.posted(platform)

    async def wait_polls(self, n: int) -> None:
        """Wait until ``getUpdates`` has been called ``n`` times."""
        while len(self.get_updates_calls) < n:
            await self._polled.wait()

    def push_update(self, update: dict[str, Any]) -> None:
        """Make ``update`` available to ``getUpdates``."""
        self.updates.append(update)
        self._new_update.set()
        self._new_update = anyio.Event()

    # -- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> FakePlatforms:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sock.setblocking(False)
        self._sock, self.port = sock, sock.getsockname()[1]
        config = uvicorn.Config(self._app(), lifespan="off", log_config=None, log_level="warning",
                                access_log=False, ws="none", http="h11", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._server.serve, [sock])  # the socket listens already: no race
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._tg is not None and self._server is not None and self._sock is not None
        self._server.should_exit = True
        self._new_update.set()  # release a held getUpdates
        try:
            await self._tg.__aexit__(None, None, None)
        finally:
            self._sock.close()

    # -- the app ----------------------------------------------------------------------------

    def _app(self) -> Starlette:
        return Starlette(routes=[
            Route("/slack/api/{method}", self._slack, methods=["POST"]),
            Route("/telegram/bot{token}/{method}", self._telegram, methods=["POST", "GET"]),
            Route("/discord/{path:path}", self._discord, methods=["POST", "PATCH"]),
            Route("/callback/{name}", self._callback, methods=["POST"]),
        ])

    def _record(self, platform: str, request: Request, body: dict[str, Any], raw: bytes = b"") -> None:
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.posts.append(Posted(platform, request.url.path, body, headers, raw))
        self._posted.set()
        self._posted = anyio.Event()

    async def _slack(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        if method != "chat.postMessage":
            return JSONResponse({"ok": False, "error": "unknown_method"})
        if request.headers.get("authorization") != "Bearer xoxb-test":
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        body = await request.json()
        self._record("slack", request, body)
        self._ts += 1
        return JSONResponse({"ok": True, "channel": body.get("channel"), "ts": f"{self._ts}.000100",
                             "message": {"text": body.get("text")}})

    async def _telegram(self, request: Request) -> JSONResponse:
        method, token = request.path_params["method"], request.path_params["token"]
        if token != "123:telegram-test":
            return JSONResponse({"ok": False, "error_code": 401, "description": "Unauthorized"}, status_code=401)
        form = {k: _maybe_json(v) for k, v in (await request.form()).items() if isinstance(v, str)}
        if method == "getMe":
            return JSONResponse({"ok": True, "result": {"id": 123, "is_bot": True, "first_name": "Fake",
                                                        "username": "fake_bot"}})
        if method == "sendMessage":
            self._record("telegram", request, form)
            self._ts += 1
            return JSONResponse({"ok": True, "result": {
                "message_id": self._ts, "date": 0, "text": form.get("text"),
                "chat": {"id": int(form["chat_id"]), "type": "private"}}})
        if method == "getUpdates":
            return JSONResponse({"ok": True, "result": await self._get_updates(form)})
        return JSONResponse({"ok": False, "error_code": 404, "description": "Not Found"}, status_code=404)

    async def _get_updates(self, form: dict[str, Any]) -> list[dict[str, Any]]:
        self.get_updates_calls.append(form)
        self._polled.set()
        self._polled = anyio.Event()
        offset = int(form.get("offset") or 0)
        with anyio.move_on_after(float(form.get("timeout") or 0)):
            while not [u for u in self.updates if u["update_id"] >= offset]:
                if self._server is not None and self._server.should_exit:
                    break
                await self._new_update.wait()
        return [u for u in self.updates if u["update_id"] >= offset]

    async def _discord(self, request: Request) -> JSONResponse:
        body = await request.json()
        self._record("discord", request, body)
        return JSONResponse({"id": str(len(self.posts)), "content": body.get("content")})

    async def _callback(self, request: Request) -> JSONResponse:
        raw = await request.body()
        self._record("callback", request, json.loads(raw), raw)
        return JSONResponse({"ok": True})


def _maybe_json(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value
