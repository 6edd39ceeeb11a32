"""A scripted stand-in for the engine, for the SDK's wire tests.

It listens on 127.0.0.1 port 0, speaks the frames of engine/protocol.py (msgpack when the client
offers ``agentos.msgpack``, JSON otherwise), sends ``workerregistered`` on connect and answers
``engine::health::check``. Everything a worker sends is recorded per connection (``received``) and
queued (``next()``), so a test can assert exact frame order and drive the conversation; nothing
here sleeps.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from pydantic import BaseModel
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from engine.protocol import (
    MSGPACK_SUBPROTOCOL,
    ErrorBody,
    ErrorMessage,
    InvocationResult,
    InvokeFunction,
    Message,
    RegisterFunction,
    RegistrationRejected,
    WorkerRegistered,
    decode_json,
    decode_msgpack,
    encode_json,
    encode_msgpack,
)

M = TypeVar("M", bound=BaseModel)

WAIT = 5.0
"""The one time unit the stub allows for a frame that must come (failure, not pacing)."""

HEALTH = "engine::health::check"
REGISTER = "engine::workers::register"


class StubConnection:
    """One worker socket as the stub engine sees it."""

    def __init__(self, ws: ServerConnection, index: int) -> None:
        self.ws = ws
        self.index = index
        self.msgpack = ws.subprotocol == MSGPACK_SUBPROTOCOL
        self.headers: Headers = ws.request.headers if ws.request else Headers()
        self.worker_id = str(uuid.uuid4())
        self.reattach_token = str(uuid.uuid4())
        self.received: list[Message] = []
        self.frame_kinds: list[type] = []
        self.ready = anyio.Event()
        self.closed = anyio.Event()
        inbox: tuple[MemoryObjectSendStream[Message], MemoryObjectReceiveStream[Message]]
        inbox = anyio.create_memory_object_stream[Message](math.inf)
        self._inbox_in, self._inbox = inbox

    async def send(self, message: BaseModel) -> None:
        await self.ws.send(encode_msgpack(message) if self.msgpack else encode_json(message))

    async def send_raw(self, frame: str | bytes) -> None:
        await self.ws.send(frame)

    async def next(self, kind: type[M], where: Callable[[M], bool] | None = None) -> M:
        """The next received message of ``kind`` (matching ``where``); earlier others are skipped."""
        with anyio.fail_after(WAIT):
            async for msg in self._inbox:
                if isinstance(msg, kind) and (where is None or where(msg)):
                    return msg
        raise AssertionError("connection closed before the expected frame")

    async def call(self, function_id: str, data: Any = None, **fields: Any) -> InvocationResult:
        """Invoke one of the worker's functions and wait for its answer."""
        invocation_id = str(uuid.uuid4())
        await self.send(
            InvokeFunction(
                invocation_id=invocation_id, function_id=function_id, data=data, **fields
            )
        )
        return await self.next(InvocationResult, lambda r: r.invocation_id == invocation_id)

    async def answer(
        self, call: InvokeFunction, result: Any = None, error: ErrorBody | None = None
    ) -> None:
        assert call.invocation_id is not None
        await self.send(
            InvocationResult(
                invocation_id=call.invocation_id,
                function_id=call.function_id,
                result=result,
                error=error,
            )
        )

    async def close(self, code: int = 1001) -> None:
        await self.ws.close(code)
        await self.closed.wait()

    def types(self) -> list[str]:
        return [m.type for m in self.received]

    def _record(self, msg: Message, frame: str | bytes) -> None:
        self.received.append(msg)
        self.frame_kinds.append(type(frame))
        self._inbox_in.send_nowait(msg)


class StubEngine:
    """The scripted engine. Use as ``async with StubEngine() as engine``.

    Args:
        auth_error: answer every connection with this ``error`` frame and close (bad token).
        http_status: refuse every upgrade with this HTTP status instead.
        refuse_upgrades: refuse this many upgrades first with HTTP 503 (an engine starting up).
        select_msgpack: pick ``agentos.msgpack`` when offered (False: behave like an iii engine).
        reject_worker_on: connection indexes answered ``WORKER_NAMESPACE_CONFLICT`` (then closed).
        reject_functions: function ids answered ``FUNCTION_NAMESPACE_CONFLICT``.
        answer_health: answer ``engine::health::check`` (False: leave it to the test).
        answers: canned answers to the worker's sync calls, by function id: a result, or an
            ``ErrorBody`` to answer with an error. Calls to other ids are left to the test.
        on_message: called for every received message after the built-in behaviour.
    """

    def __init__(
        self,
        *,
        auth_error: ErrorBody | None = None,
        http_status: int | None = None,
        refuse_upgrades: int = 0,
        select_msgpack: bool = True,
        reject_worker_on: frozenset[int] = frozenset(),
        reject_functions: frozenset[str] = frozenset(),
        answer_health: bool = True,
        answers: dict[str, Any] | None = None,
        on_message: Callable[[StubConnection, Message], Awaitable[None]] | None = None,
    ) -> None:
        self.auth_error = auth_error
        self.http_status = http_status
        self.refuse_upgrades = refuse_upgrades
        self.select_msgpack = select_msgpack
        self.reject_worker_on = reject_worker_on
        self.reject_functions = reject_functions
        self.answer_health = answer_health
        self.answers: dict[str, Any] = dict(answers or {})
        self.on_message = on_message
        self.connections: list[StubConnection] = []
        self.errors: list[BaseException] = []
        self.upgrades = 0
        self._server: Server | None = None
        new: tuple[
            MemoryObjectSendStream[StubConnection], MemoryObjectReceiveStream[StubConnection]
        ]
        new = anyio.create_memory_object_stream[StubConnection](math.inf)
        self._new_in, self._new = new

    @property
    def url(self) -> str:
        assert self._server is not None
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    async def __aenter__(self) -> StubEngine:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            compression=None,
            select_subprotocol=self._select,
            process_request=self._process_request,
        ).__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for conn in self.connections:
            conn._inbox_in.close()
            conn._inbox.close()
        self._new_in.close()
        self._new.close()

    async def next_connection(self) -> StubConnection:
        with anyio.fail_after(WAIT):
            return await self._new.receive()

    def _select(self, conn: ServerConnection, offered: Any) -> Subprotocol | None:
        if self.select_msgpack and MSGPACK_SUBPROTOCOL in offered:
            return Subprotocol(MSGPACK_SUBPROTOCOL)
        return None

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        self.upgrades += 1
        if self.http_status is not None:
            return conn.respond(self.http_status, "refused\n")
        if self.upgrades <= self.refuse_upgrades:
            return conn.respond(503, "starting\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        conn = StubConnection(ws, len(self.connections))
        self.connections.append(conn)
        self._new_in.send_nowait(conn)
        try:
            if self.auth_error is not None:
                await conn.send(ErrorMessage(error=self.auth_error))
                await ws.close(1008, self.auth_error.message)
                return
            await conn.send(
                WorkerRegistered(worker_id=conn.worker_id, reattach_token=conn.reattach_token)
            )
            async for frame in ws:
                msg = (
                    decode_msgpack(frame)
                    if isinstance(frame, bytes) and conn.msgpack
                    else decode_json(frame)
                )
                conn._record(msg, frame)
                await self._react(conn, msg)
        except ConnectionClosed:
            pass  # a dropped socket ends the handler; the test sees ``closed``
        except Exception as exc:  # e.g. a frame the SDK should never have sent
            self.errors.append(exc)
        finally:
            conn.closed.set()
            conn._inbox_in.close()

    async def _react(self, conn: StubConnection, msg: Message) -> None:
        if isinstance(msg, InvokeFunction) and msg.function_id == REGISTER:
            if conn.index in self.reject_worker_on:
                await conn.send(
                    RegistrationRejected(
                        code="WORKER_NAMESPACE_CONFLICT",
                        namespace="default",
                        worker_name=msg.data.get("name"),
                        owner_worker_id="owner-1",
                    )
                )
                await conn.ws.close(1008, "worker name taken")
                return
        if isinstance(msg, RegisterFunction) and msg.id in self.reject_functions:
            await conn.send(
                RegistrationRejected(
                    code="FUNCTION_NAMESPACE_CONFLICT",
                    namespace="default",
                    function_id=msg.id,
                    owner_worker_id="owner-2",
                )
            )
        if isinstance(msg, InvokeFunction) and msg.function_id == HEALTH and self.answer_health:
            await conn.answer(msg, {"status": "healthy"})
            conn.ready.set()
        if (
            isinstance(msg, InvokeFunction)
            and msg.invocation_id is not None
            and msg.function_id in self.answers
        ):
            canned = self.answers[msg.function_id]
            if isinstance(canned, ErrorBody):
                await conn.answer(msg, error=canned)
            else:
                await conn.answer(msg, canned)
        if self.on_message is not None:
            await self.on_message(conn, msg)
