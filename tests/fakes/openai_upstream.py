"""A scripted OpenAI-compatible upstream: a real HTTP server on 127.0.0.1, for any test.

Theory of operation
-------------------
``async with FakeUpstream() as fake`` binds a socket on ``127.0.0.1:0`` (so ``fake.url`` is known
and connectable before the server loop even runs), then serves a starlette app with uvicorn in a
task of the caller's event loop. Tests synchronise with it through ``anyio.Event`` objects, never
sleeps.

Every ``POST /v1/chat/completions`` (or ``/chat/completions``) is recorded in
:attr:`FakeUpstream.requests` (path, headers, JSON body) and answered with the next scripted
reply (``fake.script(...)``), or the default reply once the script is used up:

* :class:`Text` — an assistant message, with scripted usage;
* :class:`ToolCalls` — one or several (parallel) tool calls, passed back exactly as scripted;
* :class:`Error` — any status with the OpenAI error envelope (``Error.rate_limited()`` is a 429
  with ``Retry-After``);
* :class:`Slow` — waits until its ``release`` event is set (or a bounded time), then answers.

When the request says ``"stream": true``, :class:`Text` and :class:`ToolCalls` are sent as SSE
``data: {...}`` chunks (role first, content pieces, tool-call deltas with a stable ``index``, a
chunk with the ``finish_reason``, then — with ``stream_options.include_usage`` — a usage chunk
with ``choices: []``) and ``data: [DONE]``. A :class:`Hold` pauses a stream after some chunks
until released, so a test can prove that chunks travel before the upstream finishes;
``break_after`` ends it after some chunks with a mid-stream ``data: {"error": …}`` event.

``GET /v1/models`` lists ``models``. With ``ollama_models`` set, the fake also answers the two
Ollama endpoints litellm and the router use: ``GET /api/tags`` and a non-streaming
``POST /api/chat``.

Usage numbers are scripted so cost can be priced by litellm's map: ask for a real model name
(``openai/gpt-4o-mini`` with ``api_base=fake.base_url``).
"""

from __future__ import annotations

import json
import socket
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import anyio
import uvicorn
from anyio.abc import TaskGroup
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

__all__ = [
    "Error",
    "FakeUpstream",
    "Hold",
    "RecordedRequest",
    "Reply",
    "Slow",
    "Text",
    "ToolCall",
    "ToolCalls",
]

CREATED = 1_700_000_000


@dataclass
class Hold:
    """Pause a streamed reply after ``after`` chunks until ``release`` is set.

    ``reached`` is set when the stream pauses, i.e. once ``after`` chunks have been sent.
    """

    after: int
    release: anyio.Event = field(default_factory=anyio.Event)
    reached: anyio.Event = field(default_factory=anyio.Event)


@dataclass
class Text:
    """An assistant text answer. ``pieces`` is how it is streamed (default: word by word)."""

    content: str
    prompt_tokens: int = 12
    completion_tokens: int = 8
    finish_reason: str = "stop"
    model: str | None = None
    pieces: list[str] | None = None
    hold: Hold | None = None
    break_after: int | None = None

    def stream_pieces(self) -> list[str]:
        if self.pieces is not None:
            return self.pieces
        words = self.content.split(" ")
        return [w + " " for w in words[:-1]] + [words[-1]]


@dataclass(frozen=True)
class ToolCall:
    """One tool call, returned exactly: ``arguments`` is the JSON string the model "wrote"."""

    id: str
    name: str
    arguments: str


@dataclass
class ToolCalls:
    """An assistant turn calling tools (several = parallel tool calls).

    Streamed, each call's ``arguments`` is cut into ``fragments`` pieces.
    """

    calls: list[ToolCall]
    content: str | None = None
    prompt_tokens: int = 40
    completion_tokens: int = 20
    model: str | None = None
    fragments: int = 3
    hold: Hold | None = None
    break_after: int | None = None


@dataclass
class Error:
    """A non-2xx answer with the OpenAI error envelope."""

    status: int
    message: str = "scripted upstream error"
    type: str | None = None
    code: str | None = None
    retry_after: float | None = None

    @classmethod
    def rate_limited(cls, retry_after: float | None = 0) -> Error:
        """A 429 with ``Retry-After`` (seconds) when given."""
        return cls(429, "Rate limit reached (scripted)", "rate_limit_exceeded", "rate_limit_exceeded",
                   retry_after)

    def response(self) -> Response:
        default_type = {400: "invalid_request_error", 401: "authentication_error",
                        404: "not_found_error", 429: "rate_limit_exceeded"}.get(self.status, "server_error")
        headers = {} if self.retry_after is None else {"retry-after": f"{self.retry_after:g}"}
        body = {"error": {"message": self.message, "type": self.type or default_type,
                          "param": None, "code": self.code}}
        return JSONResponse(body, status_code=self.status, headers=headers)


@dataclass
class Slow:
    """Answer ``then`` once ``release`` is set, or after ``max_wait_s`` (a bound, not a sync).

    ``arrived`` is set when the request has been received and is being held.
    """

    then: Text | ToolCalls | Error
    release: anyio.Event = field(default_factory=anyio.Event)
    arrived: anyio.Event = field(default_factory=anyio.Event)
    max_wait_s: float = 30.0


Reply = Text | ToolCalls | Error | Slow


@dataclass(frozen=True)
class RecordedRequest:
    """What the fake received: ``path``, lower-cased ``headers`` and the JSON ``body``."""

    path: str
    headers: dict[str, str]
    body: Any


class FakeUpstream:
    """The server. Use as ``async with FakeUpstream() as fake``; see the module docstring.

    Args:
        default: the reply once the script is used up (default: a fixed text).
        models: what ``GET /v1/models`` lists.
        ollama_models: when set, also serve ``/api/tags`` and ``/api/chat`` like Ollama.
    """

    DEFAULT_TEXT = "Hello from the fake upstream."

    def __init__(self, *, default: Reply | None = None, models: Sequence[str] = ("gpt-4o-mini",),
                 ollama_models: Sequence[str] | None = None) -> None:
        self.default: Reply = default if default is not None else Text(self.DEFAULT_TEXT)
        self.models = list(models)
        self.ollama_models = None if ollama_models is None else list(ollama_models)
        self.requests: list[RecordedRequest] = []
        self._script: deque[Reply] = deque()
        self._ids = count(1)
        self._arrival = anyio.Event()
        self._holding: set[anyio.Event] = set()
        self._sock: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._tg: TaskGroup | None = None
        self.port = 0

    # -- scripting ------------------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        """Queue replies, answered in order by the next chat requests."""
        self._script.extend(replies)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What to give an OpenAI client (or litellm's ``api_base``)."""
        return f"{self.url}/v1"

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    async def wait_requests(self, n: int) -> None:
        """Wait until at least ``n`` requests (of any kind) have been received."""
        while len(self.requests) < n:
            await self._arrival.wait()

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> FakeUpstream:
        # IPPROTO_TCP named explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose
        # proto is TCP, and without it every response waits ~40 ms for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sock.setblocking(False)
        self._sock, self.port = sock, sock.getsockname()[1]
        config = uvicorn.Config(self._app(), lifespan="off", log_config=None, log_level="warning",
                                access_log=False, ws="none", http="h11",
                                timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._server.serve, [sock])
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._tg is not None and self._server is not None and self._sock is not None
        for event in list(self._holding):
            event.set()
        self._server.should_exit = True
        try:
            await self._tg.__aexit__(None, None, None)
        finally:
            self._sock.close()

    # -- the app --------------------------------------------------------------------------

    def _app(self) -> Starlette:
        return Starlette(routes=[
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/chat/completions", self._chat, methods=["POST"]),
            Route("/v1/models", self._list_models, methods=["GET"]),
            Route("/models", self._list_models, methods=["GET"]),
            Route("/api/tags", self._ollama_tags, methods=["GET"]),
            Route("/api/chat", self._ollama_chat, methods=["POST"]),
        ])

    def _record(self, request: Request, body: Any) -> None:
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(RecordedRequest(request.url.path, headers, body))
        self._arrival.set()
        self._arrival = anyio.Event()

    def _next(self) -> Reply:
        return self._script.popleft() if self._script else self.default

    async def _hold(self, event: anyio.Event, max_wait_s: float) -> None:
        self._holding.add(event)
        try:
            with anyio.move_on_after(max_wait_s):
                await event.wait()
        finally:
            self._holding.discard(event)

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        self._record(request, body)
        reply = self._next()
        if isinstance(reply, Slow):
            reply.arrived.set()
            await self._hold(reply.release, reply.max_wait_s)
            reply = reply.then
        if isinstance(reply, Error):
            return reply.response()
        n = next(self._ids)
        cid, model = f"chatcmpl-fake-{n}", reply.model or str(body.get("model"))
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            events = self._stream(reply, cid, model, include_usage)
            return StreamingResponse(events, media_type="text/event-stream")
        return JSONResponse(_completion(reply, cid, model))

    async def _stream(self, reply: Text | ToolCalls, cid: str, model: str,
                      include_usage: bool) -> AsyncIterator[str]:
        chunks = _chunks(reply)
        usage = _usage(reply)
        for sent, (delta, finish) in enumerate(chunks):
            if reply.hold is not None and sent == reply.hold.after:
                reply.hold.reached.set()
                await self._hold(reply.hold.release, 30.0)
            if reply.break_after is not None and sent == reply.break_after:
                error = {"error": {"message": "upstream broke mid-stream (scripted)", "type": "server_error",
                                   "param": None, "code": None}}
                yield f"data: {json.dumps(error)}\n\n"
                return
            chunk = {"id": cid, "object": "chat.completion.chunk", "created": CREATED, "model": model,
                     "system_fingerprint": None,
                     "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
            if include_usage:
                chunk["usage"] = None
            yield f"data: {json.dumps(chunk)}\n\n"
        if include_usage:
            last = {"id": cid, "object": "chat.completion.chunk", "created": CREATED, "model": model,
                    "system_fingerprint": None, "choices": [], "usage": usage}
            yield f"data: {json.dumps(last)}\n\n"
        yield "data: [DONE]\n\n"

    async def _list_models(self, request: Request) -> Response:
        self._record(request, None)
        data = [{"id": m, "object": "model", "created": CREATED, "owned_by": "fake"} for m in self.models]
        return JSONResponse({"object": "list", "data": data})

    async def _ollama_tags(self, request: Request) -> Response:
        self._record(request, None)
        if self.ollama_models is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        return JSONResponse({"models": [{"name": m, "model": m, "size": 1} for m in self.ollama_models]})

    async def _ollama_chat(self, request: Request) -> Response:
        body = await request.json()
        self._record(request, body)
        reply = self._next()
        if isinstance(reply, Slow):
            reply.arrived.set()
            await self._hold(reply.release, reply.max_wait_s)
            reply = reply.then
        if self.ollama_models is None or isinstance(reply, Error | ToolCalls) or body.get("stream"):
            return JSONResponse({"error": "the fake Ollama serves non-streamed text only"},
                                status_code=reply.status if isinstance(reply, Error) else 400)
        return JSONResponse({
            "model": body.get("model"), "created_at": "2024-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": reply.content},
            "done": True, "done_reason": "stop",
            "prompt_eval_count": reply.prompt_tokens, "eval_count": reply.completion_tokens,
        })


def _usage(reply: Text | ToolCalls) -> dict[str, int]:
    return {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens}


def _tool_call(call: ToolCall) -> dict[str, Any]:
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def _completion(reply: Text | ToolCalls, cid: str, model: str) -> dict[str, Any]:
    if isinstance(reply, Text):
        message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
        finish = reply.finish_reason
    else:
        message = {"role": "assistant", "content": reply.content, "refusal": None,
                   "tool_calls": [_tool_call(c) for c in reply.calls]}
        finish = "tool_calls"
    return {"id": cid, "object": "chat.completion", "created": CREATED, "model": model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": _usage(reply)}


def _split(text: str, parts: int) -> list[str]:
    size = max(1, -(-len(text) // max(1, parts)))
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def _chunks(reply: Text | ToolCalls) -> list[tuple[dict[str, Any], str | None]]:
    """The ``(delta, finish_reason)`` of every chunk of a streamed reply, in order."""
    out: list[tuple[dict[str, Any], str | None]] = [({"role": "assistant", "content": ""}, None)]
    if isinstance(reply, Text):
        out += [({"content": piece}, None) for piece in reply.stream_pieces()]
        out.append(({}, reply.finish_reason))
        return out
    if reply.content:
        out.append(({"content": reply.content}, None))
    for index, call in enumerate(reply.calls):
        head = {"index": index, "id": call.id, "type": "function",
                "function": {"name": call.name, "arguments": ""}}
        out.append(({"tool_calls": [head]}, None))
        for fragment in _split(call.arguments, reply.fragments):
            out.append(({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}, None))
    out.append(({}, "tool_calls"))
    return out
