"""Signed requests as each platform sends them."""

from __future__ import annotations

import json
import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from workers.channels import slack, webhook

from .conftest import HOOK_SECRET, SLACK_SECRET, TELEGRAM_SECRET


def slack_message(event_id: str, text: str, *, channel: str = "C1", user: str = "U1",
                  ts: str = "1700000000.000100", thread_ts: str | None = None) -> bytes:
    event: dict[str, Any] = {"type": "message", "channel": channel, "user": user, "text": text, "ts": ts}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return json.dumps({"type": "event_callback", "team_id": "T1", "event_id": event_id,
                       "event_time": 1700000000, "event": event}).encode()


def slack_headers(body: bytes, *, secret: str = SLACK_SECRET, retry: int | None = None,
                  timestamp: int | None = None) -> dict[str, str]:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": slack.sign(secret, ts, body)}
    if retry is not None:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    return headers


def telegram_update(update_id: int, text: str, *, chat: int = 42, user: int = 7, message_id: int = 500) -> bytes:
    return json.dumps({"update_id": update_id, "message": {
        "message_id": message_id, "date": 1700000000, "text": text,
        "chat": {"id": chat, "type": "private"}, "from": {"id": user, "is_bot": False, "first_name": "Ann"}},
    }).encode()


def telegram_headers(secret: str = TELEGRAM_SECRET) -> dict[str, str]:
    return {"X-Telegram-Bot-Api-Secret-Token": secret}


def discord_headers(key: Ed25519PrivateKey, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    return {"X-Signature-Ed25519": key.sign(ts.encode() + body).hex(), "X-Signature-Timestamp": ts}


def webhook_headers(body: bytes, delivery: str, *, secret: str = HOOK_SECRET) -> dict[str, str]:
    ts = str(int(time.time()))
    return {"X-AgentOS-Timestamp": ts, "X-AgentOS-Signature": webhook.sign(secret, ts, body),
            "X-AgentOS-Delivery": delivery}
