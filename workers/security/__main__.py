"""``python -m workers.security``: serve the security worker until SIGINT/SIGTERM.

The engine URL and token come from ``AGENTOS_URL``/``AGENTOS_TOKEN`` (see ``workers.sdk.connect``);
``AGENTOS_DATA_DIR``, ``AGENTOS_VAULT_KEY`` and ``AGENTOS_VAULT_READERS`` configure the worker
(see :mod:`workers.security.config`).
"""

from __future__ import annotations

from workers.sdk import run

from .worker import build_worker


def main() -> None:
    run([build_worker()])


if __name__ == "__main__":
    main()
