"""``python -m workers.llm_router``: serve the llm-router worker (see :func:`worker.main`)."""

import os

# Before anything imports litellm: otherwise it downloads its price map at import time.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from workers.llm_router.worker import main  # noqa: E402

if __name__ == "__main__":
    main()
