"""channels: Slack, Telegram, Discord and signed webhooks in front of the agents.

Modules, one concern each::

    config     settings: secrets (${VAR} / vault:NAME), routes, approvers
    base       the inbound record, its durable life cycle (record → queue → claim), secrets
    slack      v0 signatures, Events API parsing, chat.postMessage (slack_sdk)
    telegram   secret-token check, updates, sendMessage and long polling (python-telegram-bot)
    discord    Ed25519 check, interactions, follow-up webhooks
    webhook    the generic HMAC-signed webhook and its signed callbacks
    router     chat → agent (run-time override, chats, default), the "no agent" answer
    replies    splitting answers at the platform's limit (pure)
    approvals  approval notices in the chat, ``approve``/``reject`` commands
    process    channels::process: claim, run the agent once, reply
    worker     the HTTP handlers, the Worker, polling (``python -m workers.channels``)
"""

from .base import Destination, Inbound
from .config import ChannelsConfig
from .errors import BadPayload, ChannelsError, PlatformError, Unauthenticated
from .replies import split
from .worker import ChannelsService, build_worker

__all__ = [
    "BadPayload",
    "ChannelsConfig",
    "ChannelsError",
    "ChannelsService",
    "Destination",
    "Inbound",
    "PlatformError",
    "Unauthenticated",
    "build_worker",
    "split",
]
