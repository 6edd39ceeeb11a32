"""The claim of an inbound record: one queue job owns it, and only that job's retries send it."""

from __future__ import annotations

from workers.channels.base import INBOUND_SCOPE, Destination, Inbound, claim

from .conftest import Stack


async def test_an_answered_record_is_sent_only_by_the_job_that_claimed_it(stack: Stack) -> None:
    message = Inbound(source_id="T1:C1:1.0", dest=Destination(platform="slack", account="slack", chat_id="C1"),
                      text="hi")
    await stack.client.trigger("state::set", {"scope": INBOUND_SCOPE, "key": message.key,
                                              "value": message.model_dump(mode="json")})
    taken = await claim(stack.client, message.key, "job-1")
    assert taken is not None and taken.status == "processing" and taken.owner == "job-1"
    assert await claim(stack.client, message.key, "job-2") is None  # a second job: no second run
    answered = taken.model_copy(update={"status": "answered", "answer": "hello"})
    await stack.client.trigger("state::set", {"scope": INBOUND_SCOPE, "key": message.key,
                                              "value": answered.model_dump(mode="json")})
    assert await claim(stack.client, message.key, "job-2") is None  # never a second send
    again = await claim(stack.client, message.key, "job-1")  # the owner's retry goes on sending
    assert again is not None and again.answer == "hello"
    assert await claim(stack.client, "slack:slack:missing", "job-1") is None
