"""The smallest bus client there is: connect, make one call, hang up. Used by the ``agentos`` CLI.

It speaks JSON frames, as an iii SDK would: read ``workerregistered`` (or the ``error`` frame the
engine sends before closing an unauthenticated connection), send one ``invokefunction`` with a
fresh uuid4 ``invocation_id``, and wait for the ``invocationresult`` that carries it. Workers use
the SDK instead; this module exists so that the CLI stays independent of it and starts fast.

Errors are translated here, at the one boundary: anything that keeps us from talking to the engine
becomes :class:`EngineUnreachable`, an error answer becomes a :class:`~engine.errors.WireError`
with the engine's code, and an answer that does not come in time becomes
:class:`~engine.errors.InvocationTimeout`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from . import protocol as p
from .errors import EngineError, InvocationTimeout, WireError

__all__ = ["BusClient", "EngineUnreachable", "call", "open_client"]


class EngineUnreachable(EngineError):
    """No conversation with the engine at ``url`` was possible; ``reason`` says why."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"engine not reachable at {url}: {reason}")
        self.url = url
        self.reason = reason


class BusClient:
    """One open connection: ``worker_id`` is how the engine knows it (it lists it as a worker)."""

    def __init__(self, ws: ClientConnection, worker_id: str) -> None:
        self._ws = ws
        self.worker_id = worker_id

    async def call(self, function_id: str, data: Any = None, *, timeout_s: float = 30.0,
                   void: bool = False) -> Any:
        """Invoke ``function_id`` and return its result; one call at a time per client.

        Args:
            data: the JSON-serialisable payload.
            timeout_s: seconds to wait for the answer (not used when ``void``).
            void: fire and forget: the engine sends no answer and this returns None once sent.

        Raises:
            WireError: the engine or the function answered an error (``code`` is the engine's).
            InvocationTimeout: no answer within ``timeout_s``.
            websockets.exceptions.ConnectionClosed: the connection dropped (:func:`open_client`
                turns it into :class:`EngineUnreachable`).
        """
        invocation_id = str(uuid.uuid4())
        request = p.InvokeFunction(
            invocation_id=None if void else invocation_id, function_id=function_id, data=data,
            action=p.VoidAction() if void else None,
        )
        await self._ws.send(p.encode_json(request))
        if void:
            return None
        try:
            with anyio.fail_after(timeout_s):
                return await self._result_of(invocation_id)
        except TimeoutError:
            raise InvocationTimeout(f"no answer from {function_id} within {timeout_s:g}s") from None

    async def _result_of(self, invocation_id: str) -> Any:
        while True:
            message = await _receive(self._ws)
            if isinstance(message, p.InvocationResult) and message.invocation_id == invocation_id:
                if message.error is not None:
                    raise WireError(message.error.message, stacktrace=message.error.stacktrace,
                                    code=message.error.code)
                return message.result
            if isinstance(message, p.ErrorMessage):
                raise WireError(message.error.message, code=message.error.code)
            if isinstance(message, p.Ping):
                await self._ws.send(p.encode_json(p.Pong()))


@asynccontextmanager
async def open_client(url: str, *, token: str | None = None,
                      connect_timeout: float = 5.0) -> AsyncIterator[BusClient]:
    """Connect to the bus and wait for ``workerregistered``; the block may then make calls.

    Args:
        url: the bus, e.g. ``ws://127.0.0.1:49134``.
        token: sent as ``Authorization: Bearer``; None for an engine running open.
        connect_timeout: seconds for the TCP connect and the WebSocket handshake.

    Raises:
        EngineUnreachable: cannot connect, handshake refused, or the connection dropped.
        WireError: the engine refused the credential (code ``UNAUTHORIZED``).
    """
    headers = {"Authorization": f"Bearer {token}"} if token else None
    try:
        async with connect(url, additional_headers=headers, open_timeout=connect_timeout,
                           compression=None, max_size=None) as ws:
            yield BusClient(ws, await _registered(ws))
    except (OSError, InvalidURI, InvalidHandshake) as exc:
        raise EngineUnreachable(url, str(exc) or type(exc).__name__) from exc
    except TimeoutError as exc:  # the connect/handshake deadline
        raise EngineUnreachable(url, f"no handshake within {connect_timeout:g}s") from exc
    except ConnectionClosed as exc:
        raise EngineUnreachable(url, f"the engine closed the connection ({exc})") from exc


async def call(url: str, function_id: str, data: Any = None, *, token: str | None = None,
               timeout_s: float = 30.0, void: bool = False) -> Any:
    """Connect, make one call (see :meth:`BusClient.call`), hang up.

    Raises:
        EngineUnreachable, WireError, InvocationTimeout: as :func:`open_client` and
            :meth:`BusClient.call`.
    """
    async with open_client(url, token=token) as client:
        return await client.call(function_id, data, timeout_s=timeout_s, void=void)


async def _registered(ws: ClientConnection) -> str:
    message = await _receive(ws)
    if isinstance(message, p.ErrorMessage):
        raise WireError(message.error.message, code=message.error.code)
    if not isinstance(message, p.WorkerRegistered):
        raise WireError(f"expected workerregistered first, got {message.type}",
                        code="protocol_error")
    return message.worker_id


async def _receive(ws: ClientConnection) -> p.Message:
    while True:
        frame = await ws.recv()
        try:
            return p.decode_json(frame)
        except p.FrameError:
            continue  # not for us (telemetry, a newer message type): keep waiting
