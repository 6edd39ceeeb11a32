"""The inbound record, its durable life cycle, and what every platform adapter shares.

Theory of operation
-------------------
An inbound request is answered in three steps, in this order, by every platform:

1. **Verify** the raw body bytes (read from the HTTP module's ``request_body`` channel, never a
   re-serialised object) with the platform's scheme. Failure → 401 and nothing else happens.
2. **Record** the message with ``state::cas`` (expected: absent) in scope ``channels:inbound``
   under ``<platform>:<account>:<source id>`` (Slack ``<team>:<channel>:<ts>`` — the message,
   not the event, see :mod:`.slack` —, Telegram ``update_id``,
   Discord interaction id, webhook ``X-AgentOS-Delivery``), then **enqueue**
   ``channels::process {key}`` with the key as ``idempotency_key``, then answer 200 at once. A
   retry of a delivery finds the record: it is acknowledged and, unless the record is still
   ``received`` (the first attempt died before its enqueue), nothing is enqueued.
3. **Process** (``channels::process``, from the queue, at least once): claim the record by
   compare-and-set ``received → processing``, writing the claiming queue job's id as ``owner``;
   a second job for the same key loses the claim and does nothing. So a message makes at most
   one agent run. The answer is stored (``answered``) before it is sent; a failed send raises,
   the queue retries the job, and the retry — the same job id, so the owner — only sends the
   pieces not yet sent (``sent`` counts them). Another job never sends an answer it does not
   own, so a reply cannot go out twice.

States: ``received → processing → answered → replied``. A worker killed during the agent run
leaves ``processing``: that message is not run again (at most one run beats a double answer).

No secret is ever part of a record. A Discord interaction's ``token`` (a 15-minute reply
credential for that one interaction) is kept in ``dest.extra`` until the reply is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from workers.sdk import ChannelReader, Context, InvocationError

__all__ = [
    "INBOUND_SCOPE", "PROCESS_FUNCTION", "SESSIONS_SCOPE", "Caller", "Destination", "Inbound",
    "Platform", "Secrets", "claim", "http_reply", "ingest", "lower_headers", "read_raw_body", "save",
]

log = logging.getLogger(__name__)

INBOUND_SCOPE = "channels:inbound"
SESSIONS_SCOPE = "channels:sessions"
"""``session_id → Destination``: where a run's side messages (approval requests) go."""
PROCESS_FUNCTION = "channels::process"

PlatformName = Literal["slack", "telegram", "discord", "webhook"]
Status = Literal["received", "processing", "answered", "replied"]


class Caller(Protocol):
    """What we call the engine through: a handler's :class:`Context` or a :class:`Connection`."""

    async def trigger(self, function_id: str, data: Any = None, *, timeout: float | None = None,
                      metadata: dict[str, Any] | None = None, namespace: str | None = None) -> Any: ...

    async def enqueue(self, function_id: str, data: Any = None, *, queue: str = "default",
                      timeout: float | None = None, metadata: dict[str, Any] | None = None,
                      namespace: str | None = None) -> str: ...


class Destination(BaseModel):
    """Where to answer: a chat, maybe a thread, maybe as a reply to one message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    platform: PlatformName
    account: str
    """Slack ``slack``; Telegram the bot's name; Discord ``discord``; webhook the hook id."""
    chat_id: str
    thread_id: str | None = None
    reply_to: str | None = None
    extra: dict[str, str] = Field(default_factory=dict)

    @property
    def session_id(self) -> str:
        """The agent session: ``<platform>:<account>:<chat>[:<thread>]``."""
        base = f"{self.platform}:{self.account}:{self.chat_id}"
        return f"{base}:{self.thread_id}" if self.thread_id else base


class Inbound(BaseModel):
    """One inbound message as recorded in state."""

    model_config = ConfigDict(extra="forbid")

    source_id: str
    dest: Destination
    user_id: str | None = None
    text: str
    status: Status = "received"
    agent_id: str | None = None
    answer: str | None = None
    sent: int = 0
    """Pieces of ``answer`` already sent (a retried send skips them)."""
    received_at: float = 0.0
    owner: str | None = None
    """The queue job that claimed the record (its retries may go on; other jobs may not)."""

    @property
    def key(self) -> str:
        return f"{self.dest.platform}:{self.dest.account}:{self.source_id}"


class Platform(Protocol):
    """One platform's outbound side, as the processing step uses it."""

    @property
    def limit(self) -> int:
        """The longest message the platform takes (answers are split to fit)."""

    def route(self, account: str) -> Any:
        """The account's :class:`~.config.Route` (None when unconfigured)."""

    def config_path(self, account: str) -> str:
        """Where that route lives in the config, for the "no agent" answer."""

    async def send(self, caller: Caller, dest: Destination, pieces: list[str], start: int,
                   progress: Callable[[int], Awaitable[None]]) -> None:
        """Send ``pieces[start:]`` in order, awaiting ``progress(n_sent)`` after each.

        Raises:
            PlatformError: the platform refused or could not be reached.
        """


class Secrets:
    """Reveals configured secrets: literals as they are, ``vault:NAME`` through ``vault::get``.

    Vault values are cached in this process's memory only, never written anywhere.
    """

    def __init__(self) -> None:
        self._cache: dict[str, str] = {}

    async def reveal(self, caller: Caller, secret: SecretStr) -> str:
        """The secret's value.

        Raises:
            InvocationError: ``vault::get`` failed (not registered, not allowed, no such name).
        """
        value = secret.get_secret_value()
        if not value.startswith("vault:"):
            return value
        name = value.removeprefix("vault:")
        if name not in self._cache:
            answer = await caller.trigger("vault::get", {"name": name})
            self._cache[name] = str(answer["value"] if isinstance(answer, Mapping) else answer)
        return self._cache[name]


def lower_headers(req: Mapping[str, Any]) -> dict[str, str]:
    """The request's headers, names lower-cased."""
    headers = req.get("headers") or {}
    return {str(k).lower(): str(v) for k, v in headers.items()} if isinstance(headers, Mapping) else {}


async def read_raw_body(ctx: Context, req: Mapping[str, Any]) -> bytes:
    """The exact body bytes the client sent (from the ``request_body`` channel).

    A JSON body reaches the handler parsed (``body``) with ``raw_body`` null, so only the
    channel has the bytes that were signed; re-serialising would break signatures.
    """
    ref = req.get("request_body")
    if isinstance(ref, Mapping):
        async with ChannelReader.from_ref(ctx, ref) as reader:
            return await reader.read_all()
    raw = req.get("raw_body")
    return raw.encode() if isinstance(raw, str) else b""


def http_reply(status: int, body: Any) -> dict[str, Any]:
    """An HTTP handler result."""
    return {"status_code": status, "body": body}


async def ingest(caller: Caller, message: Inbound, *, queue: str = "default") -> bool:
    """Record ``message`` (if new) and enqueue its processing. True if it was new.

    Raises:
        InvocationError: state or queue failed; the platform should then retry the delivery.
    """
    record = message.model_dump(mode="json")
    answer = await caller.trigger("state::cas", {"scope": INBOUND_SCOPE, "key": message.key,
                                                 "expected": None, "value": record})
    new = isinstance(answer, Mapping) and bool(answer.get("ok"))
    if not new:
        current = answer.get("current") if isinstance(answer, Mapping) else None
        if isinstance(current, Mapping) and current.get("status") != "received":
            log.info("channels: duplicate delivery %s ignored", message.key)
            return False
    await caller.enqueue(PROCESS_FUNCTION, {"key": message.key, "idempotency_key": message.key},
                         queue=queue)
    return new


async def claim(caller: Caller, key: str, owner: str | None = None) -> Inbound | None:
    """Take the record at ``key`` for processing; None when another delivery has it (or had it).

    A record already ``answered`` is returned as is to its owner (the job that claimed it, on a
    retry): its answer still has to be sent. ``owner`` None (no queue) owns every record.
    """
    for _ in range(5):
        current = await caller.trigger("state::get", {"scope": INBOUND_SCOPE, "key": key})
        if not isinstance(current, Mapping):
            log.warning("channels: no inbound record %s", key)
            return None
        message = Inbound.model_validate(current)
        mine = owner is None or message.owner is None or message.owner == owner
        if message.status == "answered" and mine:
            return message
        if message.status != "received":
            log.info("channels: %s is already %s; not run again", key, message.status)
            return None
        taken = message.model_copy(update={"status": "processing", "owner": owner})
        answer = await caller.trigger("state::cas", {"scope": INBOUND_SCOPE, "key": key,
                                                     "expected": dict(current),
                                                     "value": taken.model_dump(mode="json")})
        if isinstance(answer, Mapping) and answer.get("ok"):
            return taken
    raise InvocationError("conflict", f"inbound record {key} kept changing")


async def save(caller: Caller, message: Inbound) -> None:
    """Write the record back (its owner, the claiming job, is the only writer now)."""
    await caller.trigger("state::set", {"scope": INBOUND_SCOPE, "key": message.key,
                                        "value": message.model_dump(mode="json")})
