"""The stream module's WebSocket listener (iii's :3112): the I/O shell of stream sockets.

Theory of operation
-------------------
One connection, once upgraded on ``/``:

1. **Identify.** With ``auth_function`` configured, it is called with ``{headers, path,
   query_params, addr}`` and must answer ``{context}``; the context goes to join/leave triggers
   and its ``realm`` (if a string) scopes the socket. Without it, the engine's own credential
   check runs on ``Authorization: Bearer …`` or ``?token=…`` and the credential's realm scopes
   the socket (open mode: the default realm). A refusal, an error or another answer closes the
   socket with 1008 and the reason.
2. **Serve.** A reader decodes frames (:mod:`.stream_protocol`) and serves ``join``/``leave``
   in arrival order; a bad frame is answered with an ``error`` frame and the socket goes on. A
   writer drains the client's bounded outbox (:class:`~.stream_hub.Client`). Both run in one
   task group per connection, cancelled as soon as the socket is closed (even mid-join).
3. **End.** When the peer leaves, the subscriptions it still held fire ``stream:leave``. A
   client that fell ``max_pending`` events behind is failed by the hub: its task group is
   cancelled and the socket closed with 1008 ``slow consumer: …``, the close frame queued after
   what the peer has not read yet; a peer that does not read it within ``close_timeout_s`` is
   cut off. Shutdown closes every socket the same way (1001), so a stuck peer cannot hold it.

All timeouts live here.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import anyio
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from ..auth import AuthFailure
from ..errors import WireError
from ..types import Call
from .stream_hub import Client, SlowClientError, Subscription
from .stream_protocol import (
    UNAUTHORIZED,
    BadMessage,
    GroupRef,
    ItemRef,
    Join,
    JoinData,
    StreamMessage,
    decode,
    error_frame,
)

if TYPE_CHECKING:
    from .stream import StreamModule

__all__ = ["StreamServer", "close_within"]

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 64 * 1024
"""Client frames are join/leave messages: anything bigger is refused (close 1009)."""
CLOSE_TIMEOUT_S = 5.0
"""How long a closing peer gets to read what is queued and the close frame before it is cut off."""


async def close_within(ws: ServerConnection, code: int, reason: str, timeout: float) -> None:
    """Close with ``code``/``reason``; abort the TCP connection if that takes over ``timeout``."""
    reason = reason.encode("utf-8")[:120].decode("utf-8", "ignore")  # RFC 6455 §5.5: 125 bytes
    with anyio.move_on_after(timeout):
        await ws.close(code, reason)
    if ws.state is not State.CLOSED:
        ws.transport.abort()


def leave_event(sub: Subscription, context: Any) -> dict[str, Any]:
    """The payload of ``stream:join`` / ``stream:leave`` triggers."""
    return {"subscription_id": sub.id, "stream_name": sub.stream_name, "group_id": sub.group_id,
            "id": sub.item_id, "context": context}


class StreamServer:
    """Serves stream sockets for a :class:`~engine.modules.stream.StreamModule`.

    ``async with StreamServer(module, host=…, port=0) as s: s.port``.
    """

    def __init__(self, module: StreamModule, *, host: str, port: int, open_timeout_s: float,
                 close_timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        self.module = module
        self.host, self.port = host, port
        self.open_timeout_s = open_timeout_s
        self.close_timeout_s = close_timeout_s
        self._server: Server | None = None

    async def __aenter__(self) -> StreamServer:
        self._server = await serve(
            self._handle, self.host, self.port, process_request=self._route, compression=None,
            max_size=MAX_FRAME_BYTES, open_timeout=self.open_timeout_s, ping_interval=20, ping_timeout=20,
            close_timeout=self.close_timeout_s,
        )
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._server is not None
        self._server.close(close_connections=False)
        async with anyio.create_task_group() as tg:
            for ws in list(self._server.connections):
                tg.start_soon(close_within, ws, 1001, "server shutting down", self.close_timeout_s)
        await self._server.wait_closed()

    def _route(self, connection: ServerConnection, request: Request) -> Response | None:
        if urlsplit(request.path).path in ("/", ""):
            return None
        return connection.respond(HTTPStatus.NOT_FOUND, "not found: stream sockets connect on /\n")

    # -- one connection ----------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        identity = await self._identify(ws)
        if identity is None:
            return
        hub = self.module.hub
        client = Client(identity[0], identity[1], max_pending=hub.max_pending, addr=_addr(ws))
        hub.attach(client)
        try:
            async with anyio.create_task_group() as tg:
                client.on_fail = tg.cancel_scope.cancel
                tg.start_soon(self._read_loop, ws, client)
                tg.start_soon(_cancel_when_closed, ws, tg.cancel_scope)  # even mid-join
                await self._write_loop(ws, client)
                tg.cancel_scope.cancel()
        finally:
            for sub in hub.detach(client):
                self.module.triggers.fire_leave(client.realm, leave_event(sub, client.context))
        if client.failure is not None:
            log.warning("stream client %s disconnected: %s", client.addr, client.failure)
            await close_within(ws, 1008, str(client.failure), self.close_timeout_s)

    async def _identify(self, ws: ServerConnection) -> tuple[str | None, Any] | None:
        """The socket's ``(realm, context)``, or None once it was refused and closed."""
        assert ws.request is not None
        url = urlsplit(ws.request.path)
        query = parse_qs(url.query, keep_blank_values=True)
        module = self.module
        if module.config.auth_function:
            payload = {"headers": _headers(ws.request), "path": url.path or "/", "query_params": query,
                       "addr": _addr(ws)}
            try:
                result = await module.router.invoke(module.config.auth_function, payload, timeout=self.open_timeout_s)
            except WireError as exc:
                await self._refuse(ws, f"unauthorized: {exc.message}")
                return None
            if not isinstance(result, dict):
                await self._refuse(ws, "unauthorized: the auth function did not answer {context}")
                return None
            context = result.get("context")
            realm = context.get("realm") if isinstance(context, dict) else None
            return (realm if isinstance(realm, str) and realm else None), context
        header = ws.request.headers.get("Authorization")
        if header is None and query.get("token"):
            header = f"Bearer {query['token'][-1]}"
        try:
            credential = module.node.auth.authenticate(header)
        except AuthFailure as exc:
            await self._refuse(ws, f"unauthorized: {exc.message}")
            return None
        return credential.realm, None

    async def _refuse(self, ws: ServerConnection, reason: str) -> None:
        log.info("refused stream socket from %s: %s", _addr(ws), reason)
        await close_within(ws, 1008, reason, self.close_timeout_s)

    async def _write_loop(self, ws: ServerConnection, client: Client) -> None:
        try:
            while True:
                await ws.send(await client.receive())
        except (anyio.EndOfStream, SlowClientError, ConnectionClosed):
            return

    async def _read_loop(self, ws: ServerConnection, client: Client) -> None:
        try:
            async for frame in ws:
                try:
                    msg = decode(frame)
                except BadMessage as exc:
                    client.offer_nowait(error_frame(exc.code, str(exc)))
                    continue
                if isinstance(msg, Join):
                    await self._join(client, msg.data)
                elif msg is not None:
                    self._leave(client, msg.data.subscriptionId)
        except ConnectionClosed:
            pass
        finally:
            client.close_nowait()

    async def _join(self, client: Client, data: JoinData) -> None:
        module, hub = self.module, self.module.hub
        sub = Subscription(data.subscriptionId, data.streamName, data.groupId, data.id)
        if not await module.triggers.authorize_join(client.realm, leave_event(sub, client.context)):
            refusal = StreamMessage(module.now_ms(), sub.stream_name, sub.group_id, sub.item_id, UNAUTHORIZED)
            client.offer_nowait(refusal.encode())
            return
        try:
            hub.subscribe(client, sub)
        except ValueError as exc:
            client.offer_nowait(error_frame("too_many_subscriptions", str(exc)))
            return
        store = module.store
        try:
            if sub.item_id is not None:
                call = Call("stream::get", role="client", realm=client.realm)
                ref = ItemRef(stream_name=sub.stream_name, group_id=sub.group_id, item_id=sub.item_id)
                items = await store.get(call, ref)
            else:
                call = Call("stream::list", role="client", realm=client.realm)
                items = await store.list_items(call, GroupRef(stream_name=sub.stream_name, group_id=sub.group_id))
        except WireError as exc:
            hub.unsubscribe(client, sub.id)
            client.offer_nowait(error_frame(exc.code, f"join {sub.stream_name}/{sub.group_id}: {exc.message}"))
            return
        sync = StreamMessage.change(module.now_ms(), sub.stream_name, sub.group_id, sub.item_id, "sync", items)
        hub.release(client, sub, sync.encode())

    def _leave(self, client: Client, subscription_id: str) -> None:
        sub = self.module.hub.unsubscribe(client, subscription_id)
        if sub is not None:
            self.module.triggers.fire_leave(client.realm, leave_event(sub, client.context))


async def _cancel_when_closed(ws: ServerConnection, scope: anyio.CancelScope) -> None:
    await ws.wait_closed()
    scope.cancel()


def _headers(request: Request) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in request.headers.raw_items():
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def _addr(ws: ServerConnection) -> str:
    addr = ws.remote_address
    if isinstance(addr, tuple) and len(addr) >= 2:
        return f"{addr[0]}:{addr[1]}"
    return str(addr)
