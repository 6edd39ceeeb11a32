"""Approvals in the chat: the notice in the run's thread, ``approve <id>`` from an approver."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.fakes import Text, ToolCall, ToolCalls
from workers.sdk import Worker, function

from .conftest import Stack, running
from .helpers import slack_headers, slack_message

THREAD = "1700000000.000100"
SESSION = f"slack:slack:C1:{THREAD}"


async def _request_approval(stack: Stack) -> str:
    body = slack_message("Ea1", "deploy it", ts=THREAD)
    await stack.post("/channels/slack/events", body, slack_headers(body))
    await stack.watcher.wait(f"slack:slack:T1:C1:{THREAD}")
    answer = await stack.client.trigger("approval::request", {
        "agent_id": "helper", "run_id": SESSION, "function_id": "tools::deploy", "reason": "prod deploy"})
    return str(answer["approval_id"])


async def test_the_request_is_posted_in_the_thread_and_an_approver_decides(stack: Stack) -> None:
    approval_id = await _request_approval(stack)
    notice = (await stack.platforms.wait_posts(2, "slack"))[1]
    assert notice.body["thread_ts"] == THREAD
    assert f"approve {approval_id}" in notice.text and "tools::deploy" in notice.text

    body = slack_message("Ea2", f"approve {approval_id} looks fine", user="UBOSS", ts="1700000002.000100",
                         thread_ts=THREAD)
    await stack.post("/channels/slack/events", body, slack_headers(body))

    reply = (await stack.platforms.wait_posts(3, "slack"))[2]
    assert reply.text == f"Approved {approval_id}."
    record = await stack.client.trigger("approval::get", {"approval_id": approval_id})
    assert record["status"] == "approved" and record["decided_by"] == "slack:UBOSS"
    assert record["note"] == "looks fine"
    assert await stack.agent_runs() == 1  # the command never reached the agent


async def test_someone_not_on_the_list_cannot_approve(stack: Stack) -> None:
    approval_id = await _request_approval(stack)
    await stack.platforms.wait_posts(2, "slack")

    body = slack_message("Ea3", f"approve {approval_id}", user="U1", ts="1700000003.000100", thread_ts=THREAD)
    await stack.post("/channels/slack/events", body, slack_headers(body))

    reply = (await stack.platforms.wait_posts(3, "slack"))[2]
    assert reply.text == "You may not decide approvals here; approvers are listed in channels.slack.approvers."
    record = await stack.client.trigger("approval::get", {"approval_id": approval_id})
    assert record["status"] == "pending"


async def test_a_run_paused_for_approval_is_answered_in_the_thread_after_the_approval(tmp_path: Path) -> None:
    deploys: list[Any] = []

    @function("ops::deploy", description="Deploy the service")
    async def deploy(data: Any) -> dict[str, Any]:
        deploys.append(data)
        return {"deployed": data.get("env")}

    async with running(tmp_path, extra=[Worker("ops", functions=[deploy])]) as stack:
        await stack.client.trigger("agent::create", {
            "name": "helper", "system_prompt": "You deploy.", "capabilities": {"tools": ["ops::*"]}})
        await stack.client.trigger("approval::set_policy", {"tools": ["ops::deploy"]})
        stack.fake.script(ToolCalls([ToolCall("c1", "ops__deploy", '{"env": "prod"}')]),
                          Text("Deployed to prod."))
        body = slack_message("Eb1", "deploy it", ts=THREAD)
        await stack.post("/channels/slack/events", body, slack_headers(body))

        notice = (await stack.platforms.wait_posts(1, "slack"))[0]
        assert notice.body["thread_ts"] == THREAD and "ops::deploy" in notice.text
        match = re.search(r"approve (apr_[0-9a-f]+)", notice.text)
        assert match is not None
        assert deploys == []  # nothing ran before the human said so

        body = slack_message("Eb2", f"approve {match.group(1)}", user="UBOSS", ts="1700000005.000100",
                             thread_ts=THREAD)
        await stack.post("/channels/slack/events", body, slack_headers(body))
        posts = await stack.platforms.wait_posts(3, "slack")
        assert sorted(p.text for p in posts[1:]) == ["Approved " + match.group(1) + ".", "Deployed to prod."]
        assert all(p.body["thread_ts"] == THREAD for p in posts)
        assert deploys == [{"env": "prod"}]
        assert await stack.agent_runs() == 2  # one model call before the pause, one after
        # the notice was posted once: the agent loop's own approvals are not announced twice
        assert sum("Approval needed" in p.text for p in stack.platforms.posted("slack")) == 1
