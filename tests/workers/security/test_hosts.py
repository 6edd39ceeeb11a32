"""Network host capabilities, pure: exact names, wildcards, IP literals in any spelling."""

from __future__ import annotations

import pytest

from workers.security.hosts import host_decision, ip_literal, parse_host

PATTERNS = ["api.example.com", "*.corp.example", "203.0.113.7", "10.0.0.0/8", "bücher.example"]


@pytest.mark.parametrize(("resource", "allowed"), [
    ("api.example.com", True),
    ("API.Example.COM.", True),
    ("https://api.example.com:8443/v1/x?y=1", True),
    ("api.example.com:443", True),
    ("example.com", False),
    ("evil-api.example.com", False),
    ("api.example.com.evil.net", False),
    ("a.corp.example", True),
    ("a.b.corp.example", True),
    ("corp.example", False),
    ("xcorp.example", False),
    ("203.0.113.7", True),
    ("http://203.0.113.7/", True),
    ("203.0.113.8", False),
    ("10.1.2.3", True),
    ("http://10.255.0.1:9000", True),
    ("11.0.0.1", False),
    ("xn--bcher-kva.example", True),
    ("bücher.example", True),
    ("", False),
    ("http://", False),
    ("bad host name", False),
])
def test_patterns(resource: str, allowed: bool) -> None:
    assert host_decision(resource, PATTERNS)[0] is allowed


@pytest.mark.parametrize("resource", [
    "127.0.0.1", "127.1", "0x7f000001", "2130706433", "017700000001", "[::1]",
    "http://[::1]:8080/", "169.254.169.254", "http://169.254.169.254/latest/meta-data", "0.0.0.0",
])
def test_a_star_grant_never_opens_ip_literals(resource: str) -> None:
    allowed, reason = host_decision(resource, ["*"])
    assert not allowed and "IP literal" in reason


def test_star_admits_names_and_listing_admits_addresses() -> None:
    assert host_decision("anything.example.org", ["*"])[0]
    assert host_decision("127.0.0.1", ["127.0.0.1"])[0]
    assert host_decision("127.1", ["127.0.0.1"])[0]  # the same address, spelled differently
    assert host_decision("[::1]", ["::1"])[0]
    assert not host_decision("localhost", [])[0]


def test_parsing() -> None:
    assert parse_host("HTTPS://User@Host.Example:1/x") == "host.example"
    assert ip_literal("0x7f.1") is not None and str(ip_literal("0x7f.1")) == "127.0.0.1"
    assert ip_literal("example.com") is None
    with pytest.raises(ValueError):
        parse_host("  ")
