"""Telegram: the Bot API webhook (or long polling) in, ``sendMessage`` (python-telegram-bot) out.

Inbound webhook (``POST /channels/telegram/webhook/:bot``): ``X-Telegram-Bot-Api-Secret-Token``
must equal the bot's ``secret_token`` (constant-time); a bot without one refuses every webhook
call. Text ``message``/``edited_message`` updates are recorded by ``update_id`` (Telegram
re-sends an update until it gets a 200, with the same id).

Long polling (``polling: true``): :func:`poll` loops on ``getUpdates(offset, timeout)``, feeds
each update through the same record-and-enqueue path (so an update seen twice is run once),
and moves ``offset`` past what it handed over; the offset is kept in state (``channels:offsets``)
so a restart does not re-read old updates.

Outbound: ``Bot(token, base_url=api_base).send_message(chat_id, text, reply_parameters)`` into
the message's forum topic if any, 4096 characters per message.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import anyio
from anyio.abc import TaskStatus
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from telegram import Bot, ReplyParameters
from telegram.error import TelegramError

from workers.sdk import InvocationError

from .base import Caller, Destination, Inbound, Secrets, ingest
from .config import TelegramBotConfig, TelegramConfig
from .errors import BadPayload, PlatformError, Unauthenticated

__all__ = ["OFFSETS_SCOPE", "TelegramPlatform", "parse_update", "verify"]

log = logging.getLogger(__name__)

OFFSETS_SCOPE = "channels:offsets"


def verify(expected: str | None, headers: dict[str, str]) -> None:
    """Check the webhook's secret token (``headers`` lower-cased).

    Raises:
        Unauthenticated: no secret configured, none sent, or a different one.
    """
    sent = headers.get("x-telegram-bot-api-secret-token")
    if not expected or not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Unauthenticated("bad Telegram secret token")


class _Chat(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: int


class _User(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: int


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    message_id: int
    chat: _Chat
    sender: _User | None = Field(default=None, alias="from")
    text: str | None = None
    message_thread_id: int | None = None


class _Update(BaseModel):
    model_config = ConfigDict(extra="ignore")
    update_id: int
    message: _Message | None = None
    edited_message: _Message | None = None


def parse_update(bot: str, payload: Any, now: float) -> Inbound | None:
    """The text message of an update, or None (other kinds of update are acknowledged only).

    Raises:
        BadPayload: not a Telegram update.
    """
    try:
        update = _Update.model_validate(payload)
    except ValidationError as exc:
        raise BadPayload(f"not a Telegram update: {exc.error_count()} errors") from exc
    msg = update.message or update.edited_message
    if msg is None or not msg.text:
        return None
    dest = Destination(platform="telegram", account=bot, chat_id=str(msg.chat.id),
                       thread_id=str(msg.message_thread_id) if msg.message_thread_id else None,
                       reply_to=str(msg.message_id))
    return Inbound(source_id=str(update.update_id), dest=dest,
                   user_id=str(msg.sender.id) if msg.sender else None, text=msg.text, received_at=now)


class TelegramPlatform:
    """Telegram's outbound side and polling loops; ``aclose()`` shuts the bots down."""

    name: Literal["telegram"] = "telegram"
    limit: int = 4096

    def __init__(self, config: TelegramConfig, secrets: Secrets, timeout_s: float) -> None:
        self.config, self.secrets, self.timeout_s = config, secrets, timeout_s
        self._bots: dict[str, Bot] = {}
        self._lock = anyio.Lock()

    def route(self, account: str) -> TelegramBotConfig | None:
        return self.config.bots.get(account)

    def config_path(self, account: str) -> str:
        return f"channels.telegram.bots.{account}"

    async def bot(self, caller: Caller, account: str) -> Bot:
        """The initialised client of bot ``account`` (made once, shut down by :meth:`aclose`).

        Raises:
            PlatformError: no such bot, or ``getMe`` failed.
        """
        async with self._lock:
            if account not in self._bots:
                cfg = self.config.bots.get(account)
                if cfg is None:
                    raise PlatformError(f"no Telegram bot {account!r} is configured")
                bot = Bot(await self.secrets.reveal(caller, cfg.token), base_url=cfg.api_base)
                try:
                    await bot.initialize()
                except TelegramError as exc:
                    raise PlatformError(f"Telegram getMe failed: {exc}") from exc
                self._bots[account] = bot
            return self._bots[account]

    async def aclose(self) -> None:
        bots, self._bots = list(self._bots.values()), {}
        for bot in bots:
            await bot.shutdown()

    async def send(self, caller: Caller, dest: Destination, pieces: list[str], start: int,
                   progress: Callable[[int], Awaitable[None]]) -> None:
        bot = await self.bot(caller, dest.account)
        reply = (ReplyParameters(message_id=int(dest.reply_to), allow_sending_without_reply=True)
                 if dest.reply_to else None)
        for n in range(start, len(pieces)):
            try:
                await bot.send_message(chat_id=int(dest.chat_id), text=pieces[n], reply_parameters=reply,
                                       message_thread_id=int(dest.thread_id) if dest.thread_id else None)
            except TelegramError as exc:
                raise PlatformError(f"Telegram sendMessage failed: {exc}") from exc
            await progress(n + 1)

    async def poll(self, caller: Caller, account: str, clock: Callable[[], float], *,
                   task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Long-poll bot ``account`` until cancelled; ``task_status`` once the first request is out.

        A failed ``getUpdates`` (or state/queue call) is logged and retried after a pause that
        doubles up to 30 s; updates are only skipped once ingested (at least once, deduplicated).
        """
        cfg = self.config.bots[account]
        stored = await caller.trigger("state::get", {"scope": OFFSETS_SCOPE, "key": account})
        offset = int(stored) if isinstance(stored, int) else None
        pause, started = 1.0, False
        while True:
            try:
                bot = await self.bot(caller, account)
                if not started:
                    task_status.started()
                    started = True
                updates = await bot.get_updates(offset=offset, timeout=cfg.poll_timeout_s,
                                                allowed_updates=["message", "edited_message"])
                for update in updates:
                    message = parse_update(account, update.to_dict(), clock())
                    if message is not None:
                        await ingest(caller, message)
                    offset = update.update_id + 1
                    await caller.trigger("state::set", {"scope": OFFSETS_SCOPE, "key": account, "value": offset})
                pause = 1.0
            except (PlatformError, TelegramError, BadPayload, OSError, InvocationError) as exc:
                log.warning("telegram %s: polling failed (%s); again in %.0fs", account, exc, pause)
                if not started:
                    task_status.started()
                    started = True
                await anyio.sleep(pause)
                pause = min(pause * 2, 30.0)
