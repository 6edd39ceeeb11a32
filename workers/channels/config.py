"""Settings of the channels worker: per platform, its secrets, its routing and its approvers.

Secrets are :class:`~pydantic.SecretStr` (never logged, never echoed) and are written in the
config as literals, as ``${ENV_VAR}`` (expanded when the config is loaded) or as ``vault:NAME``
(read with ``vault::get`` on first use and then held in memory only). The worker never writes a
secret anywhere: inbound records carry message text and ids, not tokens.

Routing (see :mod:`.router`): ``chats`` maps a platform chat id to an agent; ``default_agent``
catches the rest; with neither the sender gets an explicit "no agent" reply.

Approvers: ``approvers`` lists the platform user ids (Slack ``U…``, Telegram numeric ids as
strings, Discord user ids) whose ``approve <id>`` / ``reject <id>`` commands are obeyed in that
channel. Empty (the default) means nobody may approve from the chat.

Example (YAML)::

    slack:
      signing_secret: ${SLACK_SIGNING_SECRET}
      bot_token: vault:slack_bot_token
      default_agent: assistant
      chats: {C0123: support-bot}
      approvers: [U0ADMIN]
    telegram:
      bots:
        main: {token: ${TELEGRAM_TOKEN}, secret_token: ${TELEGRAM_SECRET}, default_agent: assistant}
    discord: {public_key: "<hex>", application_id: "123", bot_token: ${DISCORD_TOKEN}}
    webhooks:
      ci: {secret: ${CI_HOOK_SECRET}, agent: build-bot, callback_url: https://ci.example/agent}
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = [
    "ChannelsConfig", "DiscordConfig", "Route", "SlackConfig", "TelegramBotConfig",
    "TelegramConfig", "WebhookConfig", "expand_env",
]

Seconds = Annotated[float, Field(gt=0)]
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Route(_Section):
    """Where a platform's messages go, and who may approve from its chats."""

    default_agent: str | None = None
    chats: dict[str, str] = Field(default_factory=dict)
    """``{chat id: agent id}``, checked before ``default_agent``."""
    approvers: tuple[str, ...] = ()
    """Platform user ids allowed to answer ``approve <id>`` / ``reject <id>``."""


class SlackConfig(Route):
    signing_secret: SecretStr
    bot_token: SecretStr
    api_base: str = "https://slack.com/api/"
    max_skew_s: Seconds = 300.0
    """Oldest ``X-Slack-Request-Timestamp`` accepted (Slack recommends five minutes)."""


class TelegramBotConfig(Route):
    token: SecretStr
    secret_token: SecretStr | None = None
    """Required for webhook mode (``X-Telegram-Bot-Api-Secret-Token``); polling needs none."""
    api_base: str = "https://api.telegram.org/bot"
    polling: bool = False
    """Long-poll ``getUpdates`` instead of (or as well as) the webhook."""
    poll_timeout_s: Annotated[int, Field(ge=0, le=50)] = 30


class TelegramConfig(_Section):
    bots: dict[str, TelegramBotConfig] = Field(default_factory=dict)
    """By name: the ``:bot`` segment of ``/channels/telegram/webhook/:bot``."""


class DiscordConfig(Route):
    public_key: str
    """The application's Ed25519 public key, hex (Developer Portal → General Information)."""
    application_id: str | None = None
    bot_token: SecretStr | None = None
    """Only for messages outside an interaction (approval requests)."""
    api_base: str = "https://discord.com/api/v10"
    max_skew_s: Seconds = 300.0


class WebhookConfig(_Section):
    secret: SecretStr
    agent: str | None = None
    callback_url: str | None = None
    """Where answers are POSTed (fixed here, never taken from a request: no SSRF)."""
    max_skew_s: Seconds = 300.0


class ChannelsConfig(_Section):
    slack: SlackConfig | None = None
    telegram: TelegramConfig = Field(default_factory=TelegramConfig)
    discord: DiscordConfig | None = None
    webhooks: dict[str, WebhookConfig] = Field(default_factory=dict)
    agent_timeout_s: Seconds = 300.0
    """Deadline of one ``agent::chat`` call."""
    http_timeout_s: Seconds = 15.0
    """Deadline of one platform API call."""

    @classmethod
    def load(cls, path: Path | None = None, env: Mapping[str, str] | None = None) -> ChannelsConfig:
        """Read YAML from ``path`` (default ``AGENTOS_CHANNELS_CONFIG``; none: nothing configured).

        Raises:
            KeyError: a ``${VAR}`` names an unset variable.
            pydantic.ValidationError: the settings are malformed.
        """
        env = os.environ if env is None else env
        if path is None and env.get("AGENTOS_CHANNELS_CONFIG"):
            path = Path(env["AGENTOS_CHANNELS_CONFIG"])
        if path is None:
            return cls()
        raw = yaml.safe_load(path.read_text()) or {}
        return cls.model_validate(expand_env(raw, env))


def expand_env(value: Any, env: Mapping[str, str]) -> Any:
    """``value`` with every ``${VAR}`` in its strings replaced from ``env``.

    Raises:
        KeyError: an unset variable (a missing secret must fail at start, not at the first message).
    """
    if isinstance(value, str):
        return _VAR.sub(lambda m: env[m.group(1)], value)
    if isinstance(value, dict):
        return {k: expand_env(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, env) for v in value]
    return value
