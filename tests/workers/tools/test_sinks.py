"""The taint gate at the tools' sinks: the run's labels and what the outgoing text carries.

These drive the gated handlers through a FunctionEnvironment: without a ``taint::enforce`` fake
the local policy decides; with one, its answer does (and its failures refuse). The real engine
and security worker are in test_taint_e2e.py."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from workers.sdk import InvocationError
from workers.security.pii import detect
from workers.tools import StaticResolver
from workers.tools.config import DEFAULT_SHELL_ALLOWLIST
from workers.tools.netguard import IPAddress
from workers.tools.sinks import record_taint, refusal

from .conftest import Harness
from .site import LocalSite

pytestmark = pytest.mark.anyio

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
UNTRUSTED = "shell is blocked: this run has read untrusted content (labels: untrusted)"
HOSTS = StaticResolver({"site.test": ["127.0.0.1"]})


class CountingResolver(StaticResolver):
    def __init__(self) -> None:
        super().__init__({"site.test": ["127.0.0.1"]})
        self.lookups = 0

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        self.lookups += 1
        return await super().resolve(host, port)


def recorder(into: list[Any], answer: Any = None) -> Callable[[Any], Any]:
    """A fake function that records what it got and answers ``answer``."""
    def record(data: Any) -> Any:
        into.append(data)
        return answer

    return record


def tools(make: Callable[..., Harness], resolver: Any = HOSTS, **settings: Any) -> Harness:
    """``touch`` allowed (so a command leaves a trace) and loopback allowed for the site."""
    return make(resolver, shell={"allowlist": [*DEFAULT_SHELL_ALLOWLIST, "touch"]},
                net={"allow_private": ["127.0.0.1/32"], "default_hosts": ["127.0.0.1", "site.test"]},
                **settings)


async def fails(h: Harness, code: str, function_id: str, data: Any, env: Any = None) -> str:
    with pytest.raises(InvocationError) as caught:
        await h.call(function_id, data, env)
    assert caught.value.code == code, caught.value
    return caught.value.message


@pytest.mark.parametrize(("sink", "run", "text", "expected"), [
    ("shell", ["untrusted"], "ls", UNTRUSTED),
    ("exec", ["untrusted"], "", "exec is blocked: this run has read untrusted content "
                                "(labels: untrusted)"),
    ("http", ["untrusted"], "GET https://example.org/", None),
    ("file", ["pii"], "jane@example.org", None),
    ("http", [], f"body {AWS_KEY}", "http is blocked: the request contains a secret (api_key) "
                                    "(labels: secret)"),
    ("http", [], "mail jane@example.org", "http is blocked: the request contains personal data "
                                          "(email) (labels: pii)"),
    ("shell", ["mystery"], "ls", "shell is blocked: this run carries the unknown taint label "
                                 "'mystery', which blocks every sink (labels: mystery)"),
    ("file", ["secret", "untrusted"], "x", "file is blocked: this run has handled secret data "
                                           "(labels: secret)"),
])
def test_refusal_messages(sink: str, run: list[str], text: str, expected: str | None) -> None:
    assert refusal(sink, run, detect(text), "the request") == expected


def test_record_taint_reads_only_well_formed_tags() -> None:
    assert record_taint({"tags": ["taint:untrusted", "depth:2", "taint:", "taint:Bad Label", 7]}) \
        == {"untrusted"}
    assert record_taint(None) == frozenset() and record_taint({"tags": "taint:pii"}) == frozenset()


async def test_an_untrusted_run_runs_no_command(make: Callable[..., Harness]) -> None:
    h = tools(make)
    tainted = h.env(taint=["untrusted"])
    assert await fails(h, "tainted", "tool::shell_exec", {"argv": ["touch", "proof"]}, tainted) \
        == UNTRUSTED
    assert not (h.workspace() / "proof").exists()
    await h.call("tool::shell_exec", {"argv": ["touch", "proof"]}, h.env(taint=[]))
    assert (h.workspace() / "proof").exists()


async def test_an_untrusted_run_runs_no_code(harness: Harness) -> None:
    ran: list[Any] = []
    wasm = {"wasm::validate": recorder(ran), "wasm::execute": lambda d: {"output": 1}}
    env = harness.env(taint=["untrusted"], functions=wasm)
    message = await fails(harness, "tainted", "tool::code_exec", {"wat": "(module)"}, env)
    assert message.startswith("exec is blocked: this run has read untrusted content")
    assert ran == []
    assert await harness.call("tool::code_exec", {"wat": "(module)"}, harness.env(functions=wasm)) \
        == {"output": 1}


async def test_a_secret_in_code_or_its_input_is_refused(harness: Harness) -> None:
    env = harness.env(functions={"wasm::validate": lambda d: pytest.fail("validated")})
    await fails(harness, "tainted", "tool::code_exec", {"wat": "(module)", "input": {"k": AWS_KEY}},
                env)
    binary = base64.b64encode(b"\x00asm\x01\x00\x00\x00" + AWS_KEY.encode()).decode()
    message = await fails(harness, "tainted", "tool::code_exec", {"wasm": binary}, env)
    assert "secret (api_key)" in message and AWS_KEY not in message


async def test_the_record_taint_tags_hold_without_metadata(harness: Harness) -> None:
    record = {"tags": ["spawned", "taint:untrusted"], "capabilities": {"tools": ["tool::*"]}}
    env = harness.env(functions={"state::get": lambda d: record})
    assert await fails(harness, "tainted", "tool::shell_exec", {"argv": ["ls"]}, env) == UNTRUSTED


async def test_files_refuse_secrets_and_keep_personal_data(harness: Harness) -> None:
    message = await fails(harness, "tainted", "tool::file_write",
                          {"path": "keys.env", "content": f"AWS_ACCESS_KEY_ID={AWS_KEY}\n"})
    assert message == ("file is blocked: the file path or content contains a secret (api_key) "
                       "(labels: secret)")
    assert not (harness.workspace() / "keys.env").exists()
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow==\n-----END RSA PRIVATE KEY-----\n"
    await fails(harness, "tainted", "tool::file_write",
                {"path": "k.pem", "content": base64.b64encode(pem.encode()).decode(),
                 "encoding": "base64"})
    await harness.call("tool::file_write", {"path": "contacts.md", "content": "jane@example.org"})
    assert (harness.workspace() / "contacts.md").read_text() == "jane@example.org"
    # untrusted content may be written down; it just may not be executed
    await harness.call("tool::file_write", {"path": "page.md", "content": "web text"},
                       harness.env(taint=["untrusted"]))


async def test_an_oversized_write_is_refused_before_it_is_scanned(make: Callable[..., Harness]) -> None:
    h = make(files={"max_write_bytes": 10})
    env = h.env(functions={"taint::enforce": lambda d: pytest.fail("checked")})
    await fails(h, "too_large", "tool::file_write", {"path": "a", "content": "x" * 11}, env)


async def test_http_with_a_secret_makes_no_connection(make: Callable[..., Harness],
                                                      site: LocalSite) -> None:
    resolver = CountingResolver()
    h = tools(make, resolver)
    url = site.url("/echo", "site.test")
    for request in (
        {"method": "POST", "url": url, "body": f'{{"key": "{AWS_KEY}"}}'},
        {"method": "POST", "url": url, "body": "card 4111 1111 1111 1111"},
        {"url": url, "headers": {"Authorization": "Bearer abcDEF0123456789ghiJKL"}},
        {"url": url + "?token=Zx81kQ0pLm3vB7nR"},
        {"url": site.url("/echo", f"{AWS_KEY}.site.test")},  # not even a DNS lookup
    ):
        message = await fails(h, "tainted", "tool::http_request", request)
        assert message.startswith("http is blocked: the request contains")
    await fails(h, "tainted", "tool::web_fetch", {"url": url + "?to=jane@example.org"})
    assert site.requests == [] and resolver.lookups == 0
    answer = await h.call("tool::http_request", {"method": "POST", "url": url, "body": "hello"},
                          h.env(taint=["untrusted"]))  # untrusted does not block http
    assert answer["status"] == 200 and len(site.requests) == 1


async def test_a_run_holding_a_secret_sends_nothing(make: Callable[..., Harness],
                                                    site: LocalSite) -> None:
    h = tools(make)
    message = await fails(h, "tainted", "tool::web_fetch", {"url": site.url("/text")},
                          h.env(taint=["secret"]))
    assert message == "http is blocked: this run has handled secret data (labels: secret)"
    assert site.requests == []


async def test_search_queries_are_checked(make: Callable[..., Harness], site: LocalSite) -> None:
    h = tools(make, search={"provider": "brave", "api_key": "search-key",
                            "endpoint": site.url("/search")})
    await fails(h, "tainted", "tool::web_search", {"query": f"who owns {AWS_KEY}"})
    assert site.requests == []
    assert (await h.call("tool::web_search", {"query": "weather"}))["results"]


async def test_memory_and_agents_are_sinks_too(harness: Harness) -> None:
    stored: list[Any] = []
    chats: list[Any] = []
    env = harness.env(taint=["untrusted"], functions={
        "memory::store": recorder(stored), "agent::chat": recorder(chats, {"content": "ok"}),
        "agent::create": lambda d: {"agent_id": d["name"]}})
    await fails(harness, "tainted", "tool::memory_store", {"content": f"key {AWS_KEY}"}, env)
    await fails(harness, "tainted", "tool::agent_send", {"agent_id": "bob", "message": AWS_KEY}, env)
    await fails(harness, "tainted", "tool::agent_spawn",
                {"name": "helper", "system_prompt": f"use {AWS_KEY}"}, env)
    assert stored == [] and chats == []
    await harness.call("tool::memory_store", {"content": "jane@example.org likes tea"}, env)
    assert env.calls[-1].metadata == {"agent_id": "alice", "agent_depth": 0, "taint": ["untrusted"]}
    await harness.call("tool::agent_send", {"agent_id": "bob", "message": "hi"}, env)
    assert env.calls[-1].metadata == {"agent_depth": 1, "from_agent": "alice",
                                      "taint": ["untrusted"]}


async def test_a_spawned_agent_inherits_the_runs_taint(harness: Harness) -> None:
    created: list[Any] = []
    parent = {"tags": ["taint:pii"], "capabilities": {"tools": ["tool::*"]}}
    env = harness.env(taint=["untrusted"], functions={
        "state::get": lambda d: parent, "agent::create": recorder(created, {})})
    await harness.call("tool::agent_spawn", {"name": "helper"}, env)
    assert created[0]["overrides"]["tags"] == ["taint:pii", "taint:untrusted", "spawned",
                                               "depth:1", "parent:alice"]


async def test_the_security_worker_decides_when_registered(make: Callable[..., Harness]) -> None:
    h = tools(make)
    seen: list[Any] = []

    def enforce(data: Any) -> Any:
        seen.append(data)
        return {"allowed": True, "blocking_labels": [], "labels": [], "sink": data["sink"]}

    env = h.env(taint=["pii"], functions={"taint::enforce": enforce})
    await h.call("tool::shell_exec", {"argv": ["touch", "a b"], "cwd": "."}, env)
    assert seen == [{"sink": "shell", "labels": ["pii"], "text": "touch a b\n."}]
    assert (h.workspace() / "a b").exists()

    def refuse(data: Any) -> Any:
        raise InvocationError("forbidden", "untrusted data may not reach the shell sink")

    env = h.env(functions={"taint::enforce": refuse})
    # the policy here sees nothing: the worker's word stands, and its reason is passed on
    assert await fails(h, "tainted", "tool::shell_exec", {"argv": ["touch", "no"]}, env) == \
        "shell is blocked by the taint policy: untrusted data may not reach the shell sink"
    assert not (h.workspace() / "no").exists()


@pytest.mark.parametrize("answer", [
    InvocationError("invocation_failed", "boom"), InvocationError("invalid_arguments", "bad"),
    None, {"allowed": False}, {"allowed": "yes"}, ["allowed"],
])
async def test_a_failing_security_worker_refuses(make: Callable[..., Harness], answer: Any) -> None:
    h = tools(make)

    def enforce(data: Any) -> Any:
        if isinstance(answer, Exception):
            raise answer
        return answer

    env = h.env(functions={"taint::enforce": enforce})
    message = await fails(h, "forbidden", "tool::shell_exec", {"argv": ["touch", "x"]}, env)
    assert "refused" in message
    assert not (h.workspace() / "x").exists()


async def test_a_hanging_security_worker_refuses(make: Callable[..., Harness]) -> None:
    h = tools(make, call_timeout_s=0.05)
    never = anyio.Event()

    async def enforce(data: Any) -> Any:
        await never.wait()

    env = h.env(functions={"taint::enforce": enforce})
    assert await fails(h, "forbidden", "tool::shell_exec", {"argv": ["touch", "x"]}, env) == \
        "the taint check timed out; shell refused"
    assert not (h.workspace() / "x").exists()


async def test_unknown_labels_block_without_asking(harness: Harness) -> None:
    env = harness.env(taint=["radioactive"],
                      functions={"taint::enforce": lambda d: pytest.fail("asked")})
    message = await fails(harness, "tainted", "tool::file_write", {"path": "a", "content": "b"}, env)
    assert "unknown taint label 'radioactive'" in message


async def test_logs_never_carry_the_secret(make: Callable[..., Harness], site: LocalSite,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    h = tools(make)
    await fails(h, "tainted", "tool::http_request",
                {"method": "POST", "url": site.url("/echo"), "body": AWS_KEY})
    env = h.env(functions={"taint::enforce": lambda d: {"allowed": False, "echo": AWS_KEY}})
    await fails(h, "forbidden", "tool::file_write", {"path": "a", "content": "b"}, env)
    env = h.env(functions={"security::check_capability": lambda d: {"allowed": AWS_KEY}})
    await fails(h, "forbidden", "tool::memory_recall", {"query": "q", "scope": AWS_KEY}, env)
    assert "tainted: agent alice, sink http" in caplog.text
    assert AWS_KEY not in caplog.text and "REDACTED:api_key" in caplog.text


def test_web_tools_declare_untrusted_output_and_sinks_declare_themselves(harness: Harness) -> None:
    metadata = {fid: dict(f.metadata or {}) for fid, f in harness.fns.items()}
    assert {m.pop("min_role") for m in metadata.values()} == {"worker"}  # clients may not call tools
    for fid in ("tool::web_fetch", "tool::http_request", "tool::web_search"):
        assert metadata[fid] == {"taint_sink": "http", "output_taint": ["untrusted"]}
    assert metadata["tool::shell_exec"] == {"taint_sink": "shell"}
    assert metadata["tool::code_exec"] == {"taint_sink": "exec"}
    assert metadata["tool::file_write"] == metadata["tool::memory_store"] == {"taint_sink": "file"}
    assert metadata["tool::agent_send"] == metadata["tool::agent_spawn"] == {"taint_sink": "llm"}
    for fid in ("tool::file_read", "tool::file_list", "tool::memory_recall"):
        assert metadata[fid] == {}

