"""Slack end to end: signed events → one agent run per message → threaded replies via slack_sdk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.fakes import Text
from workers.channels import Inbound, slack

from .conftest import CALL_TIMEOUT, Stack, running
from .helpers import slack_headers, slack_message

KEY = "slack:slack:T1:C1:1700000000.000100"
"""The record of :func:`slack_message`'s default message: team, channel and ``ts``."""


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
    await stack.watcher.wait(KEY, "replied")

    # the same job delivered again by the queue (at least once) loses the claim
    result = await stack.client.trigger("channels::process", {"key": KEY})

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

    await stack.watcher.wait(KEY, "replied")
    record = await stack.client.trigger("channels::inbound::get", {"key": KEY})
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


# -- one message, two events ------------------------------------------------------------------

BOT = "UBOT"


def slack_event(event_id: str, kind: str, text: str, *, ts: str, channel: str = "C1",
                channel_type: str = "channel", thread_ts: str | None = None) -> bytes:
    """An ``event_callback`` as Slack sends it to an app whose bot user is :data:`BOT`."""
    event: dict[str, Any] = {"type": kind, "user": "U1", "text": text, "ts": ts, "team": "T1",
                             "channel": channel, "event_ts": ts, "client_msg_id": f"m-{ts}"}
    if kind == "message":
        event["channel_type"] = channel_type
    if thread_ts:
        event["thread_ts"] = thread_ts
    return json.dumps({
        "type": "event_callback", "team_id": "T1", "api_app_id": "A1", "event_id": event_id,
        "event_time": 1700000000, "event": event,
        "authorizations": [{"enterprise_id": None, "team_id": "T1", "user_id": BOT, "is_bot": True,
                            "is_enterprise_install": False}]}).encode()


def mention_pair(text: str, ts: str, *, thread_ts: str | None = None) -> dict[str, bytes]:
    """The two events Slack sends for one message mentioning the bot in a channel it is in."""
    return {kind: slack_event(f"Ev-{kind}-{ts}", kind, text, ts=ts, thread_ts=thread_ts)
            for kind in ("app_mention", "message")}


async def settled(stack: Stack) -> None:
    """Every job pushed so far has finished.

    Call it once a job pushed *last* has done its visible work (its reply was posted): jobs are
    leased in the order they were pushed, so none of the earlier ones is still waiting, and
    once nothing is in flight they have all ended.
    """
    queue = stack.node.modules["queue"]
    with anyio.fail_after(CALL_TIMEOUT):
        await queue.wait_until(lambda: queue.statistics().in_flight == 0)


def test_both_events_of_a_message_make_the_same_record() -> None:
    pair = mention_pair(f"<@{BOT}> deploy it", "1700000000.000100")

    found = [slack.parse_event(json.loads(body), 5.0) for body in pair.values()]

    assert all(isinstance(f, Inbound) for f in found)
    mention, message = (f.model_dump() for f in found if isinstance(f, Inbound))
    assert mention == message
    assert mention["source_id"] == "T1:C1:1700000000.000100" and mention["text"] == "deploy it"


def test_only_the_bots_leading_mention_is_removed() -> None:
    assert slack.strip_mention(f"<@{BOT}|helper>  approve a1", {BOT}) == "approve a1"
    assert slack.strip_mention("<@U2> what do you think?", {BOT}) == "<@U2> what do you think?"
    assert slack.strip_mention("<@U2> hi", set()) == "hi"  # no bot named: as app_mention did


@pytest.mark.parametrize("order", ["app_mention first", "message first", "at once"])
async def test_a_mention_delivered_as_two_events_runs_once(stack: Stack, order: str) -> None:
    ts = "1700000010.000100"
    pair = mention_pair(f"<@{BOT}> what is up?", ts)
    bodies = [pair["message"], pair["app_mention"]] if order == "message first" else list(pair.values())

    statuses: list[int] = []

    async def deliver(body: bytes) -> None:
        statuses.append((await stack.post("/channels/slack/events", body, slack_headers(body))).status_code)

    if order == "at once":
        async with anyio.create_task_group() as tg:
            for body in bodies:
                tg.start_soon(deliver, body)
    else:
        for body in bodies:
            await deliver(body)
    assert statuses == [200, 200]
    with anyio.fail_after(CALL_TIMEOUT):
        await stack.watcher.wait(f"slack:slack:T1:C1:{ts}", "replied")
    # a retry of the second event, then a reply in the thread: a distinct message, its own run
    again = bodies[1]
    assert (await stack.post("/channels/slack/events", again, slack_headers(again, retry=1))).status_code == 200
    reply = slack_event("Ev-reply", "message", "and now?", ts="1700000011.000100", thread_ts=ts)
    await stack.post("/channels/slack/events", reply, slack_headers(reply))
    with anyio.fail_after(CALL_TIMEOUT):
        posts = await stack.platforms.wait_posts(2, "slack")
    await settled(stack)

    assert await stack.agent_runs() == 2
    assert len(stack.platforms.posted("slack")) == 2
    assert [p.body["thread_ts"] for p in posts] == [ts, ts]
    asked = [r.body["messages"][-1]["content"] for r in stack.fake.chat_requests]
    assert asked == ["what is up?", "and now?"]
    recorded = sorted(r["source_id"] for r in await stack.inbound())
    assert recorded == [f"T1:C1:{ts}", "T1:C1:1700000011.000100"]


async def test_a_direct_message_is_answered(stack: Stack) -> None:
    ts = "1700000020.000100"
    body = slack_event("Ev-dm", "message", "hello in private", ts=ts, channel="D1", channel_type="im")

    response = await stack.post("/channels/slack/events", body, slack_headers(body))

    assert response.status_code == 200
    with anyio.fail_after(CALL_TIMEOUT):
        [post] = await stack.platforms.wait_posts(1, "slack")
        await stack.watcher.wait(f"slack:slack:T1:D1:{ts}", "replied")
    assert post.body["channel"] == "D1" and post.body["thread_ts"] == ts
    assert post.text == "Hello from the fake upstream."
    assert await stack.agent_runs() == 1
