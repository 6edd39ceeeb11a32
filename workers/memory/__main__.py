"""``python -m workers.memory``: load the embedding model, then serve the memory worker.

The engine URL and token come from ``AGENTOS_URL``/``AGENTOS_TOKEN`` (see ``workers.sdk.connect``);
``AGENTOS_MEMORY_CONFIG`` names an optional YAML configuration (see :mod:`workers.memory.config`).
The model loads before the worker connects, so its first call does not pay for it.

Recall scores vectors with one BLAS matrix-vector product per partition. On a small, busy
machine OpenBLAS's threads contend with everything else; ``OPENBLAS_NUM_THREADS=1`` in the
process's environment (``processes: env:`` in config.yaml) gave steadier latencies in
``bench/memory_recall.py``. It must be set before the process starts.
"""

from __future__ import annotations

import logging

from workers.sdk import run

from .config import MemoryConfig
from .embedder import build_embedder
from .worker import MemoryWorker


def main() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    config = MemoryConfig.from_env()
    embedder = build_embedder(config.embedding)
    run([MemoryWorker(config, embedder=embedder).worker()])


if __name__ == "__main__":
    main()
