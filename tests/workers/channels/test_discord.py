"""Discord interactions: Ed25519 verification, PING, a deferred command answered by follow-up."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .conftest import Stack
from .helpers import discord_headers


async def test_ping_is_answered_only_when_signed(stack: Stack) -> None:
    body = json.dumps({"id": "i0", "type": 1, "application_id": "app1"}).encode()

    good = await stack.post("/channels/discord/interactions", body, discord_headers(stack.discord_key, body))
    bad = await stack.post("/channels/discord/interactions", body,
                           discord_headers(Ed25519PrivateKey.generate(), body))
    tampered = await stack.post("/channels/discord/interactions", body + b" ",
                                discord_headers(stack.discord_key, body))

    assert good.status_code == 200 and good.json() == {"type": 1}
    assert [bad.status_code, tampered.status_code] == [401, 401]


async def test_a_command_is_deferred_then_answered_once(stack: Stack) -> None:
    body = json.dumps({
        "id": "i1", "type": 2, "application_id": "app1", "token": "itok", "channel_id": "D1",
        "member": {"user": {"id": "u1"}},
        "data": {"name": "ask", "options": [{"name": "q", "type": 3, "value": "what is up"}]},
    }).encode()

    response = await stack.post("/channels/discord/interactions", body, discord_headers(stack.discord_key, body))
    again = await stack.post("/channels/discord/interactions", body, discord_headers(stack.discord_key, body))

    assert response.status_code == 200 and response.json() == {"type": 5}
    assert again.status_code == 200
    [post] = await stack.platforms.wait_posts(1, "discord")
    assert post.path == "/discord/webhooks/app1/itok/messages/@original"
    assert post.body == {"content": "Hello from the fake upstream."}
    await stack.watcher.wait("discord:discord:i1")
    record = await stack.client.trigger("channels::inbound::get", {"key": "discord:discord:i1"})
    assert record["dest"]["extra"] == {}  # the interaction token is dropped once answered
    assert await stack.agent_runs() == 1
