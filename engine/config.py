"""Node configuration: ``config.yaml`` → one validated :class:`NodeConfig`, loaded once by the CLI.

Theory of operation
-------------------
:func:`load_config` runs four steps, each of which reports *every* problem it finds before giving
up, as one line per problem naming the file, the line, the key path and the fix:

1. **Environment expansion** on the raw text, as iii does: ``${VAR}`` and ``${VAR:default}``.
   Full-line comments are left alone, so commented-out examples may mention unset variables.
   The value is pasted in unquoted; quote the placeholder (``"${TOKEN}"``) if the value may
   contain YAML syntax.
2. **YAML parsing** (safe loader). Syntax errors name the line and column.
3. **Validation** of :class:`NodeConfig`. Three dialects are accepted: ours (``engine:``,
   ``processes:``, ``data_dir:``), iii's current one (``workers: [{name, config, image?}]``,
   top-level ``registration_namespace_grace_ms``) and iii's legacy one (top-level ``port``,
   ``modules: [{class: modules::…, config}]``, adapters as ``{class: …}``). Legacy classes are
   mapped to iii names (:data:`MODULE_CLASSES`, :data:`ADAPTER_CLASSES`), so past this point
   only ``ModuleConfig(name=…)`` exists. ``workers:`` and ``modules:`` together are refused.
4. **Typed module configs**: the modules we know (:data:`TYPED_MODULES`, defined with their
   config classes in :mod:`engine.module_configs` and re-exported here) are validated here so
   that a bad ``workers[2].config.port`` fails at start, not when the module boots. The raw dict
   stays in :attr:`ModuleConfig.config`; typed views come from ``NodeConfig.http()`` etc.

Precedence for the WebSocket listener: the ``engine:`` block, then an ``iii-worker-manager``
entry's ``host``/``port``/``handshake_timeout_ms``, then the legacy top-level ``port`` and
``registration_namespace_grace_ms``. Running open (no tokens) is only allowed on loopback.

``engine.max_frame_bytes`` defaults to 16 MiB rather than the SDK's 64 MiB limit: a frame that
large is a bug or an attack, and large payloads belong on data channels.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from engine.config_errors import describe_validation_error as _describe
from engine.config_errors import did_you_mean as _did_you_mean
from engine.errors import EngineError
from engine.module_configs import (
    ADAPTER_CLASSES,
    TYPED_MODULES,
    AdapterConfig,
    CorsSettings,
    CronModuleConfig,
    HttpMiddleware,
    HttpModuleConfig,
    MiB,
    Millis,
    Name,
    ObservabilityModuleConfig,
    Port,
    PubSubModuleConfig,
    QueueModuleConfig,
    QueueSettings,
    StateModuleConfig,
    StreamModuleConfig,
    WorkerManagerModuleConfig,
    _Section,
    map_adapter_class,
)

__all__ = [
    "ADAPTER_CLASSES", "MODULE_CLASSES", "MODULE_NAMES", "TYPED_MODULES",
    "AdapterConfig", "AuthSettings", "ConfigError", "CorsSettings", "CronModuleConfig",
    "EngineSettings", "HttpMiddleware", "HttpModuleConfig", "ModuleConfig", "NodeConfig",
    "ObservabilityModuleConfig", "ProcessSpec", "PubSubModuleConfig", "QueueModuleConfig", "QueueSettings", "RestartPolicy",
    "StateModuleConfig", "StreamModuleConfig", "TokenSpec", "WorkerManagerModuleConfig",
    "expand_env", "load_config", "parse_config",
]

#: Legacy ``class:`` of a module (``modules::`` prefix optional) → iii module name.
MODULE_CLASSES: dict[str, str] = {
    "api::RestApiModule": "iii-http", "stream::StreamModule": "iii-stream",
    "state::StateModule": "iii-state", "queue::QueueModule": "iii-queue",
    "pubsub::PubSubModule": "iii-pubsub", "cron::CronModule": "iii-cron",
    "observability::OtelModule": "iii-observability",
    "http_functions::HttpFunctionsModule": "iii-http-functions", "shell::ExecModule": "iii-exec",
    "bridge_client::BridgeClientModule": "iii-bridge",
    "kv_server::KvServer": "iii-kv-server",  # removed in iii 0.23: accepted, never implemented
}
#: Every module name accepted without an ``image:``; the engine runs those it implements.
MODULE_NAMES: frozenset[str] = frozenset({
    "iii-worker-manager", "iii-http", "iii-state", "iii-stream", "iii-pubsub", "iii-cron",
    "iii-queue", "iii-observability", "iii-http-functions", "iii-exec", "iii-bridge",
    "iii-engine-functions", "iii-telemetry", "configuration", "iii-kv-server",
})


class ConfigError(EngineError, ValueError):
    """The configuration cannot be used; ``str(err)`` has one line per problem.

    Attributes:
        problems: the lines, each ``file[:line]: key.path: what is wrong — how to fix it``.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


class TokenSpec(_Section):
    """One credential: a Bearer token with a role and, optionally, the realm it is bound to."""

    token: Annotated[SecretStr, Field(min_length=1)]
    role: Literal["system", "worker", "client"]
    realm: Name | None = None
    name: Name | None = None


class AuthSettings(_Section):
    """``engine.auth``: no tokens means open mode, refused unless ``allow_open`` and loopback."""

    tokens: list[TokenSpec] = Field(default_factory=list)
    allow_open: bool = True

    @field_validator("tokens")
    @classmethod
    def _unique(cls, tokens: list[TokenSpec]) -> list[TokenSpec]:
        seen = [t.token.get_secret_value() for t in tokens]
        if len(set(seen)) != len(seen):
            raise ValueError("the same token is listed twice — give each credential its own token")
        return tokens


class EngineSettings(_Section):
    """``engine:``: the WebSocket listener of the bus and its limits (see module docstring)."""

    host: Name = "127.0.0.1"
    port: Port = 49134
    max_frame_bytes: Annotated[int, Field(ge=1024)] = 16 * MiB
    handshake_timeout_ms: Millis = 10000
    registration_namespace_grace_ms: Annotated[int, Field(ge=0)] = 5000
    auth: AuthSettings = Field(default_factory=AuthSettings)

    @property
    def is_open(self) -> bool:
        """True when no token is configured: every connection is accepted (loopback only)."""
        return not self.auth.tokens


class ModuleConfig(_Section):
    """One entry of ``workers:``/``modules:``; ``config`` is validated by the module itself."""

    name: Name
    config: dict[str, Any] = Field(default_factory=dict)
    image: str | None = None
    legacy_class: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_class(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if data.get("config") is None:
            data["config"] = {}
        if "class" in data:
            if "name" in data:
                raise ValueError("set either `name` or the legacy `class`, not both")
            klass = data.pop("class")
            name = MODULE_CLASSES.get(str(klass).removeprefix("modules::"))
            if name is None:
                known = ", ".join(f"modules::{k}" for k in MODULE_CLASSES)
                raise ValueError(f"unknown module class {klass!r} — known classes: {known}")
            data["name"], data["legacy_class"] = name, klass
        config = data["config"]
        if isinstance(config, dict) and isinstance(config.get("adapter"), dict):
            data["config"] = {**config, "adapter": map_adapter_class(config["adapter"])}
        return data

    @model_validator(mode="after")
    def _known(self) -> ModuleConfig:
        if self.name not in MODULE_NAMES and self.image is None:
            hint = _did_you_mean(self.name, MODULE_NAMES)
            raise ValueError(f"unknown module {self.name!r}{hint} — known modules: "
                             f"{', '.join(sorted(MODULE_NAMES))} (external workers need `image:`)")
        return self


class RestartPolicy(_Section):
    """Exponential backoff between restarts of a crashed process."""

    initial_backoff_ms: Millis = 500
    max_backoff_ms: Millis = 30000

    @model_validator(mode="after")
    def _ordered(self) -> RestartPolicy:
        if self.initial_backoff_ms > self.max_backoff_ms:
            raise ValueError("initial_backoff_ms must not exceed max_backoff_ms")
        return self


class ProcessSpec(_Section):
    """A worker process supervised by ``agentos start``: exactly one of ``command``/``module``."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    command: Annotated[list[str], Field(min_length=1)] | None = None
    module: Annotated[str, Field(pattern=r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")] | None = None
    env: dict[str, str] = Field(default_factory=dict)
    enabled: bool = True
    restart: RestartPolicy = Field(default_factory=RestartPolicy)

    @model_validator(mode="after")
    def _one_of(self) -> ProcessSpec:
        if (self.command is None) == (self.module is None):
            raise ValueError("set exactly one of `command` (a list of arguments) or `module` "
                             "(a python module, run as `python -m module`)")
        return self

    def argv(self, python: str) -> list[str]:
        """Return the command line to spawn, running ``module`` with the ``python`` interpreter."""
        return list(self.command) if self.command is not None else [python, "-m", str(self.module)]


_M = TypeVar("_M", bound=BaseModel)


class NodeConfig(BaseModel):
    """The whole node. Build it with :func:`load_config`; ``engine`` holds the effective listener.

    ``port`` and ``registration_namespace_grace_ms`` are the legacy/iii top-level keys, already
    folded into ``engine``; ``modules`` comes from either ``workers:`` or ``modules:``.
    """

    model_config = ConfigDict(extra="forbid")

    engine: EngineSettings = Field(default_factory=EngineSettings)
    port: Port | None = None
    registration_namespace_grace_ms: Annotated[int, Field(ge=0)] | None = None
    modules: list[ModuleConfig] = Field(default_factory=list)
    processes: list[ProcessSpec] = Field(default_factory=list)
    data_dir: Path = Path("./data")

    @model_validator(mode="before")
    @classmethod
    def _workers_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "workers" in data:
            if "modules" in data:
                raise ValueError("both `workers:` and `modules:` are set — keep one (`workers:` "
                                 "is the iii format, `modules:` the legacy one)")
            data = {("modules" if k == "workers" else k): v for k, v in data.items()}
        return data

    @field_validator("modules", "processes")
    @classmethod
    def _unique_names(cls, items: list[ModuleConfig] | list[ProcessSpec]) -> Any:
        names = [item.name for item in items]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate name(s) {', '.join(dupes)} — each may appear once")
        return items

    @model_validator(mode="after")
    def _effective_engine(self) -> NodeConfig:
        update: dict[str, Any] = {}
        wm = self.module("iii-worker-manager")
        if wm is not None:
            try:  # an invalid entry is reported by load_config with its own key path
                typed = WorkerManagerModuleConfig.model_validate(wm.config)
                update = typed.model_dump(include={"host", "port", "handshake_timeout_ms"},
                                          exclude_none=True)
            except ValidationError:
                pass
        if self.port is not None:
            update["port"] = self.port
        if self.registration_namespace_grace_ms is not None:
            update["registration_namespace_grace_ms"] = self.registration_namespace_grace_ms
        self.engine = self.engine.model_copy(update=update)
        if self.engine.is_open and not self.engine.auth.allow_open:
            raise ValueError("engine.auth.allow_open: false but no tokens are configured — "
                             "add engine.auth.tokens")
        if self.engine.is_open and not _is_loopback(self.engine.host):
            raise ValueError("engine.host: running open is only allowed on loopback: set "
                             "engine.auth.tokens "
                             f"or bind 127.0.0.1 (host is {self.engine.host!r})")
        return self

    @property
    def is_open(self) -> bool:
        """True when the bus accepts connections without a token (``agentos start`` says so)."""
        return self.engine.is_open

    def module(self, name: str) -> ModuleConfig | None:
        """Return the entry of module ``name`` (an iii name such as ``iii-http``), or None."""
        return next((m for m in self.modules if m.name == name), None)

    def _typed(self, name: str, model: type[_M]) -> _M | None:
        entry = self.module(name)
        return None if entry is None else model.model_validate(entry.config)

    def http(self) -> HttpModuleConfig | None:
        """Typed ``iii-http`` config, or None when the module is not configured."""
        return self._typed("iii-http", HttpModuleConfig)

    def stream(self) -> StreamModuleConfig | None:
        """Typed ``iii-stream`` config, or None when the module is not configured."""
        return self._typed("iii-stream", StreamModuleConfig)

    def state(self) -> StateModuleConfig | None:
        """Typed ``iii-state`` config, or None when the module is not configured."""
        return self._typed("iii-state", StateModuleConfig)

    def queue(self) -> QueueModuleConfig | None:
        """Typed ``iii-queue`` config, or None when the module is not configured."""
        return self._typed("iii-queue", QueueModuleConfig)

    def pubsub(self) -> PubSubModuleConfig | None:
        """Typed ``iii-pubsub`` config, or None when the module is not configured."""
        return self._typed("iii-pubsub", PubSubModuleConfig)

    def cron(self) -> CronModuleConfig | None:
        """Typed ``iii-cron`` config, or None when the module is not configured."""
        return self._typed("iii-cron", CronModuleConfig)

    def observability(self) -> ObservabilityModuleConfig:
        """Typed ``iii-observability`` config; its defaults when absent (the module is on by
        default, as iii's mandatory one is: ``enabled: false`` turns it off)."""
        return self._typed("iii-observability", ObservabilityModuleConfig) or ObservabilityModuleConfig()


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> NodeConfig:
    """Read, expand, parse and validate a ``config.yaml``. Call once, at CLI start-up.

    Args:
        path: the file to read.
        env: variables for ``${VAR}`` expansion; ``os.environ`` when None.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: the file is unreadable or invalid; the message lists every problem.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found — create it or pass --config"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read the file ({exc}) — check the path"]) from exc
    return parse_config(text, source=str(path), env=env)


def parse_config(text: str, *, source: str = "<string>",
                 env: Mapping[str, str] | None = None) -> NodeConfig:
    """Like :func:`load_config`, for text already in memory (``source`` names it in errors).

    Raises:
        ConfigError: the text is invalid; the message lists every problem.
    """
    text = expand_env(text, os.environ if env is None else env, source=source)
    try:
        raw = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        col = f" near column {mark.column + 1}" if mark is not None else ""
        raise ConfigError([f"{where}: invalid YAML: {exc.problem or exc.context}{col} — "
                           "fix the syntax"]) from exc
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise ConfigError([f"{source}: invalid YAML: {exc} — fix the value"]) from exc
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ConfigError([f"{source}: expected a mapping of keys at the top level, got "
                           f"{type(raw).__name__} — start with e.g. `engine:` or `workers:`"])
    rename = "workers" if "workers" in raw else "modules"
    problems: list[str] = []
    config: NodeConfig | None = None
    try:
        config = NodeConfig.model_validate(raw)
    except ValidationError as exc:
        problems += _describe(exc, NodeConfig, (), rename, text, source)
    entries = raw.get(rename)
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        try:
            module = ModuleConfig.model_validate(entry)
        except ValidationError:
            continue  # reported above
        typed = TYPED_MODULES.get(module.name)
        if typed is None:
            continue  # validated by the module itself when it starts
        try:
            typed.model_validate(module.config)
        except ValidationError as exc:
            problems += _describe(exc, typed, (rename, index, "config"), rename, text, source)
    if problems or config is None:
        raise ConfigError(problems)
    return config


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")


def expand_env(text: str, env: Mapping[str, str], *, source: str = "<string>") -> str:
    """Replace ``${VAR}`` and ``${VAR:default}`` everywhere but in full-line ``#`` comments.

    Raises:
        ConfigError: a variable is unset and has no default (one line per occurrence).
    """
    problems: list[str] = []
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        if line.lstrip().startswith("#"):
            continue

        def substitute(match: re.Match[str], number: int = number) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            problems.append(f"{source}:{number}: environment variable {name} is not set — "
                            f"export {name}=… or give a default: ${{{name}:default}}")
            return match.group(0)

        lines[number - 1] = _ENV_REF.sub(substitute, line)
    if problems:
        raise ConfigError(problems)
    return "\n".join(lines)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
