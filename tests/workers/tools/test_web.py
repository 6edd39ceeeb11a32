"""web_fetch / http_request / web_search against a real local site.

Loopback is refused by default, so every positive test allows it explicitly
(``net.allow_private``) — and names come from a StaticResolver (a hosts table), never from
patching the resolver."""

from __future__ import annotations

import base64
import ipaddress
import json
from collections.abc import Callable
from typing import Any

import pytest

from workers.sdk import InvocationError
from workers.tools import StaticResolver
from workers.tools.netguard import IPAddress

from .conftest import Harness
from .site import SEARCH_TOKEN, LocalSite

pytestmark = pytest.mark.anyio

HOSTS = StaticResolver({"site.test": ["127.0.0.1"], "other.test": ["127.0.0.1"], "localhost": ["127.0.0.1", "::1"],
                        "intranet.test": ["10.0.0.7"], "metadata.test": ["169.254.169.254"]})


def local(make: Callable[..., Harness], resolver: Any = HOSTS, **net: Any) -> Harness:
    """Loopback explicitly allowed, and the test names allowed as hosts."""
    settings = {"allow_private": ["127.0.0.1/32"], "default_hosts": ["127.0.0.1", "site.test"], **net}
    return make(resolver, net=settings)


async def fails(h: Harness, code: str, function_id: str, data: Any, env: Any = None) -> str:
    with pytest.raises(InvocationError) as caught:
        await h.call(function_id, data, env)
    assert caught.value.code == code, caught.value
    return caught.value.message


async def test_loopback_is_refused_unless_explicitly_allowed(make: Callable[..., Harness],
                                                             site: LocalSite) -> None:
    h = make(HOSTS, net={"default_hosts": ["*"]})
    for url in (site.url("/page"), site.url("/page", "localhost"), site.url("/page", "site.test"),
                site.url("/page", "[::1]"), site.url("/page", "[::ffff:127.0.0.1]")):
        await fails(h, "ssrf_blocked", "tool::web_fetch", {"url": url})
    for url in ("http://169.254.169.254/latest/meta-data/", "http://intranet.test/",
                "http://metadata.test/", "http://[fd00::1]/"):
        await fails(h, "ssrf_blocked", "tool::web_fetch", {"url": url})
    assert site.requests == []


async def test_an_allowed_fetch_turns_html_into_text(make: Callable[..., Harness],
                                                    site: LocalSite) -> None:
    h = local(make)
    page = await h.call("tool::web_fetch", {"url": site.url("/page")})
    assert page["status"] == 200 and page["content_type"] == "text/html"
    assert "Hello" in page["content"] and "link (https://example.org/x)" in page["content"]
    assert "alert" not in page["content"] and "color" not in page["content"]
    raw = await h.call("tool::web_fetch", {"url": site.url("/page"), "raw": True})
    assert raw["content"].startswith("<html>")
    binary = await h.call("tool::web_fetch", {"url": site.url("/binary")})
    assert binary["encoding"] == "base64" and base64.b64decode(binary["content"]) == bytes(range(256))


async def test_the_checked_address_is_dialled_with_the_name_as_host(make: Callable[..., Harness],
                                                                    site: LocalSite) -> None:
    h = local(make)
    echo = await h.call("tool::http_request", {"url": site.url("/echo", "site.test")})
    assert json.loads(echo["body"])["host"] == f"site.test:{site.port}"


class Rebinding:
    """A resolver whose answer changes after the first query, as a rebinding attacker's does."""

    def __init__(self, first: str, then: str) -> None:
        self.answers = [ipaddress.ip_address(first), ipaddress.ip_address(then)]
        self.calls = 0

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        self.calls += 1
        return [self.answers[min(self.calls - 1, 1)]]


async def test_dns_rebinding_cannot_swap_the_address(make: Callable[..., Harness],
                                                     site: LocalSite) -> None:
    resolver = Rebinding("127.0.0.1", "10.0.0.1")
    h = local(make, resolver, default_hosts=["rebind.test", "127.0.0.1"])
    got = await h.call("tool::web_fetch", {"url": site.url("/text", "rebind.test")})
    assert got["content"] == "just text"
    assert resolver.calls == 1  # resolved once, checked, and that address was dialled
    # a redirect is a new hop: resolved and checked again, and now the answer is private
    to = site.url("/text", "rebind.test")
    message = await fails(h, "ssrf_blocked", "tool::web_fetch",
                          {"url": site.url(f"/redirect?to={to}", "127.0.0.1")})
    assert "10.0.0.1" in message


@pytest.mark.parametrize("target", [
    "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://intranet.test/admin",
    "http://[::ffff:169.254.169.254]/", "http://localhost/",
])
async def test_redirects_to_private_addresses_are_refused(make: Callable[..., Harness],
                                                          site: LocalSite, target: str) -> None:
    h = local(make, default_hosts=["*"])
    await fails(h, "ssrf_blocked", "tool::web_fetch", {"url": site.url(f"/redirect?to={target}")})
    assert [r.path for r in site.requests] == ["/redirect"]


async def test_redirects_are_followed_and_bounded(make: Callable[..., Harness],
                                                  site: LocalSite) -> None:
    h = local(make, max_redirects=3)
    got = await h.call("tool::web_fetch", {"url": site.url("/redirect?to=/text")})
    assert got["final_url"] == site.url("/text") and got["redirects"] == [site.url("/text")]
    await fails(h, "too_many_redirects", "tool::web_fetch", {"url": site.url("/loop")})
    assert [r.path for r in site.requests].count("/loop") == 4
    kept = await h.call("tool::http_request", {"url": site.url("/redirect?to=/text"),
                                               "follow_redirects": False})
    assert kept["status"] == 302 and kept["headers"]["location"] == "/text"


async def test_each_hop_needs_the_network_capability(make: Callable[..., Harness],
                                                     site: LocalSite) -> None:
    h = local(make, default_hosts=["site.test"])
    await h.call("tool::web_fetch", {"url": site.url("/text", "site.test")})
    to = site.url("/text", "other.test")
    message = await fails(h, "forbidden", "tool::web_fetch",
                          {"url": site.url(f"/redirect?to={to}", "site.test")})
    assert "other.test" in message
    await fails(h, "forbidden", "tool::web_fetch", {"url": site.url("/text", "other.test")})


async def test_the_agent_record_and_the_security_worker_decide_hosts(
        make: Callable[..., Harness], site: LocalSite) -> None:
    h = local(make, default_hosts=[])
    url = site.url("/text", "site.test")
    record = {"capabilities": {"tools": ["tool::*"], "network_hosts": ["*.test"]}}
    assert (await h.call("tool::web_fetch", {"url": url},
                         h.env(functions={"state::get": lambda d: record})))["status"] == 200
    await fails(h, "forbidden", "tool::web_fetch", {"url": url})  # no record: default_hosts
    seen: list[Any] = []

    def security(data: Any) -> Any:
        seen.append(data)
        return {"allowed": data["capability"] == "tool", "reason": "no network for you"}

    message = await fails(h, "forbidden", "tool::web_fetch", {"url": url},
                          h.env(functions={"security::check_capability": security}))
    assert message == "no network for you"
    assert seen[-1] == {"agent_id": "alice", "capability": "network", "resource": "site.test"}


async def test_method_and_body_across_redirects(make: Callable[..., Harness], site: LocalSite) -> None:
    h = local(make)
    see_other = await h.call("tool::http_request", {
        "method": "POST", "url": site.url("/redirect?to=/echo&status=303"), "body": "payload"})
    assert json.loads(see_other["body"])["method"] == "GET"
    assert json.loads(see_other["body"])["body"] == ""
    temporary = await h.call("tool::http_request", {
        "method": "POST", "url": site.url("/redirect?to=/echo&status=307"), "body": "payload"})
    assert json.loads(temporary["body"])["method"] == "POST"
    assert json.loads(temporary["body"])["body"] == "payload"


async def test_credentials_do_not_follow_a_redirect_to_another_origin(
        make: Callable[..., Harness], site: LocalSite) -> None:
    h = local(make, default_hosts=["site.test", "127.0.0.1"])
    headers = {"Authorization": "Bearer secret", "X-Custom": "kept", "Host": "evil.example"}
    same = await h.call("tool::http_request", {"url": site.url("/redirect?to=/echo"),
                                               "headers": headers})
    echoed = json.loads(same["body"])
    assert echoed["headers"]["authorization"] == "Bearer secret"
    assert echoed["host"] == f"127.0.0.1:{site.port}"  # our Host, not the caller's
    other = site.url("/echo", "site.test")
    moved = await h.call("tool::http_request", {"url": site.url(f"/redirect?to={other}"),
                                                "headers": headers})
    echoed = json.loads(moved["body"])
    assert "authorization" not in echoed["headers"] and echoed["headers"]["x-custom"] == "kept"


async def test_size_and_time_caps(make: Callable[..., Harness], site: LocalSite) -> None:
    h = local(make, timeout_s=0.3, max_bytes=10_000)
    got = await h.call("tool::web_fetch", {"url": site.url("/big?n=100000"), "max_bytes": 1000})
    assert got["truncated"] is True and len(got["content"]) == 1000
    await fails(h, "invalid_arguments", "tool::web_fetch", {"url": site.url("/big"),
                                                            "max_bytes": 10**9})
    await fails(h, "timeout", "tool::web_fetch", {"url": site.url("/hang")})
    assert site.hang_started.is_set()


async def test_request_bodies(make: Callable[..., Harness], site: LocalSite) -> None:
    h = local(make)
    sent = await h.call("tool::http_request", {
        "method": "PUT", "url": site.url("/echo"), "body_encoding": "base64",
        "body": base64.b64encode(b"raw bytes").decode()})
    assert json.loads(sent["body"])["body"] == "raw bytes"
    await fails(h, "invalid_arguments", "tool::http_request",
                {"method": "TRACE", "url": site.url("/echo")})


async def test_web_search_needs_a_provider(make: Callable[..., Harness], site: LocalSite) -> None:
    await fails(make(), "not_configured", "tool::web_search", {"query": "wasm"})
    settings = {"provider": "brave", "api_key": SEARCH_TOKEN, "endpoint": site.url("/search")}
    h = make(net={"allow_private": ["127.0.0.1/32"]}, search=settings)
    found = await h.call("tool::web_search", {"query": "wasm", "count": 1})
    assert found == {"query": "wasm", "results": [
        {"title": "About wasm", "url": "https://example.org/a", "description": "first"}]}
    wrong = make(net={"allow_private": ["127.0.0.1/32"]}, search={**settings, "api_key": "nope"})
    await fails(wrong, "fetch_failed", "tool::web_search", {"query": "wasm"})
