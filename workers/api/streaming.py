"""Streaming a completion: a worker's chunks in over a channel, SSE out over the HTTP response.

Theory of operation
-------------------
:func:`stream_completion` creates a data channel (``engine::channels::create``), calls the
worker (``llm::complete`` or ``agent::chat``) with ``stream: true`` and the channel's writer, and
meanwhile reads the reader end. Two tasks feed one bounded queue: the *pump* (each frame, then
"end") and the *call* (its answer or error). The handler's own task consumes the queue, hands each
frame to the :mod:`relay <workers.api.relay>` and writes what the relay yields to the request's
``response`` channel.

The HTTP response starts at the first bytes the relay yields, not before. So a call that fails
before any chunk — unknown model, forbidden alias, no provider, bad request — raises an
:class:`~workers.api.errors.ApiError` here and the handler answers it with a real status code.
After the start, a failure becomes a ``data: {"error": …}`` event, then ``data: [DONE]``: the
status line is gone by then, and OpenAI clients raise on an ``error`` key in the stream.

The response ends as soon as the worker's stream has said everything (the relay's
``stream_result``): the call's own answer, which the worker sends after its post-processing,
is then not awaited. Nothing waits without a bound: the call has its timeout; once it has
answered, the rest of the stream is awaited at most ``drain_timeout`` (a worker that answered
but never closed the channel). A client that hangs up makes the next write fail: everything is cancelled and our
reader closes, so the worker's next write fails and it stops too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import anyio
from anyio import CancelScope
from anyio.streams.memory import MemoryObjectSendStream

from workers.sdk import (
    ChannelError,
    ChannelReader,
    ChannelWriter,
    Context,
    InvocationError,
    http_response,
)

from .errors import ApiError, from_invocation
from .relay import Relay

__all__ = ["SSE_HEADERS", "stream_completion"]

log = logging.getLogger(__name__)

SSE_HEADERS = {"content-type": "text/event-stream", "cache-control": "no-cache",
               "x-accel-buffering": "no"}
_BUFFER = 32


@dataclass(slots=True)
class _Done:
    result: Any = None
    error: InvocationError | None = None


_END = object()


async def _pump(reader: ChannelReader, out: MemoryObjectSendStream[Any], scope: CancelScope) -> None:
    try:
        async with out:
            try:
                with scope:
                    async for frame in reader:
                        await out.send(frame)
            except ChannelError as exc:
                log.warning("lost the stream of a completion: %s", exc)
            await out.send(_END)  # before the close handshake below, which must not delay the client
    finally:
        with CancelScope(shield=True):  # bounded by the SDK's close timeout
            await reader.aclose()


async def _call(ctx: Context, function_id: str, payload: dict[str, Any], timeout: float,
                out: MemoryObjectSendStream[Any]) -> None:
    async with out:
        done = _Done()
        try:
            done.result = await ctx.trigger(function_id, payload, timeout=timeout)
        except InvocationError as exc:
            done.error = exc
        await out.send(done)


async def _drain(ended: anyio.Event, pump: CancelScope, seconds: float) -> None:
    with anyio.move_on_after(seconds):
        await ended.wait()
    pump.cancel()


class _Client:
    """The HTTP response: its writer end opened at once (off the critical path of the first
    chunk), the response started on the first write. ``gone`` once the client hung up."""

    def __init__(self, ctx: Context, response_ref: dict[str, Any]) -> None:
        self.writer = ChannelWriter.from_ref(ctx, response_ref)
        self.response = http_response(self.writer)
        self.started = False
        self.gone = False
        self._ready = anyio.Event()

    async def open(self) -> None:
        """Attach the writer (nothing is sent: a result returned later still answers)."""
        try:
            await self.writer.__aenter__()
        except ChannelError as exc:
            self.gone = True
            log.info("cannot open the response of a streamed completion (%s)", exc)
        finally:
            self._ready.set()

    async def write(self, data: bytes) -> None:
        if not data or self.gone:
            return
        await self._ready.wait()
        try:
            if not self.started and not self.gone:
                self.started = True
                await self.response.set_headers(SSE_HEADERS)
            if not self.gone:
                await self.response.write(data)
        except ChannelError as exc:
            self.gone = True
            log.info("the client of a streamed completion went away (%s)", exc)

    async def close(self) -> None:
        """End the response (or, unused, detach so that the handler's result answers)."""
        await self._ready.wait()
        if not self.gone:
            try:
                await self.response.close()
            except ChannelError:
                pass


async def stream_completion(ctx: Context, *, function_id: str, payload: dict[str, Any], relay: Relay,
                            response_ref: dict[str, Any], timeout: float, drain_timeout: float,
                            model: str) -> None:
    """Call ``function_id`` streaming, relaying its frames to the HTTP client as SSE.

    Args:
        payload: the call's payload; ``stream`` and ``stream_to`` are added here.
        relay: turns frames into SSE bytes (:class:`~workers.api.relay.LlmRelay` or ``AgentRelay``).
        response_ref: the ``response`` channel reference of the HTTP request.
        timeout: seconds the call may take.
        drain_timeout: after the call answered, how long the rest of the stream may take.
        model: the request's model (for a 404 ``model_not_found`` mapping).

    Raises:
        ApiError: the call failed before the response started (answer it as a normal error).
    """
    refs = await ctx.trigger("engine::channels::create", {})
    reader = ChannelReader.from_ref(ctx, refs["reader"])
    client = _Client(ctx, response_ref)
    send, receive = anyio.create_memory_object_stream[Any](_BUFFER)
    pump_scope = CancelScope()
    ended = anyio.Event()
    done: _Done | None = None
    failure: ApiError | None = None
    async with anyio.create_task_group() as tg, receive:
        tg.start_soon(client.open)
        tg.start_soon(_pump, reader, send.clone(), pump_scope)
        tg.start_soon(_call, ctx, function_id, {**payload, "stream": True, "stream_to": refs["writer"]},
                      timeout, send.clone())
        send.close()
        pending: list[bytes] = []
        while True:
            try:
                item = receive.receive_nowait()
            except anyio.WouldBlock:
                if pending:  # what queued up while we wrote goes out as one write
                    await client.write(b"".join(pending))
                    pending.clear()
                    if client.gone:
                        break
                try:
                    item = await receive.receive()
                except anyio.EndOfStream:
                    break
            except anyio.EndOfStream:
                break
            if item is _END:
                ended.set()
                said = relay.stream_result()
                if said is not None:  # the stream said it all: the call's answer is not awaited
                    done = _Done(result=said)
                    break
            elif isinstance(item, _Done):
                done = item
                if pending:
                    await client.write(b"".join(pending))
                    pending.clear()
                if item.error is not None and not client.started:
                    failure = from_invocation(item.error, model=model)
                    await client.close()  # before our result: the engine then answers with it
                    break
                tg.start_soon(_drain, ended, pump_scope, drain_timeout)
            else:
                pending.append(relay.feed(item))
        if failure is None and done is not None and not client.gone:
            if done.error is not None and relay.error is None:
                relay.error = {"message": done.error.message, "code": done.error.code}
            pending.append(relay.finish(done.result if done.error is None else None))
            await client.write(b"".join(pending))
            await client.close()
        tg.cancel_scope.cancel()
    if failure is not None:
        raise failure
