"""engine/module_configs.py: the observability config, and the split out of engine/config.py."""

from __future__ import annotations

import pytest

import engine.config as config_module
import engine.module_configs as module_configs
from engine.config import ConfigError, NodeConfig, ObservabilityModuleConfig, parse_config


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="node.yaml", env={})
    return list(info.value.problems)


def test_every_module_config_is_still_importable_from_engine_config() -> None:
    for name in module_configs.__all__:
        assert getattr(config_module, name) is getattr(module_configs, name)
        if not name.startswith(("ADAPTER", "TYPED", "MiB")):
            assert name in config_module.__all__


def test_observability_is_on_by_default_and_typed() -> None:
    default = NodeConfig().observability()
    assert default.enabled and default.exporter == "memory" and default.memory_max_spans == 10_000
    config = parse_config("""
workers:
  - name: iii-observability
    config: { enabled: true, service_name: shop, exporter: memory, endpoint: "http://localhost:4317",
              sampling_ratio: 0.25, memory_max_spans: 50, logs_max: 7, logs_batch_size: 100 }
""", env={})
    typed = config.observability()
    assert (typed.service_name, typed.sampling_ratio, typed.memory_max_spans, typed.logs_max_count) == (
        "shop", 0.25, 50, 7)
    assert ObservabilityModuleConfig.model_validate({"logs_max_count": 3}).logs_max_count == 3


def test_the_legacy_class_form_loads_with_alerts_and_disabled_storage() -> None:
    config = parse_config("""
modules:
  - class: modules::observability::OtelModule
    config:
      enabled: false
      trace_storage: { enabled: false, directory: ./x }
      alerts: [{ name: a, metric: m, threshold: 1, operator: ">", action: { type: log } }]
""", env={})
    typed = config.observability()
    assert not typed.enabled and len(typed.alerts) == 1


@pytest.mark.parametrize(("fragment", "expected"), [
    ("exporter: otlp", "workers[0].config.exporter: exporter 'otlp' is not supported by this engine"),
    ("exporter: both", "exporter 'both' is not supported"),
    ("logs_exporter: otlp", "workers[0].config.logs_exporter: exporter 'otlp'"),
    ("exporter: jaeger", "unknown exporter 'jaeger'"),
    ("trace_storage: { enabled: true }", "trace_storage: durable trace storage is not supported"),
    ("sampling: { default: 0.1 }", "sampling: per-rule sampling is not supported"),
    ("sampling_ratio: 2", "workers[0].config.sampling_ratio: expected a number <= 1"),
    ("memory_max_spans: 0", "workers[0].config.memory_max_spans: expected a number >= 1"),
    ("memory_max_span: 10", "unknown key (did you mean `memory_max_spans`?)"),
])
def test_bad_observability_configs_say_what_to_do(fragment: str, expected: str) -> None:
    problems = problems_of(f"""
workers:
  - name: iii-observability
    config:
      {fragment}
""")
    assert len(problems) == 1 and expected in problems[0], problems
    assert problems[0].startswith("node.yaml:")
