"""engine/config.py: the shipped config, the seed's legacy config, env expansion, error lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.config import (
    ConfigError,
    NodeConfig,
    ProcessSpec,
    QueueModuleConfig,
    QueueSettings,
    expand_env,
    load_config,
    parse_config,
)
from engine.errors import EngineError

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "config.yaml"
SEED = Path(__file__).parent / "fixtures" / "seed_config.yaml"


def problems_of(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="node.yaml", env=env or {})
    assert str(info.value) == "\n".join(info.value.problems)
    return list(info.value.problems)


# ---- the shipped config.yaml ------------------------------------------------------------------


def test_shipped_config_loads_with_loopback_defaults() -> None:
    config = load_config(SHIPPED, env={})
    assert (config.engine.host, config.engine.port) == ("127.0.0.1", 49134)
    assert config.engine.max_frame_bytes == 16 * 1024 * 1024
    assert config.is_open and config.engine.auth.allow_open
    # Every shipped worker process names a module that exists in this repository.
    import importlib.util

    assert config.processes, "make run should bring up the whole node"
    for spec in config.processes:
        assert spec.module is not None and importlib.util.find_spec(spec.module) is not None, spec.name
    assert config.data_dir == Path("data")
    assert [m.name for m in config.modules] == [
        "iii-http", "iii-stream", "iii-state", "iii-queue", "iii-pubsub", "iii-cron",
    ]
    http, stream = config.http(), config.stream()
    assert http is not None and (http.host, http.port) == ("127.0.0.1", 3111)
    assert stream is not None and (stream.host, stream.port) == ("127.0.0.1", 3112)
    for typed in (config.state(), config.queue(), config.cron()):
        assert typed is not None
        assert typed.adapter.name == "sqlite"
        assert typed.adapter.config == {"path": "./data/agentos.db"}
    pubsub = config.pubsub()
    assert pubsub is not None and pubsub.adapter.name == "memory"


def test_shipped_config_takes_host_and_port_from_the_environment() -> None:
    config = load_config(str(SHIPPED), env={"AGENTOS_PORT": "5000"})
    assert config.engine.port == 5000
    with pytest.raises(ConfigError, match="running open is only allowed on loopback"):
        load_config(SHIPPED, env={"AGENTOS_HOST": "0.0.0.0"})


# ---- the seed's legacy config -----------------------------------------------------------------


def test_seed_legacy_config_loads_unchanged() -> None:
    config = load_config(SEED, env={})
    assert config.engine.port == 49134 and config.port == 49134
    assert [(m.name, m.legacy_class) for m in config.modules] == [
        ("iii-http", "modules::api::RestApiModule"),
        ("iii-state", "modules::state::StateModule"),
        ("iii-stream", "modules::stream::StreamModule"),
        ("iii-queue", "modules::queue::QueueModule"),
        ("iii-pubsub", "modules::pubsub::PubSubModule"),
        ("iii-cron", "modules::cron::CronModule"),
        ("iii-kv-server", "modules::kv_server::KvServer"),
        ("iii-observability", "modules::observability::OtelModule"),
    ]
    http = config.http()
    assert http is not None
    assert (http.host, http.port, http.concurrency_request_limit) == ("0.0.0.0", 3111, 2048)
    state, queue, pubsub, cron = config.state(), config.queue(), config.pubsub(), config.cron()
    assert state is not None and queue is not None and pubsub is not None and cron is not None
    assert state.adapter.name == "kv"
    assert state.adapter.config == {"store_method": "file_based", "file_path": "./data/state"}
    assert (queue.adapter.name, pubsub.adapter.name, cron.adapter.name) == (
        "builtin", "local", "kv")
    stream = config.stream()
    assert stream is not None and stream.port == 3112 and stream.adapter.name == "memory"
    kv, otel = config.module("iii-kv-server"), config.module("iii-observability")
    assert kv is not None and kv.config["save_interval_ms"] == 5000
    assert otel is not None and otel.config == {
        "enabled": True, "exporter": "memory", "metrics_enabled": True}


def test_seed_observability_fragment_loads() -> None:
    config = parse_config("""
modules:
  - class: modules::observability::OtelModule
    config:
      enabled: true
      exporter: memory
      metrics_enabled: true
      logs_enabled: true
      alerts:
        - name: high-error-rate
          metric: iii.invocations.error
          threshold: 10
          operator: ">"
          window_seconds: 60
          action:
            type: log
""", env={})
    otel = config.module("iii-observability")
    assert otel is not None and otel.config["alerts"][0]["threshold"] == 10


IIII_EXAMPLE = """
registration_namespace_grace_ms: 7000
workers:
  - name: iii-worker-manager
    config: { port: 49135, host: 0.0.0.0, handshake_timeout_ms: 2000 }
  - name: iii-http
    config: { port: 3111, host: 127.0.0.1, default_timeout: 30000, concurrency_request_limit: 1024,
              cors: { allowed_origins: ['*'], allowed_methods: [GET, POST, PUT, DELETE, OPTIONS] } }
  - name: iii-state
    config: { adapter: { name: kv, config: { store_method: file_based, file_path: ./data/s.db } } }
  - name: iii-queue
    config: { queue_configs: { default: { max_retries: 5 } }, adapter: { name: builtin } }
"""


def test_iii_format_worker_manager_overrides_the_engine_block() -> None:
    assert "running open is only allowed on loopback" in problems_of(IIII_EXAMPLE)[0]
    tokens = "engine:\n  auth:\n    tokens: [{token: s3cret, role: system}]\n"
    config = parse_config(tokens + IIII_EXAMPLE, env={})
    assert (config.engine.host, config.engine.port) == ("0.0.0.0", 49135)
    assert config.engine.handshake_timeout_ms == 2000
    assert config.engine.registration_namespace_grace_ms == 7000
    assert not config.is_open and "s3cret" not in repr(config)
    queue = config.queue()
    assert queue is not None
    assert queue.settings_for("default").max_retries == 5
    assert queue.settings_for("other").max_retries == 5  # falls back to `default`


def test_legacy_top_level_port_overrides_engine_port() -> None:
    config = parse_config("port: 4000\nengine: {port: 5000}\n", env={})
    assert config.engine.port == 4000


# ---- environment expansion --------------------------------------------------------------------


def test_env_expansion_default_set_and_empty() -> None:
    text = "engine:\n  port: ${P:49134}\n  host: ${H}\ndata_dir: ${D:}/x\n"
    config = parse_config(text, env={"H": "127.0.0.1"})
    assert (config.engine.port, config.engine.host, config.data_dir) == (
        49134, "127.0.0.1", Path("/x"))
    assert parse_config(text, env={"H": "::1", "P": "7"}).engine.port == 7


def test_env_expansion_unset_variable_names_file_line_and_variable() -> None:
    lines = problems_of("# ${IN_A_COMMENT}\nengine:\n  host: ${HOST}\n  port: ${PORT}\n")
    assert lines == [
        "node.yaml:3: environment variable HOST is not set — export HOST=… or give a "
        "default: ${HOST:default}",
        "node.yaml:4: environment variable PORT is not set — export PORT=… or give a "
        "default: ${PORT:default}",
    ]


def test_expand_env_leaves_other_dollars_alone() -> None:
    assert expand_env("a: $A ${B:x:y} ${}\n", {}) == "a: $A x:y ${}\n"


# ---- errors name the file, the line, the key path and the fix ---------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("workers:\n  - name: iii-state\n  - name: iii-pubsub\n  - name: iii-http\n"
     "    config: {port: abc}\n",
     "node.yaml:5: workers[2].config.port: expected an integer port 1-65535"),
    ("modules:\n  - class: modules::api::RestApiModule\n    config:\n      port: 70000\n",
     "node.yaml:4: modules[0].config.port: expected an integer port 1-65535"),
    ("engine:\n  prot: 1\n",
     "node.yaml:2: engine.prot: unknown key (did you mean `port`?) — known keys:"),
    ("worker: []\n", "node.yaml:1: worker: unknown key (did you mean `workers`?)"),
    ("engine:\n  auth:\n    tokens:\n      - {token: t, role: admin}\n",
     "node.yaml:4: engine.auth.tokens[0].role: expected one of 'system', 'worker' or 'client'"),
    ("engine:\n  auth:\n    tokens: [{token: t, role: worker}, {token: t, role: client}]\n",
     "node.yaml:3: engine.auth.tokens: the same token is listed twice"),
    ("engine: {handshake_timeout_ms: 0}\n",
     "node.yaml:1: engine.handshake_timeout_ms: expected a number >= 1 (got 0)"),
    ("processes:\n  - name: a\n    module: workers.a\n    command: [x]\n",
     "node.yaml:2: processes[0]: set exactly one of `command` (a list of arguments) or `module`"),
    ("processes:\n  - {name: a, module: m}\n  - {name: a, module: n}\n",
     "node.yaml:1: processes: duplicate name(s) a — each may appear once"),
    ("processes:\n  - {name: a, module: m, env: {PORT: 1}}\n",
     "node.yaml:2: processes[0].env.PORT: expected a string — quote the value (got 1)"),
    ("processes:\n  - {name: a, module: m, restart: {initial_backoff_ms: 9, max_backoff_ms: 1}}\n",
     "node.yaml:2: processes[0].restart: initial_backoff_ms must not exceed max_backoff_ms"),
    ("workers:\n  - name: iii-queue\n    config:\n      queue_configs:\n        q: {type: lifo}\n",
     "node.yaml:5: workers[0].config.queue_configs.q.type: expected one of 'standard' or 'fifo'"),
    ("modules:\n  - class: modules::nope::Module\n",
     "node.yaml:2: modules[0]: unknown module class 'modules::nope::Module' — known classes: "
     "modules::api::RestApiModule"),
    ("modules:\n  - class: modules::state::StateModule\n    config:\n      adapter:\n"
     "        class: modules::state::adapters::Postgres\n",
     "node.yaml:2: modules[0]: unknown adapter class 'modules::state::adapters::Postgres'"),
    ("workers:\n  - name: iii-htp\n",
     "node.yaml:2: workers[0]: unknown module 'iii-htp' (did you mean `iii-http`?)"),
    ("workers:\n  - name: iii-http\n  - name: iii-http\n",
     "node.yaml:1: workers: duplicate name(s) iii-http"),
    ("workers:\n  - config: {}\n", "node.yaml:2: workers[0].name: required key is missing"),
    ("workers: []\nmodules: []\n", "node.yaml: both `workers:` and `modules:` are set"),
    ("engine:\n  host: 0.0.0.0\n",
     "node.yaml: engine.host: running open is only allowed on loopback: set engine.auth.tokens "
     "or bind "
     "127.0.0.1"),
    ("engine: {auth: {allow_open: false}}\n",
     "node.yaml: engine.auth.allow_open: false but no tokens are configured"),
    ("engine:\n  port: [1, 2\n", "node.yaml:3: invalid YAML:"),
    ("- just\n- a list\n", "node.yaml: expected a mapping of keys at the top level, got list"),
    ("data_dir: 2001-13-01\n", "node.yaml: invalid YAML: month must be in 1..12"),
])
def test_error_names_file_key_and_fix(text: str, expected: str) -> None:
    lines = problems_of(text)
    assert len(lines) == 1, lines
    assert lines[0].startswith(expected), lines[0]


def test_every_problem_is_reported_on_its_own_line() -> None:
    lines = problems_of("engine: {port: x}\nworkers:\n  - name: iii-http\n"
                        "    config: {port: -1, cors: {allowed_origin: []}}\n")
    assert [line.split(": ")[1] for line in lines] == [
        "engine.port", "workers[0].config.port", "workers[0].config.cors.allowed_origin"]


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: file not found"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match=r"bin\.yaml: cannot read the file"):
        load_config(tmp_path / "bin.yaml")


def test_empty_file_means_all_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing yet\n")
    config = load_config(path, env={})
    assert config == NodeConfig() and config.http() is None and config.module("iii-http") is None


def test_config_error_is_an_engine_error_and_a_value_error() -> None:
    assert issubclass(ConfigError, EngineError) and issubclass(ConfigError, ValueError)


# ---- small typed helpers ----------------------------------------------------------------------


def test_process_spec_argv() -> None:
    assert ProcessSpec(name="a", module="workers.a").argv("py") == ["py", "-m", "workers.a"]
    assert ProcessSpec(name="b", command=["node", "x.js"]).argv("py") == ["node", "x.js"]


def test_queue_settings_defaults() -> None:
    assert QueueModuleConfig().settings_for("anything") == QueueSettings()
    assert QueueModuleConfig().adapter.config == {"path": "./data/agentos.db"}


def test_external_worker_with_image_is_accepted() -> None:
    config = parse_config("workers:\n  - {name: my-worker, image: ghcr.io/x/y:1}\n", env={})
    assert config.module("my-worker") is not None


# ---- fuzzing: anything but a ConfigError is a bug ---------------------------------------------

KEYS = st.sampled_from([
    "engine", "workers", "modules", "port", "host", "name", "class", "config", "adapter",
    "auth", "tokens", "token", "role", "processes", "command", "module", "env", "restart",
    "data_dir", "image", "cors", "queue_configs", "registration_namespace_grace_ms",
    "iii-http", "iii-state", "iii-worker-manager", "modules::api::RestApiModule",
]) | st.text(max_size=8)
SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
           | st.text(max_size=12) | KEYS)
GARBAGE = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=30,
)


def assert_only_config_error(text: str) -> None:
    try:
        parse_config(text, source="fuzz.yaml", env={})
    except ConfigError as exc:
        assert exc.problems and all(line.startswith("fuzz.yaml") for line in exc.problems)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(GARBAGE)
def test_nested_garbage_only_raises_config_error(data: Any) -> None:
    assert_only_config_error(yaml.safe_dump(data))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["engine", "workers", "modules", "processes", "port"]),
                       GARBAGE, min_size=1))
def test_garbage_under_known_keys_only_raises_config_error(data: Any) -> None:
    assert_only_config_error(yaml.safe_dump(data))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!#|>'\"\n ${}%@`,?.0123456789")),
               max_size=60))
def test_garbage_text_only_raises_config_error(text: str) -> None:
    assert_only_config_error(text)
