"""``python -m workers.agent_core``: serve the agent-core worker until SIGINT/SIGTERM.

The engine URL and token come from ``AGENTOS_URL``/``AGENTOS_TOKEN`` (see ``workers.sdk.connect``);
``AGENTOS_AGENTS_DIR`` overrides the templates directory (default: the repository's ``agents/``).
"""

from __future__ import annotations

import logging

from workers.sdk import run

from .worker import build_worker


def main() -> None:
    # Templates load (and report bad files) before run() would set logging up.
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    run([build_worker()])


if __name__ == "__main__":
    main()
