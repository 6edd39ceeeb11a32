"""The generic webhook: any system that can sign a POST talks to an agent.

Inbound (``POST /channels/webhook/:hook_id``), per hook a shared ``secret``:

* ``X-AgentOS-Timestamp``: unix seconds, within ``max_skew_s``;
* ``X-AgentOS-Signature``: ``sha256=<hex HMAC-SHA256(secret, "{timestamp}." + raw body)>``;
* ``X-AgentOS-Delivery``: the delivery id, unique per message and repeated on retries (dedup);
* body: JSON ``{text | message | content, chat_id?, user?}``.

Unknown hook or bad signature → 401 (one answer for both: no probing of hook ids). Accepted →
202 ``{accepted, delivery_id}`` and the run happens on the queue.

Outbound: when the hook has a ``callback_url``, each piece is POSTed there as JSON ``{hook_id,
delivery_id, chat_id, text, part, parts}``, signed the same way (the receiver can verify us).
Either way the answer is kept in the inbound record (``channels::inbound::get``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from .base import Caller, Destination, Inbound, Secrets
from .config import WebhookConfig
from .errors import BadPayload, PlatformError, Unauthenticated

__all__ = ["WebhookPlatform", "parse_body", "sign", "verify"]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-AgentOS-Signature`` value of ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, headers: dict[str, str], body: bytes, now: float, max_skew_s: float) -> None:
    """Check a delivery's signature (``headers`` lower-cased).

    Raises:
        Unauthenticated: missing headers, a stale timestamp, a wrong signature.
    """
    timestamp, signature = headers.get("x-agentos-timestamp"), headers.get("x-agentos-signature")
    if not timestamp or not signature:
        raise Unauthenticated("missing signature headers")
    try:
        sent = int(timestamp)
    except ValueError:
        raise Unauthenticated("malformed timestamp") from None
    if abs(now - sent) > max_skew_s:
        raise Unauthenticated("stale timestamp")
    if not hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.encode()):
        raise Unauthenticated("bad signature")


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")
    text: str | None = None
    message: str | None = None
    content: str | None = None
    chat_id: str | None = None
    user: str | None = None


def parse_body(hook_id: str, delivery_id: str | None, raw: bytes, now: float) -> Inbound:
    """The delivery as a message.

    Raises:
        BadPayload: no delivery id, not JSON, or no text.
    """
    if not delivery_id:
        raise BadPayload("X-AgentOS-Delivery is required")
    try:
        body = _Body.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as exc:
        raise BadPayload("the body must be a JSON object with text") from exc
    text = body.text or body.message or body.content
    if not text:
        raise BadPayload("the body has no text, message or content")
    dest = Destination(platform="webhook", account=hook_id, chat_id=body.chat_id or "default",
                       reply_to=delivery_id)
    return Inbound(source_id=delivery_id, dest=dest, user_id=body.user, text=text, received_at=now)


class WebhookPlatform:
    """The webhooks' outbound side (see :class:`~.base.Platform`)."""

    name: Literal["webhook"] = "webhook"
    limit: int = 16_000

    def __init__(self, hooks: dict[str, WebhookConfig], secrets: Secrets, timeout_s: float,
                 clock: Callable[[], float]) -> None:
        self.hooks, self.secrets, self.timeout_s, self.clock = hooks, secrets, timeout_s, clock

    def route(self, account: str) -> Any:
        return None  # a hook names its agent directly (WebhookConfig.agent)

    def agent(self, account: str) -> str | None:
        hook = self.hooks.get(account)
        return hook.agent if hook else None

    def config_path(self, account: str) -> str:
        return f"channels.webhooks.{account}"

    async def send(self, caller: Caller, dest: Destination, pieces: list[str], start: int,
                   progress: Callable[[int], Awaitable[None]]) -> None:
        hook = self.hooks.get(dest.account)
        if hook is None or hook.callback_url is None:
            await progress(len(pieces))  # nowhere to send: the record holds the answer
            return
        secret = await self.secrets.reveal(caller, hook.secret)
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            for n in range(start, len(pieces)):
                body = json.dumps({"hook_id": dest.account, "delivery_id": dest.reply_to,
                                   "chat_id": dest.chat_id, "text": pieces[n], "part": n + 1,
                                   "parts": len(pieces)}).encode()
                timestamp = str(int(self.clock()))
                headers = {"content-type": "application/json", "x-agentos-timestamp": timestamp,
                           "x-agentos-signature": sign(secret, timestamp, body)}
                try:
                    response = await client.post(hook.callback_url, content=body, headers=headers)
                    response.raise_for_status()
                except httpx.HTTPError as exc:
                    raise PlatformError(f"webhook callback failed: {exc}") from exc
                await progress(n + 1)
