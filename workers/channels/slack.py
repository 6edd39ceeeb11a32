"""Slack: the Events API in, ``chat.postMessage`` (official ``slack_sdk``) out.

Inbound (``POST /channels/slack/events``): the v0 signature, ``v0=hex(HMAC-SHA256(signing
secret, "v0:{X-Slack-Request-Timestamp}:{raw body}"))`` in ``X-Slack-Signature``, is checked on
the exact bytes first, with the timestamp within ``max_skew_s`` and a constant-time compare;
only then is ``url_verification`` answered (a forged challenge gets 401 like anything else).
``event_callback`` messages from users (``message`` and ``app_mention``; bot messages and
subtyped events such as edits are skipped) are recorded by the *message*, not the event:
``source_id`` is ``<team>:<channel>:<ts>``.

Why the message: a message that mentions the bot in a channel the bot is in arrives twice, as
``app_mention`` and as ``message``, with different ``event_id`` s, in either order, often at
once. Both carry the same team, channel and ``ts``, so the second finds the first's record (see
:mod:`.base`) and the message makes one run whichever came first. A retry
(``X-Slack-Retry-Num``) of either has the same key too. Distinct messages differ in ``ts``
(unique within a channel): a reply in a thread has its own ``ts`` (its ``thread_ts`` is the
parent's) and runs on its own. An edit comes as ``message`` with subtype ``message_changed``
(skipped); an ``app_mention`` sent for an edited message would carry the original ``ts``, so
an edit never runs a message a second time.

Both events must also make the same record, so the text is cleaned the same way for both: a
leading mention of the bot (its user ids are the envelope's ``authorizations`` with ``is_bot``)
is removed; when the envelope names no bot, any leading mention is removed.

Outbound: answers go to the event's channel, in the thread (``thread_ts``, else the message's
``ts``), 3900 characters per message.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from .base import Caller, Destination, Inbound, Secrets
from .config import SlackConfig
from .errors import BadPayload, PlatformError, Unauthenticated

__all__ = ["SlackPlatform", "message_id", "parse_event", "sign", "strip_mention", "verify"]

log = logging.getLogger(__name__)

_MENTION = re.compile(r"^\s*<@([A-Z0-9]+)(?:\|[^>]*)?>\s*")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Slack-Signature`` of ``body`` sent at ``timestamp`` (also what fakes use)."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def verify(secret: str, headers: dict[str, str], body: bytes, now: float, max_skew_s: float) -> None:
    """Check a request's signature (``headers`` lower-cased).

    Raises:
        Unauthenticated: missing headers, a stale or malformed timestamp, or a wrong signature.
    """
    timestamp, signature = headers.get("x-slack-request-timestamp"), headers.get("x-slack-signature")
    if not timestamp or not signature:
        raise Unauthenticated("missing Slack signature headers")
    try:
        sent = int(timestamp)
    except ValueError:
        raise Unauthenticated("malformed Slack timestamp") from None
    if abs(now - sent) > max_skew_s:
        raise Unauthenticated("stale Slack timestamp")
    if not hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.encode()):
        raise Unauthenticated("bad Slack signature")


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    channel: str | None = None
    team: str | None = None
    user: str | None = None
    text: str | None = None
    ts: str | None = None
    thread_ts: str | None = None
    bot_id: str | None = None
    subtype: str | None = None


class _Authorization(BaseModel):
    model_config = ConfigDict(extra="ignore")

    user_id: str | None = None
    is_bot: bool = False


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    challenge: str | None = None
    team_id: str | None = None
    event_id: str | None = None
    event: _Event | None = None
    authorizations: list[_Authorization] = Field(default_factory=list)


class Challenge(BaseModel):
    challenge: str


def parse_event(payload: Any, now: float) -> Challenge | Inbound | None:
    """What a verified body asks for: a challenge, a message, or nothing to do (None).

    Raises:
        BadPayload: not a Slack envelope.
    """
    try:
        envelope = _Envelope.model_validate(payload)
    except ValidationError as exc:
        raise BadPayload(f"not a Slack event envelope: {exc.error_count()} errors") from exc
    if envelope.type == "url_verification" and envelope.challenge is not None:
        return Challenge(challenge=envelope.challenge)
    event = envelope.event
    if (envelope.type != "event_callback" or event is None or envelope.event_id is None
            or event.type not in ("message", "app_mention") or event.bot_id or event.subtype
            or not event.user or not event.channel or not event.ts or not event.text):
        return None
    bots = {a.user_id for a in envelope.authorizations if a.is_bot and a.user_id}
    team = envelope.team_id or event.team or "-"
    thread = event.thread_ts or event.ts
    dest = Destination(platform="slack", account="slack", chat_id=event.channel, thread_id=thread,
                       reply_to=event.ts)
    return Inbound(source_id=message_id(team, event.channel, event.ts), dest=dest,
                   user_id=event.user, text=strip_mention(event.text, bots), received_at=now)


def message_id(team: str, channel: str, ts: str) -> str:
    """The ``source_id`` of one Slack message: ``<team>:<channel>:<ts>`` (whichever event)."""
    return f"{team}:{channel}:{ts}"


def strip_mention(text: str, bots: set[str]) -> str:
    """``text`` without a leading mention of one of ``bots`` (of anyone when ``bots`` is empty)."""
    found = _MENTION.match(text)
    if found is None or (bots and found.group(1) not in bots):
        return text
    return text[found.end():]


class SlackPlatform:
    """Slack's outbound side (see :class:`~.base.Platform`)."""

    name: Literal["slack"] = "slack"
    limit: int = 3900

    def __init__(self, config: SlackConfig | None, secrets: Secrets, timeout_s: float) -> None:
        self.config, self.secrets, self.timeout_s = config, secrets, timeout_s

    def route(self, account: str) -> SlackConfig | None:
        return self.config

    def config_path(self, account: str) -> str:
        return "channels.slack"

    async def send(self, caller: Caller, dest: Destination, pieces: list[str], start: int,
                   progress: Callable[[int], Awaitable[None]]) -> None:
        if self.config is None:
            raise PlatformError("Slack is not configured")
        token = await self.secrets.reveal(caller, self.config.bot_token)
        client = AsyncWebClient(token=token, base_url=self.config.api_base, timeout=int(self.timeout_s))
        for n in range(start, len(pieces)):
            try:
                await client.chat_postMessage(channel=dest.chat_id, text=pieces[n], thread_ts=dest.thread_id)
            except SlackApiError as exc:
                raise PlatformError(f"Slack refused chat.postMessage: {exc.response.get('error')}") from exc
            except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
                raise PlatformError(f"Slack unreachable: {exc}") from exc
            await progress(n + 1)
