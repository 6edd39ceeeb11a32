"""The generic webhook: HMAC in, the answer to the hook's signed callback."""

from __future__ import annotations

import json

from workers.channels import webhook

from .conftest import HOOK_SECRET, Stack
from .helpers import webhook_headers


async def test_a_signed_delivery_runs_once_and_calls_back_signed(stack: Stack) -> None:
    body = json.dumps({"text": "build failed, why?", "chat_id": "pipeline-9"}).encode()

    response = await stack.post("/channels/webhook/ci", body, webhook_headers(body, "d-1"))
    again = await stack.post("/channels/webhook/ci", body, webhook_headers(body, "d-1"))

    assert response.status_code == 202 and response.json() == {"accepted": True, "delivery_id": "d-1"}
    assert again.status_code == 202
    [post] = await stack.platforms.wait_posts(1, "callback")
    assert post.body == {"hook_id": "ci", "delivery_id": "d-1", "chat_id": "pipeline-9",
                         "text": "Hello from the fake upstream.", "part": 1, "parts": 1}
    webhook.verify(HOOK_SECRET, post.headers, post.raw, float(post.headers["x-agentos-timestamp"]), 300)
    await stack.watcher.wait("webhook:ci:d-1")
    assert await stack.agent_runs() == 1


async def test_bad_signature_unknown_hook_and_no_delivery_id(stack: Stack) -> None:
    body = json.dumps({"text": "hi"}).encode()

    forged = await stack.post("/channels/webhook/ci", body, webhook_headers(body, "d-2", secret="x"))
    unknown = await stack.post("/channels/webhook/nope", body, webhook_headers(body, "d-3"))
    headers = webhook_headers(body, "d-4")
    del headers["X-AgentOS-Delivery"]
    no_id = await stack.post("/channels/webhook/ci", body, headers)

    assert [forged.status_code, unknown.status_code, no_id.status_code] == [401, 401, 400]
    assert await stack.inbound() == []
    assert await stack.agent_runs() == 0
