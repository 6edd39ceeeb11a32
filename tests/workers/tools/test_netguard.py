"""The SSRF guard: refused ranges, IPv6 forms carrying IPv4, names resolved before judging."""

from __future__ import annotations

import ipaddress

import pytest

from workers.tools.errors import FetchFailed, UrlForbidden
from workers.tools.netguard import (
    StaticResolver,
    SystemResolver,
    blocked_reason,
    parse_networks,
    resolve_target,
)

pytestmark = pytest.mark.anyio

REFUSED = [
    "127.0.0.1", "127.255.255.254", "0.0.0.0", "10.1.2.3", "172.16.0.1", "172.31.255.255",
    "192.168.1.1", "169.254.169.254", "169.254.0.1", "100.64.0.1", "224.0.0.1", "255.255.255.255",
    "198.18.0.1", "192.0.2.1", "::", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "ff02::1",
    "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", "64:ff9b::7f00:1",
    "2002:7f00:1::", "::7f00:1", "2001:db8::1",
]
ALLOWED = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", REFUSED)
def test_refused_addresses(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None


def test_mapped_addresses_name_the_ipv4_inside() -> None:
    why = blocked_reason(ipaddress.ip_address("::ffff:169.254.169.254"))
    assert why is not None and "169.254.169.254" in why and "metadata" in why


def test_allow_private_exempts_exactly_its_networks() -> None:
    allow = parse_networks(["127.0.0.1/32"])
    assert blocked_reason(ipaddress.ip_address("127.0.0.1"), allow) is None
    # an exemption is for the address as written: the IPv6 spelling of it stays refused
    assert blocked_reason(ipaddress.ip_address("::ffff:127.0.0.1"), allow) is not None
    assert blocked_reason(ipaddress.ip_address("127.0.0.2"), allow) is not None
    assert blocked_reason(ipaddress.ip_address("::1"), allow) is not None


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://169.254.169.254/latest/meta-data/", "http://[::1]:8080/",
    "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/", "https://10.0.0.1/", "http://0.0.0.0/",
])
async def test_literal_addresses_are_judged_without_dns(url: str) -> None:
    with pytest.raises(UrlForbidden):
        await resolve_target(url, StaticResolver({}))


async def test_a_name_resolving_to_a_private_address_is_refused() -> None:
    resolver = StaticResolver({"intranet.test": ["10.0.0.5"], "mixed.test": ["93.184.216.34", "127.0.0.1"],
                               "public.test": ["93.184.216.34"]})
    with pytest.raises(UrlForbidden, match="10.0.0.5"):
        await resolve_target("http://intranet.test/", resolver)
    with pytest.raises(UrlForbidden, match="127.0.0.1"):  # one bad answer among good ones
        await resolve_target("http://mixed.test/", resolver)
    target = await resolve_target("https://Public.Test./path?q=1", resolver)
    assert (target.host, target.port, str(target.ip)) == ("public.test", 443, "93.184.216.34")
    assert str(target.pinned_url()) == "https://93.184.216.34/path?q=1"
    assert target.host_header() == "public.test"


@pytest.mark.parametrize("url", ["http://localhost/", "http://2130706433/", "http://0x7f.1/",
                                 "http://127.1/", "http://localhost./"])
async def test_the_system_resolver_sees_through_spellings_of_loopback(url: str) -> None:
    with pytest.raises(UrlForbidden):
        await resolve_target(url, SystemResolver())


@pytest.mark.parametrize(("url", "fragment"), [
    ("file:///etc/passwd", "only http and https"), ("gopher://x/", "only http and https"),
    ("http://user:pw@public.test/", "credentials"), ("http:///nohost", "no host"),
    ("ftp://public.test/", "only http and https"),
])
async def test_bad_urls(url: str, fragment: str) -> None:
    with pytest.raises(UrlForbidden, match=fragment):
        await resolve_target(url, StaticResolver({"public.test": ["93.184.216.34"]}))


async def test_unresolvable_names_fail_to_fetch() -> None:
    with pytest.raises(FetchFailed):
        await resolve_target("http://nowhere.test/", StaticResolver({}))


async def test_host_header_keeps_a_non_default_port_and_brackets() -> None:
    resolver = StaticResolver({"public.test": ["2606:4700:4700::1111"]})
    target = await resolve_target("http://public.test:8080/", resolver)
    assert target.host_header() == "public.test:8080"
    assert str(target.pinned_url()) == "http://[2606:4700:4700::1111]:8080/"
