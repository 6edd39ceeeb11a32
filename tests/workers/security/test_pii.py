"""PII and secret detectors, pure: what each kind finds and what it must not."""

from __future__ import annotations

import pytest

from workers.security.pii import detect, iban_ok, luhn_ok, redact


def kinds(text: str) -> list[tuple[str, str]]:
    return [(f.kind, text[f.span[0]:f.span[1]]) for f in detect(text)]


@pytest.mark.parametrize(("text", "expected"), [
    ("write to bob.smith+tag@mail.example.co.uk today", [("email", "bob.smith+tag@mail.example.co.uk")]),
    ("call +44 20 7946 0958 now", [("phone", "+44 20 7946 0958")]),
    ("call (555) 123-4567", [("phone", "(555) 123-4567")]),
    ("card 4111 1111 1111 1111 exp", [("card", "4111 1111 1111 1111")]),
    ("card 5500-0000-0000-0004", [("card", "5500-0000-0000-0004")]),
    ("pay to DE89 3704 0044 0532 0130 00 please", [("iban", "DE89 3704 0044 0532 0130 00")]),
    ("pay to GB82WEST12345698765432", [("iban", "GB82WEST12345698765432")]),
    ("OPENAI_API_KEY=sk-proj-AbCdEf0123456789AbCdEf0123", [("api_key", "sk-proj-AbCdEf0123456789AbCdEf0123")]),
    ("token ghp_abcdefghijklmnopqrstuvwxyz0123456789", [("api_key", "ghp_abcdefghijklmnopqrstuvwxyz0123456789")]),
    ("aws AKIAIOSFODNN7EXAMPLE", [("api_key", "AKIAIOSFODNN7EXAMPLE")]),
    ("slack xoxb-1234567890-abcdefghij", [("api_key", "xoxb-1234567890-abcdefghij")]),
    ('db_password = "Xk9#mQ2vL8pR4tZ1"', [("api_key", "Xk9#mQ2vL8pR4tZ1")]),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTYifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
     [("jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTYifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")]),
])
def test_finds(text: str, expected: list[tuple[str, str]]) -> None:
    assert kinds(text) == expected


@pytest.mark.parametrize("text", [
    "version 1.2.3 released on 2024-05-01",
    "order 4111 1111 1111 1112 (fails Luhn)",
    "the answer is 42 and pi is 3.14159",
    "sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "token: abcabcabcabc (no entropy, no digits)",
    "DE00 1234 5678 9012 3456 78 is not a valid IBAN",
    "user@localhost is not an address with a domain",
    "0000 0000 0000 0000",
])
def test_does_not_find(text: str) -> None:
    assert kinds(text) == []


def test_private_keys_and_overlaps() -> None:
    pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n-----END OPENSSH PRIVATE KEY-----"
    assert kinds(f"key:\n{pem}\n") == [("private_key", pem)]
    # a card number is not also reported as a phone number
    assert [k for k, _ in kinds("4111-1111-1111-1111")] == ["card"]


def test_checksums() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("DE89 3704 0044 0532 0130 00") and not iban_ok("DE89 3704 0044 0532 0130 01")
    assert not iban_ok("DE89")


def test_redact_masks_values_and_keeps_the_rest() -> None:
    text = "mail a@b.example, key AKIAIOSFODNN7EXAMPLE."
    assert redact(text) == "mail [REDACTED:email], key [REDACTED:api_key]."


def test_many_findings_stay_linear() -> None:
    text = "x@y.example " * 50_000
    assert len(detect(text)) == 50_000
