"""The queue module's functions: durable topics (``durable:subscriber`` + publish) and DLQ admin.

Durable topics: a ``durable:subscriber {topic, queue_config?}`` binding subscribes its function
to ``topic``; ``iii::durable::publish {topic, data}`` pushes one job per distinct subscribed
``(namespace, function)`` onto the queue named ``topic``, so each subscriber gets its own copy
with its own retries and dead-lettering. A message published while nobody is subscribed is
dropped (as in iii). The topic queue's settings are ``queue_configs[topic]`` if configured,
else the first subscriber's ``queue_config``, else the default queue's. A publisher reaches
subscribers bound by its own realm or by realm-less credentials, never another realm's.

Admin functions need the ``worker`` role. ``queue`` may be spelled ``topic`` (as iii accepts). A
realm-bound caller sees and acts on the dead jobs of its own realm only; ``topic_stats`` counts
are queue-wide.

====================================  ====================================================
``iii::queue::redrive``               ``{queue}`` → ``{queue, redriven}``
``iii::queue::redrive_message``       ``{queue, message_id}`` → ``{queue, message_id, redriven}``
``iii::queue::discard_message``       ``{queue, message_id}`` → ``{queue, message_id, discarded}``
``engine::queue::list_topics``        → ``[{name, broker_type, subscriber_count}]``
``engine::queue::topic_stats``        ``{queue}`` → ``{queue, ready, leased, delayed, dead, depth, …}``
``engine::queue::dlq_topics``         → ``[{topic, broker_type, message_count}]``
``engine::queue::dlq_messages``       ``{queue, offset?, limit?}`` → ``[dead message]``
``queue::dlq::list/redrive/discard``  the same, friendlier: ``redrive`` takes ``message_id?``
====================================  ====================================================
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..adapters import AdapterError, Job
from ..config import QueueSettings
from ..errors import InvalidArguments, WireError
from ..registry import DEFAULT_NAMESPACE, ENGINE, TriggerEntry, TriggerState
from ..types import Call, LocalHandler

if TYPE_CHECKING:
    from .queue import QueueModule

__all__ = ["QueueAdmin", "SUBSCRIBER_TYPE", "queue_name_problem"]

SUBSCRIBER_TYPE = "durable:subscriber"
MAX_DLQ_PAGE = 1000
REALM_SCAN = 10_000
MAX_QUEUE_NAME = 200


def queue_name_problem(name: object) -> str | None:
    """What is wrong with a queue or topic name, or None if it is usable."""
    if not isinstance(name, str) or not name.strip():
        return f"queue name must be a non-empty string, got {name!r}"
    if len(name) > MAX_QUEUE_NAME:
        return f"queue name is {len(name)} characters long; the limit is {MAX_QUEUE_NAME}"
    if name != name.strip() or any(ord(c) < 32 or ord(c) == 127 for c in name):
        return f"queue name {name!r} has surrounding whitespace or control characters"
    return None


def _obj(data: Any) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidArguments(f"expected an object payload, got {type(data).__name__}")
    return data


def _queue(data: dict[str, Any], key: str = "queue", alias: str = "topic") -> str:
    name = data.get(key, data.get(alias))
    problem = queue_name_problem(name)
    if problem is not None:
        raise InvalidArguments(f"'{key}': {problem}")
    assert isinstance(name, str)
    return name


def _message_id(data: dict[str, Any], required: bool = True) -> str | None:
    value = data.get("message_id")
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidArguments("'message_id' must be a non-empty string")
    return value


def _int(data: dict[str, Any], key: str, default: int, top: int) -> int:
    value = data.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidArguments(f"'{key}' must be a non-negative integer")
    return min(value, top)


def _sees(call: Call, job: Job) -> bool:
    return call.role == "system" or call.realm is None or job.realm == call.realm


def _describe(job: Job) -> dict[str, Any]:
    return {"id": job.id, "message_id": job.id, "queue": job.queue, "function_id": job.function_id,
            "data": job.data, "attempts": job.attempts, "error": job.last_error, "group": job.group,
            "idempotency_key": job.idempotency_key, "enqueued_at": job.enqueued_at, "realm": job.realm}


def _wrap(fn: LocalHandler) -> LocalHandler:
    """Translate storage failures at this boundary (rule 6): a caller sees ``queue_unavailable``."""

    async def handler(data: Any, call: Call) -> Any:
        try:
            return await fn(data, call)
        except AdapterError as exc:
            raise WireError(f"the queue store failed: {exc}", code="queue_unavailable") from exc

    return handler


class QueueAdmin:
    """Registers the queue functions and provides the ``durable:subscriber`` trigger type."""

    def __init__(self, module: QueueModule) -> None:
        self.module = module
        self.subscribers: dict[str, dict[str, TriggerEntry]] = {}
        self._ids: list[str] = []

    async def install(self) -> None:
        """Register the functions and the trigger type on the router."""
        publish: list[tuple[str, LocalHandler, str, str]] = [
            ("iii::durable::publish", self.publish, "Publish to a durable topic (one job per subscriber)", "client"),
        ]
        admin: list[tuple[str, LocalHandler, str]] = [
            ("iii::queue::redrive", self.redrive, "Move every dead message of a queue back"),
            ("iii::queue::redrive_message", self.redrive_message, "Move one dead message back"),
            ("iii::queue::discard_message", self.discard_message, "Delete one dead message for good"),
            ("engine::queue::list_topics", self.list_topics, "List queues and durable topics"),
            ("engine::queue::topic_stats", self.topic_stats, "Ready, leased, delayed and dead counts"),
            ("engine::queue::dlq_topics", self.dlq_topics, "Dead-letter counts per queue"),
            ("engine::queue::dlq_messages", self.dlq_messages, "Browse a queue's dead messages"),
            ("queue::dlq::list", self.dlq_list, "Browse a queue's dead messages"),
            ("queue::dlq::redrive", self.dlq_redrive, "Redrive one dead message, or all"),
            ("queue::dlq::discard", self.discard_message, "Delete one dead message for good"),
        ]
        router = self.module.router
        for fid, fn, description, role in publish + [(f, h, d, "worker") for f, h, d in admin]:
            router.register_local(fid, _wrap(fn), description=description, min_role=role)
            self._ids.append(fid)
        await router.register_local_type(SUBSCRIBER_TYPE, self, "Durable topic subscription with retries and DLQ")

    async def uninstall(self) -> None:
        registry = self.module.router.registry
        for fid in self._ids:
            registry.remove_function(DEFAULT_NAMESPACE, fid, ENGINE)
        registry.remove_type(DEFAULT_NAMESPACE, SUBSCRIBER_TYPE, ENGINE)
        self._ids.clear()

    # -- durable:subscriber ----------------------------------------------------------------

    async def register_trigger(self, trigger: TriggerEntry) -> None:
        """Subscribe ``trigger.function_id`` to its topic; refuse a bad config."""
        config = _obj(trigger.config)
        topic = _queue(config, "topic", "queue")
        raw = config.get("queue_config")
        if raw is not None:
            try:
                settings = QueueSettings.model_validate(raw)
            except ValidationError as exc:
                raise InvalidArguments(f"bad queue_config for topic {topic!r}: {exc}") from exc
            # The first subscriber's settings stick; configured queue_configs win over them.
            if topic not in self.module.topic_settings and topic not in self.module.config.queue_configs:
                self.module.topic_settings[topic] = settings
        self.subscribers.setdefault(topic, {})[trigger.id] = trigger
        self.module.consumer_for(topic)

    async def unregister_trigger(self, trigger: TriggerEntry) -> None:
        for subs in self.subscribers.values():
            subs.pop(trigger.id, None)

    async def publish(self, data: Any, call: Call) -> None:
        """``{topic, data}``: one job per distinct subscribed function, stored before returning."""
        args = _obj(data)
        topic = _queue(args, "topic", "queue")
        payload = args.get("data")
        targets: dict[tuple[str, str], None] = {}
        for trig in self.subscribers.get(topic, {}).values():
            if trig.state is TriggerState.ACTIVE and (trig.realm is None or trig.realm == call.realm):
                targets[(trig.namespace or DEFAULT_NAMESPACE, trig.function_id)] = None
        jobs = []
        for namespace, function_id in targets:
            ctx = Call(function_id, call.invocation_id, call.caller_worker_id, call.role, call.realm,
                       namespace, call.metadata, call.traceparent, call.baggage)
            jobs.append(self.module.build_job(topic, function_id, payload, ctx, str(uuid.uuid4())))
        if jobs:
            await self.module.push(jobs)

    # -- dead letters ----------------------------------------------------------------------

    async def _visible_dead(self, queue: str, call: Call, limit: int) -> list[Job]:
        dead = await self.module.backend.dlq_list(queue, limit)
        return [job for job in dead if _sees(call, job)]

    async def _redrive(self, queue: str, message_id: str | None, call: Call) -> int:
        backend = self.module.backend
        if call.role == "system" or call.realm is None:
            moved = await backend.redrive(queue, message_id)
        else:
            ids = [j.id for j in await self._visible_dead(queue, call, REALM_SCAN) if message_id in (None, j.id)]
            moved = sum([await backend.redrive(queue, job_id) for job_id in ids])
        if moved:
            self.module.consumer_for(queue).wake()
        return moved

    async def redrive(self, data: Any, call: Call) -> dict[str, Any]:
        queue = _queue(_obj(data))
        return {"queue": queue, "redriven": await self._redrive(queue, None, call)}

    async def redrive_message(self, data: Any, call: Call) -> dict[str, Any]:
        args = _obj(data)
        queue, message_id = _queue(args), _message_id(args)
        return {"queue": queue, "message_id": message_id, "redriven": await self._redrive(queue, message_id, call)}

    async def dlq_redrive(self, data: Any, call: Call) -> dict[str, Any]:
        args = _obj(data)
        queue, message_id = _queue(args), _message_id(args, required=False)
        return {"queue": queue, "message_id": message_id, "redriven": await self._redrive(queue, message_id, call)}

    async def discard_message(self, data: Any, call: Call) -> dict[str, Any]:
        args = _obj(data)
        queue, message_id = _queue(args), _message_id(args)
        assert message_id is not None
        allowed = call.role == "system" or call.realm is None or any(
            j.id == message_id for j in await self._visible_dead(queue, call, REALM_SCAN))
        discarded = allowed and await self.module.backend.discard(queue, message_id)
        return {"queue": queue, "message_id": message_id, "discarded": int(discarded)}

    async def dlq_messages(self, data: Any, call: Call) -> list[dict[str, Any]]:
        args = _obj(data)
        queue = _queue(args)
        offset, limit = _int(args, "offset", 0, REALM_SCAN), _int(args, "limit", 50, MAX_DLQ_PAGE)
        dead = await self._visible_dead(queue, call, offset + limit if call.realm is None else REALM_SCAN)
        return [_describe(job) for job in dead[offset : offset + limit]]

    async def dlq_list(self, data: Any, call: Call) -> dict[str, Any]:
        queue = _queue(_obj(data))
        return {"queue": queue, "messages": await self.dlq_messages(data, call)}

    # -- inspection ------------------------------------------------------------------------

    async def _names(self) -> list[str]:
        module = self.module
        return sorted({"default", *module.config.queue_configs, *self.subscribers, *await module.backend.queues()})

    def _kind(self, name: str) -> str:
        return "topic" if name in self.subscribers and not self.module.accepts(name) else "function_queue"

    async def list_topics(self, data: Any, call: Call) -> list[dict[str, Any]]:
        out = []
        for name in await self._names():
            subs = len(self.subscribers.get(name, {}))
            count = subs if self._kind(name) == "topic" else self.module.settings_for(name).concurrency
            out.append({"name": name, "broker_type": self._kind(name), "subscriber_count": count})
        return out

    async def topic_stats(self, data: Any, call: Call) -> dict[str, Any]:
        queue = _queue(_obj(data))
        stats = await self.module.backend.stats(queue, now=self.module.clock())
        consumer = self.module.consumers.get(queue)
        return {"queue": queue, "topic": queue, **stats._asdict(), "depth": stats.ready + stats.leased + stats.delayed,
                "dlq_depth": stats.dead, "consumer_count": self.module.settings_for(queue).concurrency,
                "in_flight": consumer.in_flight if consumer is not None else 0,
                "subscribers": len(self.subscribers.get(queue, {}))}

    async def dlq_topics(self, data: Any, call: Call) -> list[dict[str, Any]]:
        out = []
        for name in await self._names():
            stats = await self.module.backend.stats(name, now=self.module.clock())
            out.append({"topic": name, "broker_type": self._kind(name), "message_count": stats.dead})
        return out
