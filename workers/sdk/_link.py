"""The self-healing link to the engine: connect, handshake, read, and reconnect when it drops.

Theory of operation
-------------------
:meth:`Link.supervise` runs for the whole life of a connection, in the connection's task group:
open a socket, serve it until it drops, wait a backoff delay, repeat. One socket's life
(:meth:`Link._serve`) is, in order:

1. read ``workerregistered`` (or an auth ``error``: fatal);
2. send ``reattach`` with the previous ``workerregistered`` ids (reconnects only);
3. send the ``engine::workers::register`` metadata call (void);
4. send every registration from the :class:`Registry` (the replay: trigger types, functions,
   bindings, including those made at run time and minus those undone);
5. call ``engine::health::check`` and wait for the answer: the engine handles a connection's
   frames in order, so any answer means every registration is applied. Only then is the state
   CONNECTED (and, the first time, ``task_status.started()`` lets ``__aenter__`` return).

From the hello on, the session hands every message to :meth:`Link.message_received`, called
from the socket's ``data_received`` (there is no reader task). It resolves pending calls, queues
invocations in the handler pool (or refuses them), starts a task per trigger-provider request,
answers ``ping``, and never waits. When the socket drops, every pending call fails with
``connection_lost`` at once and the state goes to RECONNECTING; calls made meanwhile wait (within
their own timeout) for CONNECTED.

A refused token or ``WORKER_NAMESPACE_CONFLICT`` is fatal: FAILED, no retry. Before the first
readiness the error is raised out of ``supervise`` (so out of ``__aenter__``); afterwards it is
stored and raised by ``serve_forever`` and by every later call.
"""

from __future__ import annotations

import logging
import random
import uuid
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus
from pydantic import BaseModel

from engine.protocol import (
    ErrorMessage,
    InvocationResult,
    InvokeFunction,
    Message,
    Ping,
    Pong,
    Reattach,
    RegisterTrigger,
    RegistrationRejected,
    TriggerRegistrationResult,
    UnregisterTrigger,
    VoidAction,
    WorkerRegistered,
)

from ._frames import WireFrame
from ._handlers import Handlers
from ._pending import PendingCalls
from ._session import Disconnected, Session, open_session
from .errors import (
    AuthenticationError,
    ConnectionLost,
    InvalidState,
    InvocationError,
    RegistrationRejectedError,
    SdkError,
)
from .options import ConnectOptions
from .registry import Registry
from .state import ConnectionState, StateMachine

__all__ = ["Link", "send_call", "HEALTH_CHECK", "REGISTER_WORKER", "WORKER_CONFLICT"]

log = logging.getLogger(__name__)

HEALTH_CHECK = "engine::health::check"
REGISTER_WORKER = "engine::workers::register"
WORKER_CONFLICT = "WORKER_NAMESPACE_CONFLICT"


async def send_call(session: Session, pending: PendingCalls, msg: InvokeFunction) -> Any:
    """Send a call on ``session`` and, unless it is void, wait for its answer.

    Returns:
        The answer's ``result`` (None for a void call).

    Raises:
        InvocationError: the answer carried an error.
        ConnectionLost: the socket dropped before the answer.
    """
    try:
        if msg.invocation_id is None:
            await session.send(msg)
            return None
        with pending.expect(msg.function_id, msg.invocation_id) as slot:
            await session.send(msg)
            return await slot.wait()
    except Disconnected as exc:
        raise ConnectionLost(
            f"connection lost while calling {msg.function_id}",
            function_id=msg.function_id,
            invocation_id=msg.invocation_id,
        ) from exc


class Link:
    """The socket side of a connection. Owned by :class:`~workers.sdk.Connection`.

    Attributes:
        session: the socket registrations and calls go to; None while disconnected.
        hello: the latest ``workerregistered`` (its ids are used to reattach).
        reconnects: how many times the link came back after a loss.
        rejected: non-fatal ``registrationrejected`` frames.
    """

    def __init__(
        self,
        options: ConnectOptions,
        registry: Registry,
        pending: PendingCalls,
        handlers: Handlers,
        machine: StateMachine,
    ) -> None:
        self.options = options
        self.session: Session | None = None
        self.hello: WorkerRegistered | None = None
        self.reconnects = 0
        self.rejected: list[RegistrationRejected] = []
        self.failure: SdkError | None = None
        self._registry = registry
        self._pending = pending
        self._handlers = handlers
        self._machine = machine
        self._fatal: SdkError | None = None
        self._ready_once = False
        self._rng = random.Random()
        self._tg: TaskGroup | None = None

    async def supervise(
        self, tg: TaskGroup, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Keep the link up until cancelled or failed. Start it with ``tg.start``.

        Args:
            tg: the connection's task group, where handler tasks run.

        Raises:
            AuthenticationError, RegistrationRejectedError: a fatal refusal before the first
                readiness (afterwards it is stored in ``failure`` and this returns).
        """
        self._tg = tg
        attempt = 0
        while True:
            was_ready = False
            try:
                session = await open_session(
                    self.options.url,
                    codec=self.options.codec,
                    token=self.options.token,
                    open_timeout=self.options.default_timeout,
                    receiver=self,
                )
                try:
                    was_ready = await self._serve(session, task_status)
                finally:
                    self._lost(session)
                    await session.aclose()
            except (AuthenticationError, RegistrationRejectedError) as exc:
                self._fail(exc)
                if not self._ready_once:
                    raise
                return
            except Disconnected as exc:
                log.warning("engine at %s unreachable: %s", self.options.url, exc)
            if was_ready:
                attempt = 0
            delay = self.options.reconnect.delay(attempt, self._rng)
            attempt += 1
            log.info("reconnecting to %s in %.2fs (attempt %d)", self.options.url, delay, attempt)
            await anyio.sleep(delay)

    async def _serve(self, session: Session, task_status: TaskStatus[None]) -> bool:
        """Handshake on ``session``, then serve it until it drops; True if it got ready."""
        with anyio.move_on_after(self.options.default_timeout) as waited:
            hello = await session.hello()
        if waited.cancelled_caught:
            raise Disconnected("no workerregistered from the engine")
        previous, self.hello = self.hello, hello
        ready = False
        try:
            await self._handshake(session, previous)
        except (Disconnected, InvocationError, TimeoutError) as exc:
            if self._fatal is None:  # a fatal refusal is reported once, by supervise()
                log.warning("handshake with %s failed: %r", self.options.url, exc)
        else:
            ready = True
            self._ready(task_status)
            await session.wait_closed()
        if self._fatal is not None:
            raise self._fatal
        return ready

    async def _handshake(self, session: Session, previous: WorkerRegistered | None) -> None:
        if previous is not None:
            await session.send(
                Reattach(
                    previous_worker_id=previous.worker_id, reattach_token=previous.reattach_token
                )
            )
        await session.send(
            InvokeFunction(
                function_id=REGISTER_WORKER, data=self.options.registration(), action=VoidAction()
            )
        )
        # From here on, run-time registrations go straight to this socket. The snapshot below is
        # taken in the same step (no await in between), so each change is sent exactly once.
        self.session = session
        for frame in self._registry.frames():
            await session.send(frame)
        check = InvokeFunction(invocation_id=str(uuid.uuid4()), function_id=HEALTH_CHECK, data={})
        with anyio.fail_after(self.options.default_timeout):
            try:
                await send_call(session, self._pending, check)
            except InvocationError as exc:
                if exc.code == ConnectionLost.CODE:
                    raise
                # Any answer, even an error, proves the engine processed every frame before it.
                log.debug("health check answered %s; registrations are applied", exc.code)

    def _ready(self, task_status: TaskStatus[None]) -> None:
        self._machine.move(ConnectionState.CONNECTED)
        assert self.hello is not None
        if self._ready_once:
            self.reconnects += 1
            log.info("reconnected to %s as %s", self.options.url, self.hello.worker_id)
        else:
            self._ready_once = True
            log.info("connected to %s as %s", self.options.url, self.hello.worker_id)
            task_status.started()

    def _lost(self, session: Session) -> None:
        if self.session is not session:
            return
        self.session = None
        if self._machine.state is ConnectionState.CONNECTED:
            self._machine.move(ConnectionState.RECONNECTING)
        failed = self._pending.fail_all_nowait(ConnectionLost.CODE, "connection to the engine lost")
        if self._machine.state is not ConnectionState.CLOSED:
            log.warning("connection to %s lost; %d calls failed", self.options.url, failed)

    def _fail(self, exc: SdkError) -> None:
        log.error("connection to %s failed for good: %s", self.options.url, exc)
        self.failure = exc
        if self._machine.state not in (ConnectionState.CLOSED, ConnectionState.FAILED):
            self._machine.move(ConnectionState.FAILED)
        self._pending.fail_all_nowait(ConnectionLost.CODE, str(exc))

    def failure_error(self) -> BaseException:
        """The error a FAILED connection raises."""
        return self.failure if self.failure is not None else InvalidState("the connection failed")

    async def announce(self, frame: BaseModel) -> None:
        """Send a run-time registration change if connected; otherwise the replay carries it."""
        session = self.session
        if session is not None:
            try:
                await session.send(frame)
            except Disconnected:
                log.debug("registration change deferred to the next connection")

    # -- the receiver (called by the session, from data_received) -----------------------------

    def message_received(self, session: Session, message: Message) -> None:
        """Dispatch one message from the engine; never waits."""
        tg = self._tg
        assert tg is not None
        if self._fatal is not None:
            return  # failed for good: the socket is closing, serve nothing more
        match message:
            case InvocationResult():
                if not self._pending.resolve_nowait(message):
                    log.debug("dropping a late answer for %s", message.invocation_id)
            case InvokeFunction():
                if not self._handlers.admit_nowait(tg, session, message):
                    refusal = self._handlers.refusal(message)
                    if refusal is not None:
                        _answer_quietly(session, refusal)
            case RegisterTrigger():
                tg.start_soon(self._handlers.register_trigger, session, message)
            case UnregisterTrigger():
                tg.start_soon(self._handlers.unregister_trigger, message)
            case Ping():
                _answer_quietly(session, Pong())
            case RegistrationRejected():
                self._rejected(session, message)
            case TriggerRegistrationResult(error=error) if error is not None:
                log.warning("engine refused trigger %s: %s", message.id, error.message)
            case ErrorMessage(error=error):
                log.warning("engine reported %s: %s", error.code, error.message)
            case _:
                log.debug("ignoring %s from the engine", message.type)

    def session_lost(self, session: Session) -> None:
        """The socket closed: fail its calls now, not when the supervisor gets round to it."""
        self._lost(session)

    def _rejected(self, session: Session, msg: RegistrationRejected) -> None:
        error = RegistrationRejectedError(
            msg.code,
            msg.namespace,
            function_id=msg.function_id,
            worker_name=msg.worker_name,
            owner_worker_id=msg.owner_worker_id,
        )
        if msg.code == WORKER_CONFLICT:
            # Stop serving: fail the calls in flight (the handshake's health check included) and
            # close the socket, so _serve() wakes up and raises the error.
            self._fatal = error
            self._lost(session)
            session.close_nowait()
        else:
            log.warning("registration rejected: %s", error)
            self.rejected.append(msg)


def _answer_quietly(session: Session, answer: BaseModel | WireFrame) -> None:
    try:
        if isinstance(answer, BaseModel):
            session.send_nowait(answer)
        else:
            session.send_wire_nowait(answer)
    except Disconnected:
        log.debug("dropping an answer: connection gone")
