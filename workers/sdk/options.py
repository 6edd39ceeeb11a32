"""How to connect: one frozen value object, resolved once from arguments and the environment."""

from __future__ import annotations

import functools
import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any, get_args

from websockets.exceptions import InvalidURI
from websockets.uri import parse_uri

from .backoff import DEFAULT_RECONNECT, Backoff
from .errors import DefinitionError
from .types import DEFAULT_URL, Codec
from .worker import Worker

__all__ = ["ConnectOptions", "resolve_options", "sdk_version", "tracing_enabled", "TRACING_ENV"]

_URL_ENV = ("AGENTOS_URL", "III_URL")
_TOKEN_ENV = ("AGENTOS_TOKEN", "III_TOKEN")


@functools.cache
def sdk_version() -> str:
    """The installed ``agentos`` version (reported to the engine)."""
    try:
        return version("agentos")
    except PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True, slots=True)
class ConnectOptions:
    """Everything a :class:`~workers.sdk.Connection` needs to know, already validated.

    Build it with :func:`resolve_options` (what ``connect()`` does).
    """

    url: str
    name: str
    token: str | None = field(default=None, repr=False)
    namespace: str | None = None
    codec: Codec = "msgpack"
    reconnect: Backoff = DEFAULT_RECONNECT
    default_timeout: float = 30.0
    max_in_flight: int = 1000
    description: str | None = None
    tracing: bool = False
    """Trace handled invocations to the engine's ``/otel`` (see :mod:`workers.sdk.telemetry`)."""

    def registration(self) -> dict[str, Any]:
        """The payload of the opening ``engine::workers::register`` call."""
        return {
            "runtime": "python",
            "version": sdk_version(),
            "name": self.name,
            "os": f"{platform.system()} {platform.release()} ({platform.machine()})",
            "pid": os.getpid(),
            "namespace": self.namespace,
            "description": self.description,
            "features": [],
            "sdk": "agentos",
        }


def _first_env(env: Mapping[str, str], names: Sequence[str]) -> str | None:
    for name in names:
        value = env.get(name)
        if value:
            return value
    return None


def resolve_options(
    url: str | None,
    *,
    workers: Sequence[Worker],
    name: str | None = None,
    token: str | None = None,
    namespace: str | None = None,
    codec: Codec = "msgpack",
    reconnect: Backoff = DEFAULT_RECONNECT,
    default_timeout: float = 30.0,
    max_in_flight: int = 1000,
    tracing: bool | None = None,
    env: Mapping[str, str] | None = None,
) -> ConnectOptions:
    """Fill defaults from the environment and check everything once.

    ``url`` falls back to ``AGENTOS_URL`` then ``III_URL`` then ``ws://127.0.0.1:49134``;
    ``token`` to ``AGENTOS_TOKEN`` then ``III_TOKEN``; ``name`` to the workers' names joined with
    ``+``; ``tracing`` to ``AGENTOS_TRACING`` (off), and ``OTEL_ENABLED=false`` turns it off.

    Raises:
        DefinitionError: a bad URL, codec, timeout, namespace or ``max_in_flight``, or no workers
            and no name.
    """
    env = os.environ if env is None else env
    url = url or _first_env(env, _URL_ENV) or DEFAULT_URL
    try:
        parse_uri(url)
    except InvalidURI as exc:
        raise DefinitionError(f"not a ws:// or wss:// URL: {url!r}") from exc
    if codec not in get_args(Codec):
        raise DefinitionError(f"codec must be 'msgpack' or 'json', got {codec!r}")
    if not default_timeout > 0:
        raise DefinitionError(f"default_timeout must be > 0, got {default_timeout!r}")
    if max_in_flight < 1:
        raise DefinitionError(f"max_in_flight must be >= 1, got {max_in_flight!r}")
    if namespace is not None and (not namespace.strip() or namespace != namespace.strip()):
        raise DefinitionError(f"namespace must be a non-blank name, got {namespace!r}")
    name = name or "+".join(w.name for w in workers)
    if not name:
        raise DefinitionError("connect() needs at least one worker or a name")
    descriptions = [w.description for w in workers if w.description]
    return ConnectOptions(
        url=url,
        name=name,
        token=token or _first_env(env, _TOKEN_ENV),
        namespace=namespace,
        codec=codec,
        reconnect=reconnect,
        default_timeout=default_timeout,
        max_in_flight=max_in_flight,
        description="; ".join(descriptions) or None,
        tracing=tracing_enabled(tracing, env),
    )


TRACING_ENV = "AGENTOS_TRACING"


def tracing_enabled(explicit: bool | None = None, env: Mapping[str, str] | None = None) -> bool:
    """Whether a connection traces its handlers (:mod:`workers.sdk.telemetry`):
    ``OTEL_ENABLED=false`` wins, then ``explicit``, then ``AGENTOS_TRACING`` (off by default)."""
    env = os.environ if env is None else env
    if env.get("OTEL_ENABLED", "").strip().lower() in ("0", "false", "no", "off"):
        return False
    if explicit is not None:
        return explicit
    return env.get(TRACING_ENV, "").strip().lower() in ("1", "true", "yes", "on")
