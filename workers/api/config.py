"""The api worker's settings: one validated :class:`ApiConfig`, read once at start.

From the environment (:meth:`ApiConfig.from_env`):

* ``AGENTOS_API_RATE_LIMIT`` — requests per minute per API key (default 600; ``0`` turns the
  limit off). The limit is kept in this api process (see :mod:`workers.api.ratelimit`).
* ``AGENTOS_API_RATE_BURST`` — the bucket size (default: the per-minute figure).
* ``AGENTOS_API_LLM_TIMEOUT_S`` / ``AGENTOS_API_AGENT_TIMEOUT_S`` — how long one
  ``llm::complete`` / ``agent::chat`` call may take (default 300 s each).

The ``iii-http`` module's ``default_timeout`` (engine config) still bounds the time to the
*first byte* of a response: raise it for long non-streamed agent runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["ApiConfig"]

Seconds = Annotated[float, Field(gt=0)]

_ENV = {
    "AGENTOS_API_RATE_LIMIT": "rate_limit_per_minute",
    "AGENTOS_API_RATE_BURST": "rate_limit_burst",
    "AGENTOS_API_LLM_TIMEOUT_S": "llm_timeout_s",
    "AGENTOS_API_AGENT_TIMEOUT_S": "agent_timeout_s",
}


class ApiConfig(BaseModel):
    """Settings of the api worker (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate_limit_per_minute: Annotated[float, Field(ge=0)] = 600.0
    rate_limit_burst: Annotated[int, Field(ge=1)] | None = None
    rate_limit_max_keys: Annotated[int, Field(ge=1)] = 10_000
    llm_timeout_s: Seconds = 300.0
    agent_timeout_s: Seconds = 300.0
    drain_timeout_s: Seconds = 10.0
    """After a streamed call answered, how long the rest of its stream may take."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ApiConfig:
        """Defaults, overridden by the ``AGENTOS_API_*`` variables that are set.

        Raises:
            ValueError: a variable holds an invalid value (the message names it).
        """
        env = os.environ if env is None else env
        values = {field: env[name] for name, field in _ENV.items() if env.get(name)}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            names = {field: name for name, field in _ENV.items()}
            problems = "; ".join(f"{names.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}"
                                 for e in exc.errors(include_url=False))
            raise ValueError(f"invalid api settings: {problems}") from exc
