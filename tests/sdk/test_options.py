from __future__ import annotations

import os

import pytest

from workers.sdk import Backoff, DefinitionError, Worker
from workers.sdk.options import resolve_options, sdk_version

W = [Worker("alpha", description="A"), Worker("beta")]


def test_defaults() -> None:
    opts = resolve_options(None, workers=W, env={})
    assert opts.url == "ws://127.0.0.1:49134"
    assert opts.token is None and opts.name == "alpha+beta" and opts.description == "A"
    assert opts.codec == "msgpack" and opts.default_timeout == 30.0
    assert opts.reconnect == Backoff(initial=0.1, maximum=5.0, jitter=0.3)


@pytest.mark.parametrize(
    ("env", "url", "token"),
    [
        ({"AGENTOS_URL": "ws://a:1", "III_URL": "ws://b:2"}, "ws://a:1", None),
        ({"III_URL": "ws://b:2", "III_TOKEN": "t3"}, "ws://b:2", "t3"),
        ({"AGENTOS_TOKEN": "t1", "III_TOKEN": "t3"}, "ws://127.0.0.1:49134", "t1"),
    ],
)
def test_environment_fallbacks(env: dict[str, str], url: str, token: str | None) -> None:
    opts = resolve_options(None, workers=W, env=env)
    assert (opts.url, opts.token) == (url, token)


def test_arguments_beat_the_environment() -> None:
    opts = resolve_options(
        "ws://x:9",
        workers=W,
        token="arg",
        name="n",
        env={"AGENTOS_URL": "ws://a:1", "AGENTOS_TOKEN": "e"},
    )
    assert (opts.url, opts.token, opts.name) == ("ws://x:9", "arg", "n")


def test_the_token_is_not_in_the_repr() -> None:
    assert "s3cret" not in repr(resolve_options(None, workers=W, token="s3cret", env={}))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"url": "http://x"},
        {"codec": "xml"},
        {"default_timeout": 0},
        {"max_in_flight": 0},
        {"namespace": " "},
        {"workers": []},
    ],
)
def test_bad_options_raise(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"url": None, "workers": W, "env": {}} | kwargs
    with pytest.raises(DefinitionError):
        resolve_options(**args)  # type: ignore[arg-type]


def test_registration_payload() -> None:
    payload = resolve_options(None, workers=W, namespace="ns", env={}).registration()
    assert payload == {
        "runtime": "python",
        "version": sdk_version(),
        "name": "alpha+beta",
        "os": payload["os"],
        "pid": os.getpid(),
        "namespace": "ns",
        "description": "A",
        "features": [],
        "sdk": "agentos",
    }
