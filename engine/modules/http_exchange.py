"""One HTTP exchange with a handler: middleware, condition, invocation, and the response.

Theory of operation
-------------------
The handler gets two data channels in its input: ``request_body`` (read: the body's bytes,
already written and closed by the engine, so a handler that never reads it costs nothing but a
buffer) and ``response`` (write). It answers in one of two ways, and the engine races them, as
iii does:

* **returns a result** ``{status_code?, headers?, body?}`` → a complete response
  (:func:`~.http_wire.reply_from_result`);
* **streams**: writes text control frames (``set_status``, ``set_headers``) then binary chunks
  to ``response``, and returns nothing. The first binary chunk starts the response (chunked)
  even while the handler still runs, so an SSE handler's events reach the client as it writes
  them. Text frames after that are ignored; the response ends when the channel closes, or the
  client disconnects (the channel is then closed under the writer, which sees "reader gone").

If the channel closes with no body, the result decides (None → the status and headers the
control frames set, empty body). A handler that returns None without ever opening its
``response`` channel is not left waiting for ``default_timeout``: if no writer attaches within
:data:`NO_STREAM_GRACE_S` of the result (iii's fire-and-forget writers attach just after the
handler returns), the answer is 200 with an empty body. ``default_timeout`` bounds the wait for
*the start* of the response (504 ``TIMEOUT``); a stream, once started, runs as long as its
writer keeps it open.

Both channels are dropped from the hub when the exchange ends, so requests whose handler never
touches them leave nothing behind. Error answers carry the handler's error code and message
(never its stacktrace, which is logged with an ``error_id``).
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import TYPE_CHECKING, Any

import anyio
from anyio import CancelScope
from anyio.abc import TaskGroup

from ..channels import Channel, ChannelHub
from ..config import HttpModuleConfig
from ..errors import InvocationTimeout, WireError
from ..types import Call
from .http_routes import Route, RouteMatch
from .http_wire import (
    STATUS_OF_CODE,
    Head,
    apply_control,
    head_headers,
    parse_query,
    reply_from_result,
    request_input,
)

if TYPE_CHECKING:
    from ..node import Node
    from .http_app import Receive, Responder

__all__ = ["Exchange", "body_frames"]

log = logging.getLogger(__name__)

RESPONSE_BUFFER = 64
"""Frames a streaming handler may write ahead of the client before it is paused."""
NO_STREAM_GRACE_S = 1.0
"""After a None result, how long a response writer may take to attach before we answer."""
_FRAME = 64 * 1024


def body_frames(body: bytes, max_frames: int) -> list[bytes]:
    """Split a body into channel frames of 64 KiB (larger ones only past ``max_frames``).

    64 KiB keeps every frame under any reader's frame limit (iii's reader allows 1 MiB).
    """
    if not body:
        return []
    size = max(_FRAME, -(-len(body) // max_frames))
    return [body[i:i + size] for i in range(0, len(body), size)]


class _Outcome:
    """The handler's answer, filled by the invoking task."""

    __slots__ = ("result", "error", "done", "settled")

    def __init__(self) -> None:
        self.result: Any = None
        self.error: WireError | None = None
        self.done = anyio.Event()
        self.settled = False
        """The invoking task has nothing left to do (it may still wait out the grace otherwise)."""


async def _read_head(channel: Channel, head: Head) -> bytes | None:
    """Apply control frames until the first non-empty binary chunk (returned) or the end (None)."""
    async for frame in channel:
        if isinstance(frame, bytes):
            if frame:
                return frame
        else:
            apply_control(frame, head)
    return None


async def _watch_disconnect(receive: Receive, stream: CancelScope) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    stream.cancel()


class Exchange:
    """Runs exchanges for the module's app. One per module."""

    def __init__(self, node: Node, config: HttpModuleConfig) -> None:
        self.router = node.router
        self.hub: ChannelHub = node.modules["channels"]
        self.timeout = config.default_timeout / 1000
        self.no_stream_grace = NO_STREAM_GRACE_S
        self.middleware = tuple(m.function_id for m in sorted(config.middleware, key=lambda m: m.priority))

    async def run(self, found: RouteMatch, call: Call, query_string: bytes, headers: dict[str, str], method: str,
                  body: bytes, receive: Receive, out: Responder) -> None:
        """Answer one routed request whose body has been read."""
        route = found.route
        raw_body: str | None = None
        parsed: Any = None
        if "application/json" in headers.get("content-type", "").lower():
            try:
                parsed = json.loads(body) if body.strip() else None
            except ValueError:
                await out.error(400, "INVALID_JSON", "the body is not valid JSON")
                return
        elif body:
            try:
                raw_body = body.decode()
            except UnicodeDecodeError:
                raw_body = None
        query = parse_query(query_string)
        for function_id in self.middleware:
            if not await self._middleware(function_id, found, query, headers, method, call, out):
                return
        payload = request_input(route, found.path_params, query, headers, method, parsed, raw_body, None, None)
        if route.condition_function_id is not None and not await self._condition(route, payload, call, out):
            return
        for function_id in route.middleware_function_ids:
            if not await self._middleware(function_id, found, query, headers, method, call, out):
                return
        frames = body_frames(body, self.hub.max_buffer - 1)
        request_channel = self.hub.create(max(1, len(frames)))
        response_channel = self.hub.create(RESPONSE_BUFFER)
        try:
            for frame in frames:
                await request_channel.send(frame)  # never waits: the buffer holds them all
            await request_channel.close()
            payload["request_body"] = request_channel.ref("read")
            payload["response"] = response_channel.ref("write")
            await self._answer(route, payload, call, response_channel, receive, out)
        finally:
            self.hub.channels.pop(request_channel.id, None)
            self.hub.channels.pop(response_channel.id, None)
            if "read" not in request_channel.attached:
                await request_channel.aclose()  # an attached reader drains it and closes it itself
            await response_channel.aclose()  # an attached writer now sees "reader gone"

    async def _answer(self, route: Route, payload: dict[str, Any], call: Call, channel: Channel,
                      receive: Receive, out: Responder) -> None:
        outcome = _Outcome()
        head = Head()
        first: bytes | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._invoke, route, payload, call, outcome, channel)
            with anyio.move_on_after(self.timeout) as deadline:
                # Ends at the first body chunk, or when the channel ends: closed by the handler's
                # writer, or by _invoke once a result makes the stream moot (no cancellation on
                # the common path: cancelling costs more than the rest of the race).
                first = await _read_head(channel, head)
                if first is None and not outcome.done.is_set():
                    await outcome.done.wait()
            if first is not None:
                await self._stream(out, head, first, channel, receive, tg)
            if not outcome.settled:
                tg.cancel_scope.cancel()  # a streaming handler that still runs, a late one, or the grace
        if first is not None:
            return
        if deadline.cancelled_caught:  # no result, or a writer that neither wrote nor closed
            log.warning("http %s %s: %s gave no response within %gs", route.method, route.path, route.function_id, self.timeout)
            await out.error(504, "TIMEOUT", f"{route.function_id} did not respond within {self.timeout:g}s")
        elif outcome.error is not None:
            await self._fail(route, outcome.error, out)
        elif outcome.result is None:
            await out.reply(head.status, head_headers(head), b"")
        else:
            try:
                reply = reply_from_result(outcome.result)
            except (TypeError, ValueError) as exc:
                await self._fail(route, WireError(f"the handler's response cannot be encoded: {exc}", code="BAD_RESPONSE"), out)
                return
            await out.reply(reply.status, reply.headers, reply.body)

    async def _invoke(self, route: Route, payload: dict[str, Any], call: Call, outcome: _Outcome, channel: Channel) -> None:
        try:
            outcome.result = await self.router.invoke(route.function_id, payload, call=call, namespace=route.namespace,
                                                      metadata=route.metadata)
        except WireError as exc:
            outcome.error = exc
        except Exception as exc:  # a bug on our side, not the handler's error
            log.exception("http: invoking %s failed", route.function_id)
            outcome.error = WireError(f"internal error ({type(exc).__name__})", code="INTERNAL_ERROR")
        outcome.done.set()
        if outcome.error is None and outcome.result is None:
            if "write" not in channel.attached:
                await anyio.sleep(min(self.no_stream_grace, self.timeout))
            if "write" in channel.attached:
                outcome.settled = True
                return  # a writer came: the stream (or its end) decides
        outcome.settled = True
        await channel.close()  # ends the wait for a streamed head; an attached writer sees "reader gone"

    async def _stream(self, out: Responder, head: Head, first: bytes, channel: Channel, receive: Receive,
                      tg: TaskGroup) -> None:
        await out.start(head.status, head_headers(head))
        with CancelScope() as stream:
            tg.start_soon(_watch_disconnect, receive, stream)
            await out.chunk(first)
            async for frame in channel:
                if isinstance(frame, bytes) and frame:
                    await out.chunk(frame)
        if not stream.cancel_called:
            await out.end()

    async def _fail(self, route: Route, error: WireError, out: Responder) -> None:
        error_id = uuid.uuid4().hex[:12]
        status = STATUS_OF_CODE.get(error.code, 500)
        log.warning("http %s %s: %s failed with %s (error_id=%s): %s%s", route.method, route.path, route.function_id,
                    error.code, error_id, error.message, f"\n{error.stacktrace}" if error.stacktrace else "")
        await out.error(status, "TIMEOUT" if status == 504 else error.code, error.message, error_id=error_id)

    async def _condition(self, route: Route, payload: dict[str, Any], call: Call, out: Responder) -> bool:
        assert route.condition_function_id is not None
        data = {k: v for k, v in payload.items() if k not in ("request_body", "response")}
        try:
            ok = await self.router.invoke(route.condition_function_id, data, call=call, namespace=route.namespace,
                                          metadata=route.metadata, timeout=self.timeout)
        except WireError as exc:
            await self._fail(route, exc, out)
            return False
        if not ok:
            await out.error(422, "CONDITION_NOT_MET", f"condition {route.condition_function_id} not met", skipped=True)
            return False
        return True

    async def _middleware(self, function_id: str, found: RouteMatch, query: dict[str, str], headers: dict[str, str],
                          method: str, call: Call, out: Responder) -> bool:
        """Run one ``preHandler`` middleware; False when it answered the request itself."""
        data = {"phase": "preHandler", "context": {},
                "request": {"path_params": found.path_params, "query_params": query, "headers": headers, "method": method}}
        try:
            result = await self.router.invoke(function_id, data, call=call, timeout=self.timeout)
        except InvocationTimeout:
            await out.error(504, "MIDDLEWARE_TIMEOUT", f"middleware {function_id} did not answer within {self.timeout:g}s")
            return False
        except WireError as exc:
            await self._fail(found.route, exc, out)
            return False
        if isinstance(result, dict) and result.get("action") == "respond":
            reply = reply_from_result(result.get("response") or {})
            await out.reply(reply.status, reply.headers, reply.body)
            return False
        return True
