"""Signature checks of each platform (pure: time is a parameter)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from workers.channels import Unauthenticated, discord, slack, telegram, webhook
from workers.channels.approvals import parse_command
from workers.channels.config import expand_env

NOW = 1_700_000_000.0
BODY = b'{"a": 1}'


def test_slack_accepts_its_own_signature_within_the_window() -> None:
    sig = slack.sign("s", str(int(NOW)), BODY)
    slack.verify("s", {"x-slack-request-timestamp": str(int(NOW)), "x-slack-signature": sig}, BODY, NOW + 299, 300)


@pytest.mark.parametrize("headers", [
    {},
    {"x-slack-request-timestamp": "abc", "x-slack-signature": "v0=00"},
    {"x-slack-request-timestamp": str(int(NOW) - 301), "x-slack-signature": slack.sign("s", str(int(NOW) - 301), BODY)},
    {"x-slack-request-timestamp": str(int(NOW)), "x-slack-signature": slack.sign("other", str(int(NOW)), BODY)},
])
def test_slack_refuses(headers: dict[str, str]) -> None:
    with pytest.raises(Unauthenticated):
        slack.verify("s", headers, BODY, NOW, 300)


def test_telegram_needs_a_configured_and_equal_secret() -> None:
    telegram.verify("t", {"x-telegram-bot-api-secret-token": "t"})
    for expected, headers in [(None, {"x-telegram-bot-api-secret-token": ""}), ("t", {}),
                              ("t", {"x-telegram-bot-api-secret-token": "u"})]:
        with pytest.raises(Unauthenticated):
            telegram.verify(expected, headers)


def test_discord_ed25519() -> None:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    ts = str(int(NOW))
    good = {"x-signature-ed25519": key.sign(ts.encode() + BODY).hex(), "x-signature-timestamp": ts}
    discord.verify(public, good, BODY, NOW, 300)
    for headers, body, now in [(good, BODY + b"x", NOW), (good, BODY, NOW + 301),
                               ({**good, "x-signature-ed25519": "zz"}, BODY, NOW), ({}, BODY, NOW)]:
        with pytest.raises(Unauthenticated):
            discord.verify(public, headers, body, now, 300)


def test_webhook_hmac() -> None:
    ts = str(int(NOW))
    headers = {"x-agentos-timestamp": ts, "x-agentos-signature": webhook.sign("k", ts, BODY)}
    webhook.verify("k", headers, BODY, NOW, 300)
    with pytest.raises(Unauthenticated):
        webhook.verify("other", headers, BODY, NOW, 300)


def test_approval_commands() -> None:
    assert parse_command("approve apr_12ab") == ("approve", "apr_12ab", None)
    assert parse_command("  Reject apr_x because no") == ("reject", "apr_x", "because no")
    assert parse_command("please approve apr_x") is None
    assert parse_command("approve everything") is None


def test_env_expansion() -> None:
    assert expand_env({"a": ["${X}-y"], "b": 1}, {"X": "v"}) == {"a": ["v-y"], "b": 1}
    with pytest.raises(KeyError):
        expand_env("${MISSING}", {})
