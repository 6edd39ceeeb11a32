"""The memory worker's configuration: one validated :class:`MemoryConfig`, loaded once at start.

Every section has working defaults, so ``MemoryConfig()`` is a complete configuration: the
packaged ``all-MiniLM-L6-v2`` loaded offline, the recall weights of the issue, consolidation
every six hours. ``AGENTOS_MEMORY_CONFIG`` may name a YAML file holding any subset of the
sections below (:meth:`MemoryConfig.from_env`).

The recall score of a memory is ``cosine·w_c + keyword·w_k + recency·w_r + importance·w_i``
(:mod:`.ranking`); the weights are here so an operator can tune them without code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import InvalidArguments

__all__ = [
    "CONFIG_ENV",
    "ConsolidationConfig",
    "EmbeddingConfig",
    "LimitsConfig",
    "MemoryConfig",
    "RecallConfig",
    "SessionConfig",
    "Weights",
]

CONFIG_ENV = "AGENTOS_MEMORY_CONFIG"

Unit = Annotated[float, Field(ge=0, le=1)]
Positive = Annotated[float, Field(gt=0)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EmbeddingConfig(_Section):
    """Where vectors come from: a local sentence-transformers folder or a litellm provider."""

    provider: Literal["local", "litellm"] = "local"
    model_path: Path | None = None
    """local: a sentence-transformers folder; None is the packaged all-MiniLM-L6-v2."""
    model: str | None = None
    """litellm: the provider model (``openai/text-embedding-3-small``); local: a label."""
    dimensions: Annotated[int, Field(ge=1)] | None = None
    """litellm: the vector size (required there; asked of the provider when it supports it)."""
    api_base: str | None = None
    api_key_env: str | None = None
    """litellm: the environment variable holding the API key."""
    max_window_chars: Annotated[int, Field(ge=256)] = 6000
    """litellm: characters per embedded window (local models cut by their tokenizer)."""
    window_overlap_tokens: Annotated[int, Field(ge=0)] = 32
    batch_size: Annotated[int, Field(ge=1, le=1024)] = 32
    threads: Annotated[int, Field(ge=1)] | None = None
    """local: torch intra-op threads (None: torch's default)."""
    device: str = "cpu"
    timeout_s: Positive = 60.0

    @model_validator(mode="after")
    def _provider_needs(self) -> EmbeddingConfig:
        if self.provider == "litellm" and (not self.model or self.dimensions is None):
            raise ValueError("provider 'litellm' needs 'model' and 'dimensions'")
        return self


class Weights(_Section):
    """Weights of the recall score's four components (they need not sum to 1)."""

    cosine: Unit = 0.6
    keyword: Unit = 0.2
    recency: Unit = 0.1
    importance: Unit = 0.1


class RecallConfig(_Section):
    weights: Weights = Weights()
    kb_weights: Weights = Weights(cosine=0.75, keyword=0.25, recency=0.0, importance=0.0)
    recency_half_life_days: Positive = 7.0
    default_limit: Annotated[int, Field(ge=1, le=100)] = 10
    bm25_k1: Positive = 1.2
    bm25_b: Unit = 0.75
    track_access: bool = True
    """Record when a memory was last recalled (protects it from decay); one small write per hit segment."""
    thread_rows: Annotated[int, Field(ge=0)] = 16384
    """Partitions with at least this many rows score their vectors in a worker thread."""


class ConsolidationConfig(_Section):
    cron: str | None = "0 0 */6 * * *"
    """When ``memory::consolidate`` runs over every partition (None: only when called)."""
    merge_threshold: Annotated[float, Field(gt=0, le=1)] = 0.92
    merge_batch: Annotated[int, Field(ge=1)] = 1000
    """New memories compared against the whole partition per run (the rest wait for the next)."""
    decay_after_days: Annotated[float, Field(ge=0)] = 7.0
    decay_per_day: Unit = 0.02
    importance_floor: Unit = 0.1
    evict_below: Unit = 0.12
    evict_idle_days: Annotated[float, Field(ge=0)] = 30.0
    cap: Annotated[int, Field(ge=1)] = 10_000
    """Most memories a partition keeps; the least important, least recent go first."""


class SessionConfig(_Section):
    keep_last: Annotated[int, Field(ge=0)] = 10
    model: str = "default"
    summary_max_tokens: Annotated[int, Field(ge=16)] = 512
    chunk_chars: Annotated[int, Field(ge=1000)] = 24_000
    llm_timeout_s: Positive = 120.0


class LimitsConfig(_Section):
    max_content_chars: Annotated[int, Field(ge=1)] = 100_000
    max_batch_items: Annotated[int, Field(ge=1)] = 256
    max_document_bytes: Annotated[int, Field(ge=1)] = 4 * 1024 * 1024
    max_document_chars: Annotated[int, Field(ge=1)] = 1_000_000
    kb_chunk_chars: Annotated[int, Field(ge=200)] = 1200
    kb_chunk_overlap: Annotated[int, Field(ge=0)] = 150
    segment_bytes: Annotated[int, Field(ge=16 * 1024)] = 256 * 1024
    """Target JSON size of one stored segment of a partition."""
    max_value_bytes: Annotated[int, Field(ge=16 * 1024)] = 1024 * 1024
    """The state module's ``max_value_bytes``; no segment is written bigger than this."""


class MemoryConfig(_Section):
    embedding: EmbeddingConfig = EmbeddingConfig()
    recall: RecallConfig = RecallConfig()
    consolidation: ConsolidationConfig = ConsolidationConfig()
    sessions: SessionConfig = SessionConfig()
    limits: LimitsConfig = LimitsConfig()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MemoryConfig:
        """Defaults, overridden by the YAML file ``AGENTOS_MEMORY_CONFIG`` names, if set.

        Raises:
            InvalidArguments: the file cannot be read or does not validate.
        """
        env = os.environ if env is None else env
        path = env.get(CONFIG_ENV)
        if not path:
            return cls()
        try:
            raw: Any = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
            return cls.model_validate(raw)
        except (OSError, yaml.YAMLError, ValidationError) as exc:
            raise InvalidArguments(f"{CONFIG_ENV}={path}: {exc}") from exc
