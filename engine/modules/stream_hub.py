"""Who is subscribed to what, and each socket's bounded outbox: the fan-out of stream events.

Theory of operation
-------------------
Every stream socket is a :class:`Client`: its realm (from its credential or the auth function),
its subscriptions and an outbox of encoded frames that the socket's writer drains. The
:class:`Hub` indexes subscriptions by ``(realm, stream_name, group_id)``, so a change finds its
subscribers without scanning, and only ever those of its own realm. A subscription with an item
id gets only that item's events; one without gets the whole group's (iii's rule). Each matching
subscription gets the frame once, as iii sends it.

Delivery never waits: :meth:`Hub.deliver` puts the frame in each outbox with
:meth:`Client.offer_nowait` (STYLE rule 9: the logic is in ``*_nowait``, ``receive`` only
waits). An outbox is bounded by ``max_pending``: a client that falls that far behind is failed
with :class:`SlowClientError` at once (its outbox is dropped and its ``on_fail`` hook called, so
the socket is closed with the reason), and everyone else keeps receiving.

A join is two steps, so no event slips between the ``sync`` and the live feed: the subscription
is added *holding* (events for it are kept aside), the current items are read, then
:meth:`Hub.release` sends the ``sync`` followed by what was held. An event may therefore repeat
what the ``sync`` already showed; it never goes missing.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import anyio
import anyio.lowlevel

from ..errors import EngineError

__all__ = ["Client", "ClientStatistics", "Hub", "HubStatistics", "SlowClientError", "Subscription",
           "DEFAULT_MAX_PENDING", "DEFAULT_MAX_SUBSCRIPTIONS"]

DEFAULT_MAX_PENDING = 1000
"""Frames a client may fall behind by before it is disconnected."""
DEFAULT_MAX_SUBSCRIPTIONS = 1000
"""Subscriptions one socket may hold."""

Key = tuple[str | None, str, str]


class SlowClientError(EngineError):
    """A stream client fell ``pending`` frames behind (the limit) and was disconnected."""

    def __init__(self, pending: int) -> None:
        super().__init__(f"slow consumer: fell {pending} events behind; reconnect and join again")
        self.pending = pending


@dataclass(slots=True, eq=False)
class Subscription:
    """One ``join``: a group of a stream, or one item of it."""

    id: str
    stream_name: str
    group_id: str
    item_id: str | None = None
    held: list[str] | None = field(default=None, repr=False)
    """Frames kept aside while the ``sync`` is being read (None once live)."""

    def wants(self, item_id: str | None) -> bool:
        return self.item_id is None or self.item_id == item_id


class ClientStatistics(NamedTuple):
    pending: int
    max_pending: int
    sent: int
    subscriptions: int


class Client:
    """One stream socket: realm, auth context, subscriptions and a bounded outbox."""

    _ids = itertools.count(1)

    def __init__(self, realm: str | None, context: Any = None, *, max_pending: int = DEFAULT_MAX_PENDING,
                 on_fail: Callable[[], None] | None = None, addr: str = "") -> None:
        self.id = next(self._ids)
        self.realm = realm
        self.context = context
        self.addr = addr
        self.max_pending = max_pending
        self.on_fail = on_fail
        self.subscriptions: dict[str, Subscription] = {}
        self.failure: SlowClientError | None = None
        self._outbox: deque[str] = deque()
        self._sent = 0
        self._closed = False
        self._waiter: anyio.Event | None = None

    def offer_nowait(self, frame: str) -> bool:
        """Queue a frame for the socket; fail the client if it is ``max_pending`` behind.

        Returns:
            True if queued; False if the client is closed or failed (now or before).
        """
        if self._closed or self.failure is not None:
            return False
        if len(self._outbox) >= self.max_pending:
            self.fail_nowait(SlowClientError(len(self._outbox)))
            return False
        self._outbox.append(frame)
        self._wake()
        return True

    def fail_nowait(self, error: SlowClientError) -> None:
        """Drop the outbox and call ``on_fail`` (the socket closes with the error's reason)."""
        if self.failure is not None:
            return
        self.failure = error
        self._outbox.clear()
        self._wake()
        if self.on_fail is not None:
            self.on_fail()

    def receive_nowait(self) -> str:
        """The next frame to write.

        Raises:
            anyio.WouldBlock: nothing queued.
            anyio.EndOfStream: the client was closed.
            SlowClientError: the client fell too far behind.
        """
        if self.failure is not None:
            raise self.failure
        if self._outbox:
            self._sent += 1
            return self._outbox.popleft()
        if self._closed:
            raise anyio.EndOfStream
        raise anyio.WouldBlock

    async def receive(self) -> str:
        """Wait for the next frame; raises as :meth:`receive_nowait`, except ``WouldBlock``."""
        await anyio.lowlevel.checkpoint_if_cancelled()
        while True:
            try:
                return self.receive_nowait()
            except anyio.WouldBlock:
                self._waiter = self._waiter or anyio.Event()
                await self._waiter.wait()

    def close_nowait(self) -> None:
        """End the outbox: the writer sends what is queued, then stops."""
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None:
            self._waiter.set()
            self._waiter = None

    def statistics(self) -> ClientStatistics:
        return ClientStatistics(len(self._outbox), self.max_pending, self._sent, len(self.subscriptions))


class HubStatistics(NamedTuple):
    clients: int
    subscriptions: int
    delivered: int
    slow_disconnects: int


class Hub:
    """The subscriptions of every local stream socket, indexed for delivery."""

    def __init__(self, *, max_pending: int = DEFAULT_MAX_PENDING,
                 max_subscriptions: int = DEFAULT_MAX_SUBSCRIPTIONS) -> None:
        self.max_pending = max_pending
        self.max_subscriptions = max_subscriptions
        self.clients: dict[int, Client] = {}
        self._index: dict[Key, dict[tuple[int, str], tuple[Client, Subscription]]] = {}
        self._delivered = 0
        self._slow = 0

    def attach(self, client: Client) -> None:
        self.clients[client.id] = client

    def detach(self, client: Client) -> list[Subscription]:
        """Forget a client; returns the subscriptions it still held (for ``stream:leave``)."""
        self.clients.pop(client.id, None)
        if client.failure is not None:
            self._slow += 1
        left = list(client.subscriptions.values())
        for sub in left:
            self._unindex(client, sub)
        client.subscriptions.clear()
        return left

    def subscribe(self, client: Client, sub: Subscription) -> Subscription | None:
        """Add a subscription, holding its events until :meth:`release`.

        Returns:
            The subscription with the same id it replaced, if any.

        Raises:
            ValueError: the client holds ``max_subscriptions`` already.
        """
        replaced = client.subscriptions.pop(sub.id, None)
        if replaced is not None:
            self._unindex(client, replaced)
        elif len(client.subscriptions) >= self.max_subscriptions:
            raise ValueError(f"too many subscriptions on one socket (limit {self.max_subscriptions})")
        sub.held = []
        client.subscriptions[sub.id] = sub
        self._index.setdefault((client.realm, sub.stream_name, sub.group_id), {})[(client.id, sub.id)] = (client, sub)
        return replaced

    def release(self, client: Client, sub: Subscription, sync: str) -> None:
        """Send the ``sync`` frame, then the events held since :meth:`subscribe`; go live."""
        held, sub.held = sub.held or [], None
        if client.subscriptions.get(sub.id) is not sub:
            return  # left (or replaced) while the sync was read
        client.offer_nowait(sync)
        for frame in held:
            client.offer_nowait(frame)

    def unsubscribe(self, client: Client, subscription_id: str) -> Subscription | None:
        """Remove a subscription; returns it (None if the client had no such id)."""
        sub = client.subscriptions.pop(subscription_id, None)
        if sub is not None:
            self._unindex(client, sub)
        return sub

    def _unindex(self, client: Client, sub: Subscription) -> None:
        key = (client.realm, sub.stream_name, sub.group_id)
        subs = self._index.get(key)
        if subs is not None:
            subs.pop((client.id, sub.id), None)
            if not subs:
                del self._index[key]

    def deliver(self, realm: str | None, stream_name: str, group_id: str, item_id: str | None, frame: str) -> int:
        """Queue ``frame`` for every subscription of the realm that wants it; never waits.

        Returns:
            How many subscriptions it was queued (or held) for.
        """
        count = 0
        for client, sub in list(self._index.get((realm, stream_name, group_id), {}).values()):
            if not sub.wants(item_id):
                continue
            if sub.held is None:
                count += client.offer_nowait(frame)
            elif len(sub.held) >= client.max_pending:
                client.fail_nowait(SlowClientError(len(sub.held)))
            else:
                sub.held.append(frame)
                count += 1
        self._delivered += count
        return count

    def statistics(self) -> HubStatistics:
        clients = self.clients.values()
        subs = sum(len(c.subscriptions) for c in clients)
        slow = self._slow + sum(c.failure is not None for c in clients)
        return HubStatistics(len(self.clients), subs, self._delivered, slow)
