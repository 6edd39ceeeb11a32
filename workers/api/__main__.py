"""``python -m workers.api``: serve the api worker until SIGINT/SIGTERM.

The engine URL and token come from ``AGENTOS_URL``/``AGENTOS_TOKEN`` (see ``workers.sdk.connect``);
settings from ``AGENTOS_API_*`` (see :mod:`workers.api.config`).
"""

from __future__ import annotations

import logging

from workers.sdk import run

from .config import ApiConfig
from .worker import build_worker

log = logging.getLogger("workers.api")


def main() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = ApiConfig.from_env()
    except ValueError as exc:
        log.error("%s", exc)
        raise SystemExit(2) from exc
    run([build_worker(config)])


if __name__ == "__main__":
    main()
