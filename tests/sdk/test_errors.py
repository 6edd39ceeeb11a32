from __future__ import annotations

import pytest

from workers.sdk import (
    AuthenticationError,
    ConnectionLost,
    DefinitionError,
    FunctionNotFound,
    InvalidState,
    InvocationError,
    InvocationStopped,
    InvocationTimeout,
    NoContextError,
    RegistrationRejectedError,
    SdkError,
)


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("timeout", InvocationTimeout),
        ("invocation_stopped", InvocationStopped),
        ("function_not_found", FunctionNotFound),
        ("connection_lost", ConnectionLost),
        ("invocation_failed", InvocationError),
        ("VALUE_TOO_LARGE", InvocationError),
    ],
)
def test_from_wire_picks_the_most_specific_class(code: str, cls: type[InvocationError]) -> None:
    err = InvocationError.from_wire(code, "boom", "Traceback…", "a::b", "id-1")
    assert type(err) is cls
    assert (err.code, err.message, err.stacktrace, err.function_id, err.invocation_id) == (
        code,
        "boom",
        "Traceback…",
        "a::b",
        "id-1",
    )
    assert str(err) == f"{code}: boom"


def test_coded_subclasses_fix_their_code() -> None:
    assert InvocationTimeout("late").code == "timeout"
    assert FunctionNotFound("nope", function_id="x::y").function_id == "x::y"


def test_one_root_and_misuse_branches() -> None:
    for cls in (
        InvocationError,
        AuthenticationError,
        RegistrationRejectedError,
        DefinitionError,
        InvalidState,
    ):
        assert issubclass(cls, SdkError)
    assert issubclass(DefinitionError, ValueError)
    assert issubclass(InvalidState, RuntimeError)
    assert issubclass(NoContextError, RuntimeError)


def test_structured_fields() -> None:
    auth = AuthenticationError("unauthorized", "bad token")
    assert (auth.code, auth.message) == ("unauthorized", "bad token")
    rej = RegistrationRejectedError(
        "WORKER_NAMESPACE_CONFLICT", "default", worker_name="w", owner_worker_id="o"
    )
    assert rej.worker_name == "w" and "WORKER_NAMESPACE_CONFLICT" in str(rej)
