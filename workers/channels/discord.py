"""Discord: interactions (slash commands) in, the interaction's follow-up webhook out.

Inbound (``POST /channels/discord/interactions``): ``X-Signature-Ed25519`` must verify, with the
application's public key, over ``X-Signature-Timestamp + raw body`` (and the timestamp be within
``max_skew_s``); anything else is 401, which is also how Discord probes the endpoint. ``PING``
(type 1) is answered ``PONG``. An ``APPLICATION_COMMAND`` (type 2) is recorded by interaction id
and answered at once with ``DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE`` (type 5, "thinking…"); the
text is the command's option values joined by spaces.

Outbound: the first piece edits the deferred response (``PATCH
/webhooks/{application_id}/{token}/messages/@original``), the others are follow-ups (``POST
/webhooks/{application_id}/{token}``), 2000 characters each. Messages not tied to an
interaction (approval requests) go to ``POST /channels/{id}/messages`` with ``bot_token``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, ValidationError

from .base import Caller, Destination, Inbound, Secrets
from .config import DiscordConfig
from .errors import BadPayload, PlatformError, Unauthenticated

__all__ = ["DEFERRED", "PONG", "DiscordPlatform", "parse_interaction", "verify"]

PONG = {"type": 1}
DEFERRED = {"type": 5}


def verify(public_key_hex: str, headers: dict[str, str], body: bytes, now: float, max_skew_s: float) -> None:
    """Check the Ed25519 signature (``headers`` lower-cased).

    Raises:
        Unauthenticated: missing or malformed headers, a stale timestamp, a wrong signature.
    """
    signature, timestamp = headers.get("x-signature-ed25519"), headers.get("x-signature-timestamp")
    if not signature or not timestamp:
        raise Unauthenticated("missing Discord signature headers")
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
        key.verify(bytes.fromhex(signature), timestamp.encode() + body)
        sent = int(timestamp)
    except (ValueError, InvalidSignature):
        raise Unauthenticated("bad Discord signature") from None
    if abs(now - sent) > max_skew_s:
        raise Unauthenticated("stale Discord timestamp")


class _User(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str


class _Member(BaseModel):
    model_config = ConfigDict(extra="ignore")
    user: _User | None = None


class _Option(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str
    value: Any = None


class _Data(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = ""
    options: list[_Option] = []


class _Interaction(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    type: int
    application_id: str | None = None
    token: str | None = None
    channel_id: str | None = None
    data: _Data | None = None
    member: _Member | None = None
    user: _User | None = None


def parse_interaction(payload: Any, now: float) -> Literal["ping"] | Inbound | None:
    """``"ping"``, a command as a message, or None (other interaction types).

    Raises:
        BadPayload: not an interaction.
    """
    try:
        it = _Interaction.model_validate(payload)
    except ValidationError as exc:
        raise BadPayload(f"not a Discord interaction: {exc.error_count()} errors") from exc
    if it.type == 1:
        return "ping"
    if it.type != 2 or it.data is None or not it.token or not it.application_id or not it.channel_id:
        return None
    text = " ".join(str(o.value) for o in it.data.options if o.value is not None) or it.data.name
    user = it.member.user if it.member and it.member.user else it.user
    dest = Destination(platform="discord", account="discord", chat_id=it.channel_id,
                       extra={"application_id": it.application_id, "token": it.token})
    return Inbound(source_id=it.id, dest=dest, user_id=user.id if user else None, text=text,
                   received_at=now)


class DiscordPlatform:
    """Discord's outbound side (see :class:`~.base.Platform`)."""

    name: Literal["discord"] = "discord"
    limit: int = 2000

    def __init__(self, config: DiscordConfig | None, secrets: Secrets, timeout_s: float) -> None:
        self.config, self.secrets, self.timeout_s = config, secrets, timeout_s

    def route(self, account: str) -> DiscordConfig | None:
        return self.config

    def config_path(self, account: str) -> str:
        return "channels.discord"

    async def send(self, caller: Caller, dest: Destination, pieces: list[str], start: int,
                   progress: Callable[[int], Awaitable[None]]) -> None:
        if self.config is None:
            raise PlatformError("Discord is not configured")
        app, token = dest.extra.get("application_id"), dest.extra.get("token")
        headers: dict[str, str] = {}
        if not (app and token):
            if self.config.bot_token is None:
                raise PlatformError("Discord: no interaction to answer and no bot_token configured")
            headers["Authorization"] = f"Bot {await self.secrets.reveal(caller, self.config.bot_token)}"
        base = self.config.api_base.rstrip("/")
        async with httpx.AsyncClient(timeout=self.timeout_s, headers=headers) as client:
            for n in range(start, len(pieces)):
                if app and token:
                    method, url = ("PATCH", f"{base}/webhooks/{app}/{token}/messages/@original") if n == 0 \
                        else ("POST", f"{base}/webhooks/{app}/{token}")
                else:
                    method, url = "POST", f"{base}/channels/{dest.chat_id}/messages"
                try:
                    response = await client.request(method, url, json={"content": pieces[n]})
                    response.raise_for_status()
                except httpx.HTTPError as exc:
                    raise PlatformError(f"Discord refused the message: {exc}") from exc
                await progress(n + 1)
