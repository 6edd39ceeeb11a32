"""PII and secret detectors, pure: what each kind finds and what it must not."""

from __future__ import annotations

import base64
import random
import time

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


@pytest.mark.parametrize(("text", "expected"), [
    ("Authorization: Bearer abcDEF0123456789ghiJKL", [("credential", "abcDEF0123456789ghiJKL")]),
    ("Authorization: token 9f8e7d6c5b4a39281706fa", [("credential", "9f8e7d6c5b4a39281706fa")]),
    (f"Authorization: Basic {base64.b64encode(b'bob:hunter2').decode()}",
     [("credential", base64.b64encode(b"bob:hunter2").decode())]),
    ("postgres://bob:s3cretPass@db.example.com/app", [("credential", "s3cretPass")]),
    ('{"api_key": "0123456789abcdef0123"}', [("api_key", "0123456789abcdef0123")]),
    ("client_secret: Zx81kQ0pLm3vB7nR", [("api_key", "Zx81kQ0pLm3vB7nR")]),
    ("password=Tr0ub4dor", [("api_key", "Tr0ub4dor")]),
    ("key sk-AbCdEf0123456789GhIjKlMn", [("api_key", "sk-AbCdEf0123456789GhIjKlMn")]),
    ("sk-ant-api03-abcdefghijklmnopqrstuvwxyz", [("api_key", "sk-ant-api03-abcdefghijklmnopqrstuvwxyz")]),
    ("slack xoxe-1-abcdefghij1234", [("api_key", "xoxe-1-abcdefghij1234")]),
    ("hook https://hooks.slack.com/services/T0123ABCD/B0123ABCD/abcdefghij0123456789ABCD",
     [("api_key", "https://hooks.slack.com/services/T0123ABCD/B0123ABCD/abcdefghij0123456789ABCD")]),
    ("sendgrid SG." + "a" * 22 + "." + "b" * 43, [("api_key", "SG." + "a" * 22 + "." + "b" * 43)]),
    ("stripe sk_test_" + "4eC39HqLyjWDarjtT1zdp7dc", [("api_key", "sk_test_4eC39HqLyjWDarjtT1zdp7dc")]),
    ("pat github_pat_" + "A1" * 20, [("api_key", "github_pat_" + "A1" * 20)]),
    ("reach 555.123.4567", [("phone", "555.123.4567")]),
])
def test_finds_credentials_and_more_key_formats(text: str, expected: list[tuple[str, str]]) -> None:
    assert kinds(text) == expected


@pytest.mark.parametrize("text", [
    "http://169.254.169.254/latest/meta-data/ and 10.0.0.1 and [::ffff:127.0.0.1]",
    "see https://example.org/sk-learn-tutorial-for-beginners-2024",
    "sk-" * 40,
    "a bearer of bad news, the token economy",
    "a basic idea; Basic dXNlcm5hbWU= (no colon inside)",
    "password=${DB_PASSWORD} and password: changeme and pwd=<secret>",
    "author: JaneDoe2024x",
    "ssh://deploy@gitserver/repo and postgres://bob:$PGPASS@db/app",
    "akiaiosfodnn7example ghp_short xoxb-short",
    "uuid 123e4567-e89b-12d3-a456-426614174000",
])
def test_near_misses(text: str) -> None:
    assert kinds(text) == []


def test_private_keys_and_overlaps() -> None:
    pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n-----END OPENSSH PRIVATE KEY-----"
    assert kinds(f"key:\n{pem}\n") == [("private_key", pem)]
    pgp = "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF==\n-----END PGP PRIVATE KEY BLOCK-----"
    assert kinds(pgp) == [("private_key", pgp)]
    unterminated = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE"
    assert kinds(unterminated) == [("private_key", unterminated)]
    # a password inside a URL is a credential, not also an e-mail address
    assert [k for k, _ in kinds("mysql://root:Pa55word@db.example.com")] == ["credential"]
    # a JWT after Bearer stays a JWT
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTYifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    assert kinds(f"Bearer {jwt}") == [("jwt", jwt)]
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


HOSTILE = {
    "dashed words": "a-" * 200_000,
    "key names": "api-key-" * 50_000,
    "keyword runs": "secret" * 60_000,
    "sk runs": "sk-" * 100_000,
    "assignments": "token=" * 60_000,
    "json keys": '"password": "' * 30_000,
    "bearers": "Bearer " * 50_000,
    "schemes": "ab://c:d" * 40_000,
    "pem headers": "-----BEGIN RSA PRIVATE KEY-----\n" * 10_000,
    "jwt-ish": "eyJaaaaaaaaa." * 30_000,
    "digits": "1" * 300_000,
    "digit groups": "12 " * 100_000,
    "at signs": "a@b." * 100_000,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_texts_take_linear_time(name: str) -> None:
    text = HOSTILE[name]
    started = time.perf_counter()
    detect(text)
    # linear patterns do these in well under a second; a quadratic one takes minutes
    assert time.perf_counter() - started < 10, f"{name}: {len(text)} chars"


def test_binary_ish_text_is_scanned_safely() -> None:
    rng = random.Random(7)
    blobs = [bytes(range(256)) * 2_000, bytes(rng.getrandbits(8) for _ in range(300_000))]
    for blob in blobs:
        text = blob.decode("latin-1")
        findings = detect(text)
        assert all(0 <= f.span[0] < f.span[1] <= len(text) for f in findings)
        assert redact(text, findings).count("[REDACTED:") == len(findings)
    assert detect("\x00AKIAIOSFODNN7EXAMPLE\x00")[0].kind == "api_key"
    assert detect("\ud800 jane@example.org \udfff")[0].kind == "email"
