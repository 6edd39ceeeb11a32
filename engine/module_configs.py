"""The typed configs of the built-in modules (one ``workers:`` entry each) and their shared parts.

:mod:`engine.config` validates each entry of ``workers:``/``modules:`` whose name is in
:data:`TYPED_MODULES` against the class here at load time, so a bad
``workers[2].config.port`` fails when the node starts, not when the module boots, and re-exports
every name of this module (``from engine.config import HttpModuleConfig`` keeps working).

Every section forbids unknown keys, as iii's ``deny_unknown_fields`` does; legacy adapter
``{class: …}`` entries are mapped to ``{name: …}`` on input (:data:`ADAPTER_CLASSES`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "ADAPTER_CLASSES", "TYPED_MODULES", "MiB",
    "AdapterConfig", "CorsSettings", "CronModuleConfig", "HttpMiddleware", "HttpModuleConfig",
    "ObservabilityModuleConfig", "PubSubModuleConfig", "QueueModuleConfig", "QueueSettings",
    "StateModuleConfig", "StreamModuleConfig", "WorkerManagerModuleConfig",
]

MiB = 1024 * 1024

#: Last path segment of a legacy adapter ``class:`` → adapter name.
ADAPTER_CLASSES: dict[str, str] = {
    "KvStore": "kv", "KvCronAdapter": "kv", "RedisAdapter": "redis", "RedisCronAdapter": "redis",
    "BuiltinQueueAdapter": "builtin", "RabbitMQAdapter": "rabbitmq", "LocalAdapter": "local",
    "Bridge": "bridge",
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Port = Annotated[int, Field(ge=0, le=65535)]  # 0 = any free port (tests)
Millis = Annotated[int, Field(ge=1)]
Bytes = Annotated[int, Field(ge=1)]
Name = Annotated[str, Field(min_length=1)]
Ratio = Annotated[float, Field(ge=0.0, le=1.0)]
Count = Annotated[int, Field(ge=1)]
Seconds = Annotated[int, Field(ge=1)]


def map_adapter_class(data: Any) -> Any:
    """Turn a legacy adapter ``{class: …::KvStore, config}`` into ``{name: kv, config}``.

    Raises:
        ValueError: both ``name`` and ``class`` are set, or the class is unknown.
    """
    if not isinstance(data, dict) or "class" not in data:
        return data
    if "name" in data:
        raise ValueError("adapter: set either `name` or the legacy `class`, not both")
    klass = data["class"]
    name = ADAPTER_CLASSES.get(str(klass).rsplit("::", 1)[-1])
    if name is None:
        raise ValueError(f"unknown adapter class {klass!r} — known classes end in: "
                         f"{', '.join(ADAPTER_CLASSES)}")
    rest = {k: v for k, v in data.items() if k != "class"}
    return {**rest, "name": name, "config": rest.get("config") or {}}


class AdapterConfig(_Section):
    """A storage backend: ``{name, config}``; a legacy ``{class, config}`` is mapped on input."""

    name: Name
    config: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_class(cls, data: Any) -> Any:
        return map_adapter_class(data)


def _sqlite() -> AdapterConfig:
    return AdapterConfig(name="sqlite", config={"path": "./data/agentos.db"})


def _memory() -> AdapterConfig:
    return AdapterConfig(name="memory")


class WorkerManagerModuleConfig(_Section):
    """iii's ``iii-worker-manager`` entry; set keys override the ``engine:`` block."""

    port: Port | None = None
    host: Name | None = None
    handshake_timeout_ms: Millis | None = None
    middleware_function_id: str | None = None
    rbac: dict[str, Any] | None = None


class CorsSettings(_Section):
    """Empty lists mean "any origin" / "any method", as in iii."""

    allowed_origins: list[str] = Field(default_factory=list)
    allowed_methods: list[str] = Field(default_factory=list)


class HttpMiddleware(_Section):
    function_id: Name
    phase: Literal["preHandler"] = "preHandler"
    priority: int = 0


class HttpModuleConfig(_Section):
    """``iii-http``; ``default_timeout`` is in milliseconds (→ 504)."""

    port: Port = 3111
    host: Name = "127.0.0.1"
    default_timeout: Millis = 30000
    concurrency_request_limit: Annotated[int, Field(ge=1)] = 1024
    max_body_bytes: Bytes = 10 * MiB
    cors: CorsSettings = Field(default_factory=CorsSettings)
    middleware: list[HttpMiddleware] = Field(default_factory=list)


class StreamModuleConfig(_Section):
    port: Port = 3112
    host: Name = "127.0.0.1"
    adapter: AdapterConfig = Field(default_factory=_memory)
    auth_function: str | None = None


class StateModuleConfig(_Section):
    adapter: AdapterConfig = Field(default_factory=_sqlite)
    max_value_bytes: Bytes = 1 * MiB
    triggers_enabled: bool = True


class QueueSettings(_Section):
    """One named queue; ``backoff_ms`` doubles per retry (``backoff_ms × 2^(n-1)``)."""

    max_retries: Annotated[int, Field(ge=0)] = 3
    concurrency: Annotated[int, Field(ge=1)] = 10
    type: Literal["standard", "fifo"] = "standard"
    message_group_field: str | None = None
    backoff_ms: Annotated[int, Field(ge=0)] = 1000
    poll_interval_ms: Millis = 100
    lease_ms: Millis = 30000


class QueueModuleConfig(_Section):
    adapter: AdapterConfig = Field(default_factory=_sqlite)
    queue_configs: dict[str, QueueSettings] = Field(default_factory=dict)
    max_job_bytes: Annotated[int, Field(ge=1)] = 1 * MiB
    """Largest serialized job payload accepted by enqueue."""
    inject_queue_info: bool = True
    """Add ``_queue: {message_id, attempt, queue, idempotency_key}`` to object payloads."""

    def settings_for(self, queue: str) -> QueueSettings:
        """Return the settings of ``queue``, else of the queue named ``default``, else defaults."""
        return self.queue_configs.get(queue) or self.queue_configs.get("default") or QueueSettings()


class PubSubModuleConfig(_Section):
    adapter: AdapterConfig = Field(default_factory=_memory)


class CronModuleConfig(_Section):
    adapter: AdapterConfig = Field(default_factory=_sqlite)
    lock_ttl_ms: Millis = 30000


_ONLY_MEMORY = ("is not supported by this engine: spans, logs and metrics are kept in memory only "
                "(read them with engine::traces::list, engine::logs::list, engine::metrics::list) "
                "— set it to memory")
_NOT_SUPPORTED = {
    "sampling": "per-rule sampling is not supported by this engine — use sampling_ratio",
    "trace_storage": "durable trace storage is not supported by this engine (spans are kept in "
                     "memory, bounded by memory_max_spans) — remove it or set enabled: false",
}


class ObservabilityModuleConfig(_Section):
    """``iii-observability`` (legacy class ``modules::observability::OtelModule``), on by default.

    Spans, logs and metrics sent by SDKs on ``/otel`` and logs written with ``engine::log::*`` are
    kept in bounded in-memory rings (count and approximate bytes); see
    :mod:`engine.modules.observability`. Only the ``memory`` exporter exists here: ``otlp`` and
    ``both`` are refused with a config error rather than silently not exporting.
    """

    enabled: bool = True
    service_name: Name = "agentos"
    service_version: str | None = None
    service_namespace: str | None = None
    exporter: str = "memory"
    endpoint: str | None = None
    """An OTLP collector URL: accepted for iii compatibility, unused by the memory exporter."""
    sampling_ratio: Ratio = 1.0
    """Share of traces kept, decided per trace id, so a trace is kept or dropped whole."""
    memory_max_spans: Count = 10_000
    memory_max_bytes: Bytes = 64 * MiB
    metrics_enabled: bool = True
    metrics_exporter: str = "memory"
    metrics_retention_seconds: Seconds = 3600
    metrics_max_count: Count = 10_000
    metrics_max_bytes: Bytes = 16 * MiB
    logs_enabled: bool = True
    logs_exporter: str = "memory"
    logs_max_count: Count = Field(default=10_000, validation_alias=AliasChoices("logs_max_count", "logs_max"))
    logs_max_bytes: Bytes = 16 * MiB
    logs_retention_seconds: Seconds = 3600
    logs_sampling_ratio: Ratio = 1.0
    logs_console_output: bool = False
    """Also write every stored log record to the engine's own log, at its level."""
    logs_batch_size: Count | None = None
    """OTLP log export batching in iii: accepted, meaningless for the memory exporter."""
    logs_flush_interval_ms: Millis | None = None
    """OTLP log export batching in iii: accepted, meaningless for the memory exporter."""
    max_frame_bytes: Annotated[int, Field(ge=1024)] = 4 * MiB
    """Largest ``/otel`` frame decoded; a larger one is dropped (counted), the socket stays up."""
    max_pending_bytes: Annotated[int, Field(ge=1024)] = 16 * MiB
    """``/otel`` bytes waiting to be decoded; past it new frames are dropped (counted)."""
    max_value_chars: Annotated[int, Field(ge=16)] = 4096
    """Longest string kept in a record (attribute values, bodies); longer ones are cut."""
    alerts: list[dict[str, Any]] = Field(default_factory=list)
    """iii alert rules: accepted so iii configs load, not evaluated (the module warns)."""

    @model_validator(mode="before")
    @classmethod
    def _unsupported(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, why in _NOT_SUPPORTED.items():
                value = data.get(key)
                if value is None:
                    continue
                if key == "trace_storage" and isinstance(value, dict) and value.get("enabled") is False:
                    data = {k: v for k, v in data.items() if k != key}
                    continue
                raise ValueError(f"{key}: {why}")
        return data

    @field_validator("exporter", "metrics_exporter", "logs_exporter")
    @classmethod
    def _memory_only(cls, value: str) -> str:
        if value == "memory":
            return value
        if value in ("otlp", "both"):
            raise ValueError(f"exporter {value!r} {_ONLY_MEMORY}")
        raise ValueError(f"unknown exporter {value!r} — this engine has only `memory`")


#: Module name → the typed config validated at load time.
TYPED_MODULES: dict[str, type[BaseModel]] = {
    "iii-worker-manager": WorkerManagerModuleConfig, "iii-http": HttpModuleConfig,
    "iii-stream": StreamModuleConfig, "iii-state": StateModuleConfig,
    "iii-queue": QueueModuleConfig, "iii-pubsub": PubSubModuleConfig, "iii-cron": CronModuleConfig,
    "iii-observability": ObservabilityModuleConfig,
}
