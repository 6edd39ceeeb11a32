"""Approvals in the chat: the notice in the run's thread, ``approve <id>`` from an approver."""

from __future__ import annotations

from .conftest import Stack
from .helpers import slack_headers, slack_message

THREAD = "1700000000.000100"
SESSION = f"slack:slack:C1:{THREAD}"


async def _request_approval(stack: Stack) -> str:
    body = slack_message("Ea1", "deploy it", ts=THREAD)
    await stack.post("/channels/slack/events", body, slack_headers(body))
    await stack.watcher.wait("slack:slack:Ea1")
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
