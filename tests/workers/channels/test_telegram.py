"""Telegram end to end: webhook secret, update_id dedup, replies via python-telegram-bot, polling."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fakes import Text

from .conftest import TELEGRAM_TOKEN, Stack, running
from .helpers import telegram_headers, telegram_update


async def test_an_update_makes_one_run_and_a_reply_to_the_message(stack: Stack) -> None:
    body = telegram_update(1001, "hi bot", chat=42, message_id=500)

    response = await stack.post("/channels/telegram/webhook/main", body, telegram_headers())

    assert response.status_code == 200
    [post] = await stack.platforms.wait_posts(1, "telegram")
    assert post.path == f"/telegram/bot{TELEGRAM_TOKEN}/sendMessage"
    assert post.body["chat_id"] == 42
    assert post.body["text"] == "Hello from the fake upstream."
    assert post.body["reply_parameters"]["message_id"] == 500
    assert await stack.agent_runs() == 1


async def test_a_resent_update_runs_nothing_more(stack: Stack) -> None:
    body = telegram_update(1002, "once")
    await stack.post("/channels/telegram/webhook/main", body, telegram_headers())
    await stack.watcher.wait("telegram:main:1002")

    again = await stack.post("/channels/telegram/webhook/main", body, telegram_headers())

    assert again.status_code == 200
    assert await stack.agent_runs() == 1
    assert len(stack.platforms.posted("telegram")) == 1


async def test_a_wrong_secret_or_unknown_bot_is_401_and_leaves_nothing(stack: Stack) -> None:
    body = telegram_update(1003, "forged")

    wrong = await stack.post("/channels/telegram/webhook/main", body, telegram_headers("nope"))
    missing = await stack.post("/channels/telegram/webhook/main", body, {})
    unknown = await stack.post("/channels/telegram/webhook/other", body, telegram_headers())

    assert [wrong.status_code, missing.status_code, unknown.status_code] == [401, 401, 401]
    assert await stack.inbound() == []
    assert await stack.agent_runs() == 0


async def test_a_long_answer_is_split_at_4096(stack: Stack) -> None:
    answer = "\n".join(f"line {i} " + "x" * 90 for i in range(100))  # ~10 000 characters
    stack.fake.script(Text(answer))
    body = telegram_update(1004, "long please")

    await stack.post("/channels/telegram/webhook/main", body, telegram_headers())

    await stack.watcher.wait("telegram:main:1004")
    texts = [p.text for p in stack.platforms.posted("telegram")]
    assert len(texts) == 3 and all(len(t) <= 4096 for t in texts)
    assert "\n".join(texts) == answer


async def test_long_polling_delivers_each_update_once(tmp_path: Path) -> None:
    async with running(tmp_path, polling=True) as stack:
        await stack.client.trigger("agent::create", {"name": "helper"})

        stack.platforms.push_update(_update(2001, "first"))
        await stack.watcher.wait("telegram:main:2001")
        stack.platforms.push_update(_update(2002, "second"))
        await stack.watcher.wait("telegram:main:2002")

        assert [p.body["text"] for p in stack.platforms.posted("telegram")] == ["Hello from the fake upstream."] * 2
        assert await stack.agent_runs() == 2
        offsets = [c.get("offset") for c in stack.platforms.get_updates_calls]
        assert offsets[0] is None and offsets[1:3] == [2002, 2003]  # each update is asked past once
        assert await stack.client.trigger("state::get", {"scope": "channels:offsets", "key": "main"}) == 2003


def _update(update_id: int, text: str) -> dict[str, object]:
    return json.loads(telegram_update(update_id, text))
