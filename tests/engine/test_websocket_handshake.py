"""The sans-I/O opening handshake (engine.ws_handshake): no socket, no event loop."""

from __future__ import annotations

import pytest

from engine.ws_handshake import Handshake

REQUEST = (b"GET /path?x=1 HTTP/1.1\r\nHost: bus\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")


def upgrade(*headers: bytes) -> bytes:
    return REQUEST + b"".join(h + b"\r\n" for h in headers) + b"\r\n"


def test_a_request_read_in_pieces_is_returned_once_complete_with_what_followed_it() -> None:
    handshake = Handshake(["agentos.msgpack"])
    data = upgrade() + b"\x81\x82frame"
    for n in range(0, len(REQUEST), 7):  # all but the blank line that ends the request
        assert handshake.receive_data(data[n:min(n + 7, len(REQUEST))]) is None
    request = handshake.receive_data(data[len(REQUEST):])
    assert request is not None and request.path == "/path?x=1"
    assert handshake.leftover() == b"\x81\x82frame"
    assert handshake.leftover() == b""  # taken once


@pytest.mark.parametrize(("offered", "agreed"), [
    (b"Sec-WebSocket-Protocol: agentos.msgpack", "agentos.msgpack"),
    (b"Sec-WebSocket-Protocol: other, agentos.msgpack", "agentos.msgpack"),
    (b"Sec-WebSocket-Protocol: other", None),
    (None, None),  # iii SDKs offer nothing and get JSON
])
def test_accept_answers_101_with_our_subprotocol_when_offered(offered: bytes | None, agreed: str | None) -> None:
    handshake = Handshake(["agentos.msgpack"])
    request = handshake.receive_data(upgrade(*([offered] if offered else [])))
    assert request is not None
    response = handshake.accept(request)
    assert response.status_code == 101
    assert handshake.subprotocol == agreed
    assert response.headers.get("Sec-WebSocket-Protocol") == agreed


def test_accept_answers_a_bad_upgrade_with_websockets_error_response() -> None:
    handshake = Handshake([])
    request = handshake.receive_data(b"GET / HTTP/1.1\r\nHost: bus\r\n\r\n")  # no Upgrade header
    assert request is not None
    assert handshake.accept(request).status_code == 426
    assert handshake.subprotocol is None


def test_reject_is_a_plain_text_error() -> None:
    response = Handshake([]).reject(404, "not found\n")
    assert response.status_code == 404 and response.body == b"not found\n"


@pytest.mark.parametrize("garbage", [
    b"\x16\x03\x01 not http at all\r\n\r\n",
    b"GET / HTTP/1.1\r\nnot a header\r\n\r\n",
    b"GET / HTTP/1.1\r\n" + b"X-Long: " + b"x" * 9000 + b"\r\n\r\n",
])
def test_a_malformed_request_raises(garbage: bytes) -> None:
    with pytest.raises(Exception):  # noqa: B017 - websockets' own classes; the shell just hangs up
        Handshake([]).receive_data(garbage)
