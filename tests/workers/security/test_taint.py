"""Taint tracking through the engine: labels, the sink policy, detection, declassification."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from workers.sdk import InvocationError
from workers.security.taint import POLICY, SINKS, blocking

from .conftest import Stack


@pytest.mark.parametrize(("labels", "sink", "blocked"), [
    (["secret"], sink, ["secret"]) for sink in SINKS
] + [
    (["pii"], "log", ["pii"]), (["pii"], "http", ["pii"]), (["pii"], "file", []),
    (["pii"], "llm", []), (["untrusted"], "shell", ["untrusted"]),
    (["untrusted"], "exec", ["untrusted"]), (["untrusted"], "http", []),
    (["untrusted"], "log", []), ([], "shell", []),
    (["pii", "untrusted", "secret"], "log", ["pii", "secret"]),
])
def test_policy_table(labels: list[str], sink: str, blocked: list[str]) -> None:
    assert blocking(labels, sink) == blocked


def test_unknown_labels_block_everything() -> None:
    assert blocking(["mystery"], "file") == ["mystery"]
    assert set(POLICY) == {"secret", "pii", "untrusted"}


async def check(stack: Stack, **payload: Any) -> dict[str, Any]:
    answer: dict[str, Any] = await stack.call("taint::check", payload)
    return answer


async def test_labels_stick_to_values(stack: Stack) -> None:
    labelled = await stack.call("taint::label", {"value_id": "tool:c1", "labels": ["untrusted"]})
    assert labelled == {"value_id": "tool:c1", "labels": ["untrusted"], "findings": []}
    assert (await check(stack, sink="shell", value_ids=["tool:c1"]))["allowed"] is False
    assert (await check(stack, sink="http", value_ids=["tool:c1"]))["allowed"] is True
    more = await stack.call("taint::label", {"value_id": "tool:c1", "labels": ["pii"]})
    assert more["labels"] == ["pii", "untrusted"]
    answer = await check(stack, sink="log", value_ids=["tool:c1", "unknown-value"])
    assert answer == {"allowed": False, "blocking_labels": ["pii"], "labels": ["pii", "untrusted"],
                      "sink": "log"}
    assert await stack.call("taint::get", {"value_id": "tool:c1"}) == {
        "value_id": "tool:c1", "labels": ["pii", "untrusted"], "declassified": []}


async def test_text_is_labelled_by_what_it_contains(stack: Stack) -> None:
    text = "Reach me at jane@example.org or with key AKIAIOSFODNN7EXAMPLE"
    labelled = await stack.call("taint::label", {"value_id": "msg-1", "text": text})
    assert labelled["labels"] == ["pii", "secret"]
    assert [f["kind"] for f in labelled["findings"]] == ["email", "api_key"]
    assert "jane@example.org" not in str(labelled)
    answer = await check(stack, sink="file", text="card 4111 1111 1111 1111")
    assert answer["allowed"] is True and answer["labels"] == ["pii"]
    answer = await check(stack, sink="http", text="card 4111 1111 1111 1111")
    assert answer == {"allowed": False, "blocking_labels": ["pii"], "labels": ["pii"], "sink": "http"}
    assert (await check(stack, sink="log", text="nothing personal here"))["allowed"] is True
    detected = await stack.call("taint::detect", {"text": text})
    assert detected["labels"] == ["pii", "secret"] and detected["findings"][0]["span"] == [12, 28]
    redacted = await stack.call("taint::redact", {"text": text})
    assert redacted["text"] == "Reach me at [REDACTED:email] or with key [REDACTED:api_key]"


async def test_declassify_is_audited_and_relabelling_retaints(stack: Stack) -> None:
    await stack.call("taint::label", {"value_id": "report", "text": "contact bob@example.com"})
    assert (await check(stack, sink="http", value_ids=["report"]))["allowed"] is False
    lifted = await stack.call("taint::declassify", {"value_id": "report", "labels": ["pii"],
                                                    "reason": "customer consented", "by": "alice"})
    assert lifted == {"value_id": "report", "labels": [], "declassified": ["pii"]}
    # the text of a declassified value does not re-taint it at the sink
    answer = await check(stack, sink="http", value_ids=["report"], text="contact bob@example.com")
    assert answer["allowed"] is True
    [entry] = (await stack.call("security::audit_list", {"type": "taint.declassified"}))["entries"]
    assert entry["detail"] == {"value_id": "report", "labels": ["pii"], "by": "alice",
                               "reason": "customer consented"}
    await stack.call("taint::label", {"value_id": "report", "labels": ["pii"]})
    assert (await check(stack, sink="http", value_ids=["report"]))["allowed"] is False


async def test_enforce_fails_forbidden_without_leaking_the_value(stack: Stack) -> None:
    await stack.call("taint::label", {"value_id": "k", "labels": ["secret"]})
    ok = await stack.call("taint::enforce", {"sink": "llm", "value_ids": ["other"]})
    assert ok["allowed"] is True
    code = await stack.code_of("taint::enforce", {"sink": "log", "value_ids": ["k"]})
    assert code == "forbidden"
    try:
        await stack.call("taint::enforce", {"sink": "http", "text": "pw sk-proj-abcdefghijklmnopqrstuvwx"})
    except InvocationError as exc:
        assert exc.code == "forbidden" and "sk-proj" not in exc.message
        assert exc.message == "secret data may not reach the http sink"
    else:
        pytest.fail("enforce let a secret reach http")


async def test_concurrent_labels_are_all_kept(stack: Stack) -> None:
    async with anyio.create_task_group() as tg:
        for label in ("secret", "pii", "untrusted") * 5:
            tg.start_soon(stack.call, "taint::label", {"value_id": "v", "labels": [label]})
    assert (await stack.call("taint::get", {"value_id": "v"}))["labels"] == ["pii", "secret", "untrusted"]


@pytest.mark.parametrize(("function_id", "payload"), [
    ("taint::label", {"value_id": "v", "labels": ["radioactive"]}),
    ("taint::label", {"value_id": "", "labels": ["pii"]}),
    ("taint::label", {"labels": ["pii"]}),
    ("taint::label", {"value_id": "v", "labels": "pii"}),
    ("taint::check", {"sink": "printer", "labels": ["pii"]}),
    ("taint::check", {"labels": ["pii"]}),
    ("taint::check", {"sink": "log", "text": 12}),
    ("taint::check", {"sink": "log", "value_ids": "v"}),
    ("taint::declassify", {"value_id": "v", "labels": ["pii"], "reason": "x"}),
    ("taint::declassify", {"value_id": "v", "labels": [], "reason": "x", "by": "me"}),
    ("taint::detect", {}),
    ("taint::redact", {"text": None}),
])
async def test_malformed_payloads(stack: Stack, function_id: str, payload: Any) -> None:
    assert await stack.code_of(function_id, payload) == "invalid_arguments"


async def test_a_megabyte_of_text_is_checked(stack: Stack) -> None:
    text = "plain words " * 90_000 + " mail me: someone@example.net"
    answer = await check(stack, sink="log", text=text)
    assert answer["blocking_labels"] == ["pii"]


async def test_credentials_are_secrets_and_addresses_are_not_personal(stack: Stack) -> None:
    answer = await check(stack, sink="http",
                         text="GET https://api.example.org/\nAuthorization: Bearer abcDEF0123456789ghiJKL")
    assert answer == {"allowed": False, "blocking_labels": ["secret"], "labels": ["secret"],
                      "sink": "http"}
    found = await stack.call("taint::detect", {"text": "postgres://app:Pa55w0rdX@db.example.com"})
    assert [f["kind"] for f in found["findings"]] == ["credential"] and found["labels"] == ["secret"]
    for text in ("GET http://169.254.169.254/latest/", "GET https://93.184.216.34/index.html"):
        assert (await check(stack, sink="http", text=text))["allowed"] is True
