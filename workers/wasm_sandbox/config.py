"""Settings of the WASM sandbox: per-execution defaults, hard caps, the host-call allowlist.

A request may ask for less than a cap (``fuel``, ``timeout_ms``, ``memory_pages``) but never
more: a value above its cap is refused with ``invalid_arguments`` rather than silently lowered,
so a caller never believes it got a budget it did not get.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["CONFIG_ENV", "MiB", "PAGE_BYTES", "SandboxConfig"]

MiB = 1024 * 1024
PAGE_BYTES = 65_536
CONFIG_ENV = "AGENTOS_WASM_CONFIG"

Positive = Annotated[int, Field(ge=1)]
Glob = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^\S+$")]


class SandboxConfig(BaseModel):
    """Everything the sandbox can be told. Defaults are safe: no host calls, no WASI."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # modules
    max_module_bytes: Positive = 8 * MiB
    """Largest module binary accepted by ``wasm::validate`` (after base64 decoding)."""
    max_wat_chars: Positive = 8 * MiB
    max_modules_per_realm: Positive = 64
    """Module ids kept per realm; the least recently used is forgotten beyond this."""

    # one execution
    default_fuel: Positive = 50_000_000
    max_fuel: Positive = 10_000_000_000
    default_timeout_ms: Positive = 1_000
    max_timeout_ms: Positive = 30_000
    default_memory_pages: Positive = 256
    """16 MiB of linear memory."""
    max_memory_pages: Annotated[int, Field(ge=1, le=65_536)] = 1_024
    max_table_elements: Positive = 100_000
    max_wasm_stack: Annotated[int, Field(ge=64 * 1024, le=64 * MiB)] = 512 * 1024
    """Bytes of native stack wasm code may use; deeper recursion traps (stack overflow)."""
    max_input_bytes: Positive = 1 * MiB
    max_output_bytes: Positive = 1 * MiB
    max_log_lines: Annotated[int, Field(ge=0)] = 64
    max_log_line_bytes: Positive = 1_024
    max_stdout_bytes: Positive = 64 * 1024
    """WASI stdout and stderr are each captured up to this, the rest dropped."""

    # scheduling
    epoch_tick_ms: Annotated[int, Field(ge=1, le=1_000)] = 10
    """Period of the epoch ticker: deadlines are honoured to within one tick."""
    concurrency: Positive = 4
    """Executions (and compilations) running at once, each in its own thread."""
    max_queued: Annotated[int, Field(ge=0)] = 64
    """Requests waiting for a slot; one more is refused with ``wasm_busy``."""
    queue_timeout_s: Annotated[float, Field(gt=0)] = 10.0
    """How long a request waits for a slot before ``wasm_busy``."""

    # host calls
    host_functions: list[Glob] = Field(default_factory=list, max_length=256)
    """fnmatch globs of the functions ``env.host_call`` may reach; empty = none. ``wasm::*`` is
    never reachable, whatever this says (a guest calling the sandbox could starve its slots)."""
    max_host_calls: Annotated[int, Field(ge=0)] = 32
    host_call_timeout_s: Annotated[float, Field(gt=0)] = 10.0
    """Upper bound of one host call (the execution's remaining deadline also bounds it)."""
    max_host_payload_bytes: Positive = 1 * MiB
    wasi_agents: list[Glob] = Field(default_factory=list, max_length=256)
    """Local policy when ``security::check_capability`` is not registered: fnmatch globs of the
    agent ids allowed WASI. Empty = nobody."""

    @model_validator(mode="after")
    def _defaults_within_caps(self) -> SandboxConfig:
        for name in ("fuel", "timeout_ms", "memory_pages"):
            default, cap = getattr(self, f"default_{name}"), getattr(self, f"max_{name}")
            if default > cap:
                raise ValueError(f"default_{name} ({default}) exceeds max_{name} ({cap})")
        return self

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SandboxConfig:
        """Defaults, or the YAML/JSON file named by ``AGENTOS_WASM_CONFIG``.

        Raises:
            OSError: the file cannot be read.
            ValueError: it is not valid YAML/JSON, or not a valid config.
        """
        env = os.environ if env is None else env
        path = env.get(CONFIG_ENV)
        if not path:
            return cls()
        text = Path(path).read_text(encoding="utf-8")
        data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
        return cls.model_validate(data or {})
