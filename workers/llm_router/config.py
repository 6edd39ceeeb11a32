"""The router's configuration: ``llm.yaml`` → one validated :class:`LlmConfig`, loaded once at start.

Theory of operation
-------------------
The file lives outside the node's ``config.yaml`` (the engine knows nothing of LLMs). Its path is
``AGENTOS_LLM_CONFIG``, else ``./llm.yaml``; when that default file does not exist the built-in
configuration (:data:`BUILTIN_YAML`, the same aliases as the shipped ``llm.yaml``) is used, so
setting ``OPENAI_API_KEY`` alone is enough to chat.

``${VAR}`` and ``${VAR:default}`` are expanded in every string value after YAML parsing. Inside a
model entry of an alias, an unset (or empty) variable does not fail the load: the entry is kept
with :attr:`ModelSpec.missing_env` set and is *unavailable* — listed by ``llm::models`` with the
reason, skipped by every fallback chain. That is how one file can name OpenAI, Anthropic and a
local model and use whichever has a key. Anywhere else an unset variable is an error.

An alias maps to an ordered fallback chain: the router tries each model in turn (with retries)
until one answers. A chain entry is a mapping (:class:`ModelSpec`) or just the model string.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from .errors import LlmConfigError

__all__ = [
    "BUILTIN_YAML",
    "CONFIG_ENV",
    "DEFAULT_PATH",
    "Defaults",
    "LlmConfig",
    "ModelSpec",
    "OllamaSettings",
    "RetrySettings",
    "RoutingSettings",
    "build_config",
    "load_config",
    "parse_config",
]

CONFIG_ENV = "AGENTOS_LLM_CONFIG"
DEFAULT_PATH = "llm.yaml"

Seconds = Annotated[float, Field(gt=0)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(_Section):
    """One link of a fallback chain: a litellm model and how to reach it.

    ``timeout_s`` and ``max_retries`` fall back to :class:`Defaults`. ``context_window``,
    ``supports_tools`` and the two prices override litellm's model catalog (for models it does
    not know). ``params`` are extra litellm keyword arguments (``api_version``, ``organization``…).
    """

    model: Annotated[str, Field(min_length=1)]
    api_base: str | None = None
    api_key: SecretStr | None = None
    timeout_s: Seconds | None = None
    max_retries: Annotated[int, Field(ge=0, le=10)] | None = None
    context_window: Annotated[int, Field(ge=1)] | None = None
    supports_tools: bool | None = None
    input_cost_per_token: Annotated[float, Field(ge=0)] | None = None
    output_cost_per_token: Annotated[float, Field(ge=0)] | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    missing_env: tuple[str, ...] = ()
    """Variables this entry references that are unset: the entry is unavailable."""

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        return {"model": data} if isinstance(data, str) else data


class Defaults(_Section):
    """``defaults``: what a model entry or a request leaves unsaid."""

    alias: str = "default"
    timeout_s: Seconds = 60.0
    max_retries: Annotated[int, Field(ge=0, le=10)] = 2
    ledger_timeout_s: Seconds = 5.0
    stream_send_timeout_s: Seconds = 30.0


class RetrySettings(_Section):
    """``retry``: exponential backoff with jitter between attempts on one model.

    The n-th retry waits ``initial_backoff_s * multiplier**n`` (capped at ``max_backoff_s``),
    spread by ±``jitter`` (a fraction). A ``Retry-After`` from the upstream replaces the
    computed delay, capped at ``max_retry_after_s``.
    """

    initial_backoff_s: Annotated[float, Field(ge=0)] = 0.5
    multiplier: Annotated[float, Field(ge=1)] = 2.0
    max_backoff_s: Annotated[float, Field(ge=0)] = 8.0
    jitter: Annotated[float, Field(ge=0, le=1)] = 0.25
    max_retry_after_s: Annotated[float, Field(ge=0)] = 30.0


class OllamaSettings(_Section):
    """``ollama``: auto-detection of a local Ollama at start.

    When detected, its models are listed as ``ollama_chat/<name>`` and, with
    ``fill_empty_aliases``, serve every routing alias (default, fast, reasoning) that has no
    usable model of its own. ``model`` picks which local model does that (default: the first).
    """

    autodetect: bool = True
    base_url: str = "http://127.0.0.1:11434"
    probe_timeout_s: Annotated[float, Field(gt=0, le=5)] = 0.3
    fill_empty_aliases: bool = True
    model: str | None = None


class RoutingSettings(_Section):
    """``routing``: which aliases the complexity tiers map to, and the tier thresholds."""

    fast_alias: str = "fast"
    default_alias: str = "default"
    reasoning_alias: str = "reasoning"
    fast_below: Annotated[float, Field(ge=0, le=1)] = 0.3
    reasoning_from: Annotated[float, Field(ge=0, le=1)] = 0.7

    @model_validator(mode="after")
    def _ordered(self) -> RoutingSettings:
        if self.fast_below > self.reasoning_from:
            raise ValueError("routing.fast_below must not exceed routing.reasoning_from")
        return self

    @property
    def tier_aliases(self) -> tuple[str, str, str]:
        return (self.fast_alias, self.default_alias, self.reasoning_alias)


class LlmConfig(_Section):
    """The whole ``llm.yaml``.

    ``realm_policy`` maps a realm to the aliases it may use; a realm not listed may use every
    alias, unless a ``"*"`` entry gives the default list. ``"*"`` inside a list allows all.
    ``allow_direct_models`` lets callers name a provider model (``openai/gpt-4o``) instead of an
    alias; a realm with a policy may then only name models of its allowed aliases.
    """

    aliases: dict[str, list[ModelSpec]] = Field(default_factory=dict)
    realm_policy: dict[str, list[str]] = Field(default_factory=dict)
    allow_direct_models: bool = True
    defaults: Defaults = Field(default_factory=Defaults)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    ollama: OllamaSettings = Field(default_factory=OllamaSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)

    @model_validator(mode="before")
    @classmethod
    def _chains(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("aliases"), dict):
            aliases = {k: (v if isinstance(v, list) else [v]) for k, v in data["aliases"].items()}
            data = {**data, "aliases": aliases}
        return data

    @model_validator(mode="after")
    def _check(self) -> LlmConfig:
        for name in self.aliases:
            if not name or "/" in name or name == "auto":
                raise ValueError(f"aliases: {name!r} is not a valid alias name (no '/', not 'auto')")
        known = self.alias_names()
        for realm, allowed in self.realm_policy.items():
            unknown = [a for a in allowed if a != "*" and a not in known]
            if unknown:
                raise ValueError(f"realm_policy.{realm}: unknown aliases {unknown} — known: {sorted(known)}")
        return self

    def alias_names(self) -> set[str]:
        """Every alias a request may name: the configured ones and the three routing tiers."""
        return {*self.aliases, *self.routing.tier_aliases, self.defaults.alias}

    def allowed_aliases(self, realm: str | None) -> set[str] | None:
        """The aliases ``realm`` may use, or None for "all" (no realm, or no policy for it)."""
        if realm is None:
            return None
        allowed = self.realm_policy.get(realm, self.realm_policy.get("*"))
        if allowed is None or "*" in allowed:
            return None
        return set(allowed)


BUILTIN_YAML = """
aliases:
  fast:
    - {model: openai/gpt-4o-mini, api_key: "${OPENAI_API_KEY}"}
    - {model: anthropic/claude-haiku-4-5, api_key: "${ANTHROPIC_API_KEY}"}
  default:
    - {model: openai/gpt-4.1-mini, api_key: "${OPENAI_API_KEY}"}
    - {model: anthropic/claude-sonnet-4-5, api_key: "${ANTHROPIC_API_KEY}"}
  reasoning:
    - {model: openai/o4-mini, api_key: "${OPENAI_API_KEY}"}
    - {model: anthropic/claude-opus-4-5, api_key: "${ANTHROPIC_API_KEY}"}
"""
"""Used when no ``llm.yaml`` exists: the shipped file's aliases, keyed by environment."""


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> LlmConfig:
    """Read and validate the router's configuration. Call once, at worker start.

    Args:
        path: the file; default ``$AGENTOS_LLM_CONFIG``, else ``./llm.yaml`` (and the built-in
            configuration when that default file does not exist).
        env: variables for ``${VAR}`` expansion; ``os.environ`` when None.

    Raises:
        LlmConfigError: an explicit file is missing, or the file is invalid.
    """
    env = os.environ if env is None else env
    explicit = path is not None or bool(env.get(CONFIG_ENV))
    target = Path(path if path is not None else env.get(CONFIG_ENV) or DEFAULT_PATH)
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        if explicit:
            raise LlmConfigError([f"{target}: file not found — create it or fix {CONFIG_ENV}"]) from None
        return parse_config(BUILTIN_YAML, source="<built-in llm config>", env=env)
    except (OSError, UnicodeDecodeError) as exc:
        raise LlmConfigError([f"{target}: cannot read the file ({exc})"]) from exc
    return parse_config(text, source=str(target), env=env)


def parse_config(text: str, *, source: str = "<string>", env: Mapping[str, str] | None = None) -> LlmConfig:
    """Like :func:`load_config`, for text already in memory (``source`` names it in errors).

    Raises:
        LlmConfigError: the text is invalid; the message lists every problem.
    """
    env = os.environ if env is None else env
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise LlmConfigError([f"{source}: invalid YAML: {exc}"]) from exc
    return build_config({} if raw is None else raw, source=source, env=env)


def build_config(raw: Any, *, source: str = "<dict>", env: Mapping[str, str] | None = None) -> LlmConfig:
    """Like :func:`parse_config`, for the already-parsed YAML document (a dict).

    Raises:
        LlmConfigError: the document is invalid; the message lists every problem.
    """
    env = os.environ if env is None else env
    if not isinstance(raw, dict):
        raise LlmConfigError([f"{source}: expected a mapping at the top level (aliases:, …)"])
    problems: list[str] = []
    missing: list[str] = []
    aliases = raw.get("aliases")
    expanded = {k: _expand(v, env, missing) for k, v in raw.items() if k != "aliases"}
    problems += [f"{source}: environment variable {name} is not set — export it or give a "
                 f"default: ${{{name}:default}}" for name in dict.fromkeys(missing)]
    if isinstance(aliases, dict):
        expanded["aliases"] = {name: _expand_chain(chain, env) for name, chain in aliases.items()}
    elif aliases is not None:
        expanded["aliases"] = aliases
    if problems:
        raise LlmConfigError(problems)
    try:
        return LlmConfig.model_validate(expanded)
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False):
            where = ".".join(str(p) for p in err["loc"])
            lines.append(f"{source}: {where + ': ' if where else ''}{err['msg']}")
        raise LlmConfigError(lines) from exc


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")


def _expand(value: Any, env: Mapping[str, str], missing: list[str]) -> Any:
    """``value`` with ``${VAR}`` references replaced; unset names are appended to ``missing``."""
    if isinstance(value, str):
        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if env.get(name):
                return env[name]
            if default is not None:
                return default
            missing.append(name)
            return ""
        return _ENV_REF.sub(substitute, value)
    if isinstance(value, list):
        return [_expand(v, env, missing) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v, env, missing) for k, v in value.items()}
    return value


def _expand_chain(chain: Any, env: Mapping[str, str]) -> Any:
    entries = chain if isinstance(chain, list) else [chain]
    out = []
    for entry in entries:
        missing: list[str] = []
        value = _expand(entry, env, missing)
        if missing:
            value = {"model": value} if isinstance(value, str) else value
            if isinstance(value, dict):
                value = {**value, "missing_env": tuple(dict.fromkeys(missing))}
        out.append(value)
    return out
