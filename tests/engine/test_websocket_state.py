"""The socket lifecycle (engine.ws_state): the transition table and the error a closed socket raises."""

from __future__ import annotations

import itertools

import pytest
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK
from websockets.frames import Close

from engine.errors import InvalidState
from engine.ws_state import TRANSITIONS, State, advance, close_error

S = State
LEGAL = {(S.CONNECTING, S.OPEN), (S.CONNECTING, S.CLOSED), (S.OPEN, S.CLOSING), (S.OPEN, S.CLOSED),
         (S.CLOSING, S.CLOSED)}


@pytest.mark.parametrize(("current", "new"), list(itertools.product(State, State)))
def test_only_the_lifecycle_steps_are_legal(current: State, new: State) -> None:
    assert ((current, new) in LEGAL) == (new in TRANSITIONS[current])
    if (current, new) in LEGAL:
        assert advance(current, new) is new
    else:
        with pytest.raises(InvalidState, match=f"{current.value} -> {new.value}"):
            advance(current, new)


OK, AWAY, NONE, BAD = Close(1000, ""), Close(1001, "bye"), Close(1005, ""), Close(1011, "oops")


@pytest.mark.parametrize(("rcvd", "sent", "rcvd_then_sent", "kind", "order"), [
    (OK, OK, True, ConnectionClosedOK, True),
    (AWAY, NONE, False, ConnectionClosedOK, False),
    (OK, BAD, True, ConnectionClosedError, True),
    (BAD, OK, False, ConnectionClosedError, False),
    (None, OK, None, ConnectionClosedError, None),  # the peer never answered
    (OK, None, True, ConnectionClosedError, None),  # the order is only known once both went
    (None, None, None, ConnectionClosedError, None),  # the TCP connection just dropped
])
def test_close_error_is_ok_only_when_both_sides_closed_normally(
        rcvd: Close | None, sent: Close | None, rcvd_then_sent: bool | None,
        kind: type[Exception], order: bool | None) -> None:
    exc = close_error(rcvd, sent, rcvd_then_sent)
    assert type(exc) is kind
    assert (exc.rcvd, exc.sent, exc.rcvd_then_sent) == (rcvd, sent, order)
