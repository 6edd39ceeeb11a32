"""Slack end to end: signed events → one agent run → threaded replies via slack_sdk."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fakes import Text

from .conftest import Stack, running
from .helpers import slack_headers, slack_message


async def test_a_signed_message_makes_one_run_and_one_threaded_reply(stack: Stack) -> None:
    body = slack_message("Ev1", "hello there", ts="1700000000.000100")

    response = await stack.post("/channels/slack/events", body, slack_headers(body))

    assert response.status_code == 200
    [post] = await stack.platforms.wait_posts(1, "slack")
    assert post.body["channel"] == "C1"
    assert post.body["thread_ts"] == "1700000000.000100"
    assert post.body["text"] == "Hello from the fake upstream."
    assert await stack.agent_runs() == 1
    assert stack.fake.chat_requests[0].body["messages"][-1]["content"] == "hello there"


async def test_a_retried_delivery_runs_nothing_more(stack: Stack) -> None:
    body = slack_message("Ev2", "once please")
    assert (await stack.post("/channels/slack/events", body, slack_headers(body))).status_code == 200
    await stack.platforms.wait_posts(1, "slack")

    replay = await stack.post("/channels/slack/events", body, slack_headers(body, retry=1))

    assert replay.status_code == 200
    # a later message is answered after the replay was acknowledged: only two runs in all
    other = slack_message("Ev3", "second", ts="1700000001.000100")
    await stack.post("/channels/slack/events", other, slack_headers(other))
    posts = await stack.platforms.wait_posts(2, "slack")
    assert await stack.agent_runs() == 2
    assert [p.body["thread_ts"] for p in posts] == ["1700000000.000100", "1700000001.000100"]


async def test_a_replay_while_queued_is_claimed_once(stack: Stack) -> None:
    body = slack_message("Ev4", "race")
    await stack.post("/channels/slack/events", body, slack_headers(body))
    await stack.watcher.wait("slack:slack:Ev4", "replied")

    # the same job delivered again by the queue (at least once) loses the claim
    result = await stack.client.trigger("channels::process", {"key": "slack:slack:Ev4"})

    assert result["status"] == "skipped"
    assert await stack.agent_runs() == 1
    assert len(stack.platforms.posted("slack")) == 1


async def test_a_bad_signature_is_401_and_leaves_nothing(stack: Stack) -> None:
    body = slack_message("Ev5", "forged")

    bad = await stack.post("/channels/slack/events", body, slack_headers(body, secret="wrong"))
    stale = await stack.post("/channels/slack/events", body, slack_headers(body, timestamp=1))
    unsigned = await stack.post("/channels/slack/events", body, {})

    assert [bad.status_code, stale.status_code, unsigned.status_code] == [401, 401, 401]
    assert await stack.inbound() == []
    assert await stack.agent_runs() == 0


async def test_the_signature_covers_the_exact_bytes(stack: Stack) -> None:
    # spacing a re-serialiser would not reproduce
    body = b'{"type":  "url_verification",   "challenge": "c-123", "token": "x"}'

    answer = await stack.post("/channels/slack/events", body, slack_headers(body))
    forged = await stack.post("/channels/slack/events", body, slack_headers(body + b" "))

    assert answer.status_code == 200 and answer.json() == {"challenge": "c-123"}
    assert forged.status_code == 401


async def test_a_long_answer_arrives_split_in_order(stack: Stack) -> None:
    paragraphs = [f"Paragraph {i}: " + ("word " * 95).strip() for i in range(21)]
    answer = "\n\n".join(paragraphs)
    assert len(answer) >= 10_000
    stack.fake.script(Text(answer))
    body = slack_message("Ev6", "write a lot")

    await stack.post("/channels/slack/events", body, slack_headers(body))

    await stack.watcher.wait("slack:slack:Ev6", "replied")
    record = await stack.client.trigger("channels::inbound::get", {"key": "slack:slack:Ev6"})
    assert record["status"] == "replied" and record["sent"] == 3
    texts = [p.text for p in stack.platforms.posted("slack")]
    assert all(len(t) <= 3900 for t in texts)
    assert "\n\n".join(texts) == answer


async def test_no_default_agent_gets_an_explicit_reply(tmp_path: Path) -> None:
    async with running(tmp_path) as stack:
        cfg = stack.service.config.slack
        assert cfg is not None
        stack.service.slack.config = cfg.model_copy(update={"default_agent": None})
        body = slack_message("Ev7", "anyone?")

        await stack.post("/channels/slack/events", body, slack_headers(body))

        [post] = await stack.platforms.wait_posts(1, "slack")
        assert post.text == "No agent is configured for this chat; set channels.slack.default_agent"
        assert await stack.agent_runs() == 0


async def test_bot_messages_are_acknowledged_and_ignored(stack: Stack) -> None:
    body = json.dumps({"type": "event_callback", "event_id": "Ev8", "event": {
        "type": "message", "channel": "C1", "bot_id": "B1", "text": "echo", "ts": "1.0"}}).encode()

    response = await stack.post("/channels/slack/events", body, slack_headers(body))

    assert response.status_code == 200
    assert await stack.inbound() == []
