"""``iii-pubsub``: the ``publish`` function and the ``subscribe`` trigger type.

Theory of operation
-------------------
``publish {topic, data}`` hands ``data`` to the module's :class:`~engine.adapters.PubSub`
(in-process ``LocalPubSub`` for memory/sqlite, Redis channels for redis, so a publish on one
engine reaches subscribers on every engine sharing that Redis) and answers null at once: pub/sub
is fire-and-forget, with no retries and no persistence, as in iii.

Each ``subscribe {topic}`` binding gets its *own* adapter subscription and one task (in the
module's task group) that reads it and delivers every message, as raw ``data``, to the bound
function with a void call. Hence each binding gets each publish exactly once and in publish
order. The subscription is live before the binding is acknowledged, so a publish that arrives
after the ``registertrigger`` frame is delivered. Unbinding cancels that task at once. If the
adapter fails (Redis gone), the task logs it and resubscribes with backoff; messages published
meanwhile are lost, as pub/sub promises nothing more.

Realms are structural: topics are keyed by the caller's realm (:func:`realm_key`), so a publish
in realm ``a`` only reaches bindings made by realm ``a`` credentials, and bindings made without a
realm (engine-level or open mode) share the default realm with realm-less callers.

This module also holds what the state and cron modules share with it: :func:`realm_key`,
:func:`consume` (a self-healing subscription loop), :func:`fire` (deliver a payload to a
trigger's function, after its condition function) and :func:`adapter_errors`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote

import anyio
from anyio.abc import TaskGroup, TaskStatus

from ..adapters import AdapterClosedError, AdapterError, PubSub, SerializationError, build_pubsub
from ..config import PubSubModuleConfig
from ..errors import InvalidArguments, WireError
from ..registry import DEFAULT_NAMESPACE, ENGINE, TriggerEntry
from ..router import Router
from ..types import Call, Role

if TYPE_CHECKING:
    from ..node import Node

__all__ = ["PubSubModule", "PubSubStatistics", "realm_key", "consume", "fire", "adapter_errors", "DELIVERY_ROLE"]

log = logging.getLogger(__name__)

DELIVERY_ROLE: Role = "worker"
"""Role of the calls a trigger makes: never ``system``, so realm-private functions stay private."""
BUFFER = 10_000
"""Messages a subscription holds for a slow consumer before it drops (and logs) new ones."""
CONDITION_TIMEOUT_S = 30.0


def realm_key(realm: str | None, name: str) -> str:
    """The adapter-level name of ``name`` (a state scope, a topic) in ``realm``.

    The realm is percent-quoted, so it never contains the ``\\x1f`` separator: the mapping is
    one-to-one and no choice of realm or name can reach another realm's entries.
    """
    return f"{quote(realm or '', safe='')}\x1f{name}"


@contextmanager
def adapter_errors(what: str) -> Iterator[None]:
    """Translate adapter errors into wire errors (the one boundary for the modules)."""
    try:
        yield
    except SerializationError as exc:
        raise InvalidArguments(f"{what}: {exc}") from exc
    except AdapterError as exc:
        raise WireError(f"{what} failed: {exc}", code="adapter_error") from exc


async def fire(router: Router, trig: TriggerEntry, payload: Any, *, condition: str | None = None) -> bool:
    """Deliver ``payload`` to the trigger's function as a void call in the trigger's realm.

    When ``condition`` names a function, it is called first with the payload and a falsy
    result (or an error, which is logged) skips the delivery.

    Returns:
        True if the call was made.
    """
    call = Call(trig.function_id, role=DELIVERY_ROLE, realm=trig.realm)
    if condition:
        try:
            verdict = await router.invoke(condition, dict(payload) if isinstance(payload, dict) else payload,
                                          call=call, namespace=trig.namespace, timeout=CONDITION_TIMEOUT_S)
        except WireError as exc:
            log.warning("trigger %s: condition %s failed (%s: %s); skipped", trig.id, condition, exc.code, exc.message)
            return False
        except Exception:  # a bug in a built-in condition must not stop the delivery loop
            log.exception("trigger %s: condition %s raised; skipped", trig.id, condition)
            return False
        if not verdict:
            return False
    await router.invoke_void(trig.function_id, payload, call=call, namespace=trig.namespace)
    return True


async def consume(pubsub: PubSub, topic: str, handle: Callable[[Any], Awaitable[None]], *,
                  task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
    """Await ``handle(message)`` for each message of ``topic``, in order, until cancelled.

    Signals ``started`` once the subscription is live. A failure to subscribe the first time
    is raised (so ``tg.start`` refuses); a later failure is logged and retried with backoff.
    Returns when the adapter is closed.
    """
    started, delay, dropped = False, 0.1, 0
    while True:
        try:
            async with pubsub.subscribe(topic, max_buffer_size=BUFFER) as sub:
                if not started:
                    started = True
                    task_status.started()
                delay = 0.1
                async for message in sub:
                    await handle(message)
                    if sub.statistics().dropped > dropped:
                        dropped = sub.statistics().dropped
                        log.warning("subscriber of %r is slow: %d message(s) dropped so far", topic, dropped)
            return
        except AdapterClosedError:
            return
        except AdapterError as exc:
            if not started:
                raise
            log.warning("subscription to %r failed (%s); resubscribing in %.1fs", topic, exc, delay)
        await anyio.sleep(delay)  # backoff before reconnecting, not synchronisation
        delay = min(delay * 2, 5.0)


def unregister_locals(router: Router, function_ids: tuple[str, ...], type_id: str | None) -> None:
    """Remove a module's functions and trigger type from the registry (on module exit)."""
    for function_id in function_ids:
        router.registry.remove_function(DEFAULT_NAMESPACE, function_id, ENGINE)
    if type_id is not None:
        router.registry.remove_type(DEFAULT_NAMESPACE, type_id, ENGINE)


class PubSubStatistics(NamedTuple):
    subscriptions: int
    """Bindings with a live subscription (each has its own bounded buffer of ``BUFFER``)."""


_PUBLISH_FORMAT = {"type": "object", "required": ["topic"],
                   "properties": {"topic": {"type": "string", "minLength": 1}, "data": {}}}


class PubSubModule:
    """The ``publish`` function and ``subscribe`` trigger type; ``async with`` starts them."""

    def __init__(self, node: Node, config: PubSubModuleConfig | None = None) -> None:
        self.router = node.router
        self.config = config or PubSubModuleConfig()
        self.adapter = build_pubsub(self.config.adapter.model_dump())
        self._scopes: dict[str, anyio.CancelScope] = {}
        self._stack = AsyncExitStack()
        self._tg: TaskGroup | None = None

    async def __aenter__(self) -> PubSubModule:
        stack = self._stack
        await stack.__aenter__()
        try:
            await stack.enter_async_context(self.adapter)
            self._tg = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(self._tg.cancel_scope.cancel)
            self.router.register_local("publish", self.publish, description="Publish data to a topic (fire-and-forget)",
                                       request_format=_PUBLISH_FORMAT)
            await self.router.register_local_type("subscribe", self, "Deliver every publish on config.topic")
            stack.callback(unregister_locals, self.router, ("publish",), "subscribe")
        except BaseException:
            await stack.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc: Any) -> bool | None:
        return await self._stack.__aexit__(*exc)

    async def publish(self, data: Any, call: Call) -> None:
        """``publish {topic, data}`` → null.

        Raises:
            WireError: ``topic_not_set`` for a missing or empty topic; ``adapter_error``.
        """
        args = data if isinstance(data, dict) else {}
        topic = args.get("topic")
        if not isinstance(topic, str) or not topic:
            raise WireError("publish needs a non-empty 'topic'", code="topic_not_set")
        with adapter_errors(f"publish to {topic!r}"):
            await self.adapter.publish(realm_key(call.realm, topic), args.get("data"))

    async def register_trigger(self, trig: TriggerEntry) -> None:
        """Subscribe a binding; returns once publishes reach it.

        Raises:
            InvalidArguments: ``config.topic`` is missing or empty.
            AdapterError: the adapter could not subscribe (the binding is refused).
        """
        config = trig.config if isinstance(trig.config, dict) else {}
        topic = config.get("topic")
        if not isinstance(topic, str) or not topic:
            raise InvalidArguments("subscribe trigger needs config.topic, a non-empty string")
        assert self._tg is not None, "PubSubModule used outside 'async with'"
        scope = self._scopes[trig.id] = anyio.CancelScope()
        try:
            await self._tg.start(self._serve, trig, realm_key(trig.realm, topic), scope)
        except BaseException:
            self._scopes.pop(trig.id, None)
            raise

    async def unregister_trigger(self, trig: TriggerEntry) -> None:
        """Stop delivering to a binding at once (messages still buffered are dropped)."""
        scope = self._scopes.pop(trig.id, None)
        if scope is not None:
            scope.cancel()

    async def _serve(self, trig: TriggerEntry, topic: str, scope: anyio.CancelScope, *,
                     task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async def deliver(message: Any) -> None:
            await fire(self.router, trig, message)

        with scope:
            await consume(self.adapter, topic, deliver, task_status=task_status)

    def statistics(self) -> PubSubStatistics:
        return PubSubStatistics(len(self._scopes))
