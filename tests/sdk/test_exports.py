"""The public surface of workers.sdk is pinned: a change here is an API change."""

from __future__ import annotations

import workers.sdk
import workers.sdk.testing

EXPECTED = {
    "function",
    "FunctionDef",
    "Worker",
    "TriggerBinding",
    "TriggerTypeDef",
    "TriggerTypeProvider",
    "TriggerConfig",
    "connect",
    "Connection",
    "ConnectOptions",
    "ConnectionState",
    "ConnectionStatistics",
    "Backoff",
    "Binding",
    "run",
    "serve",
    "open_channel",
    "channel_from_ref",
    "ChannelReader",
    "ChannelWriter",
    "ChannelError",
    "http_response",
    "Context",
    "current_context",
    "Call",
    "SdkError",
    "InvocationError",
    "InvocationTimeout",
    "InvocationStopped",
    "FunctionNotFound",
    "ConnectionLost",
    "AuthenticationError",
    "RegistrationRejectedError",
    "DefinitionError",
    "InvalidState",
    "NoContextError",
}


def test_all_is_pinned() -> None:
    assert set(workers.sdk.__all__) == EXPECTED
    assert len(workers.sdk.__all__) == len(EXPECTED)


def test_every_export_resolves() -> None:
    for name in workers.sdk.__all__:
        assert getattr(workers.sdk, name) is not None, name


def test_testing_harness_is_separate() -> None:
    assert workers.sdk.testing.__all__ == ["FunctionEnvironment"]
    assert "FunctionEnvironment" not in workers.sdk.__all__
