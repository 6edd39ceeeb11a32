"""``python -m workers.tools``: serve the tools worker until SIGINT/SIGTERM.

The engine URL and token come from ``AGENTOS_URL``/``AGENTOS_TOKEN``; ``AGENTOS_TOOLS_CONFIG``
names a YAML/JSON file of :class:`~workers.tools.ToolsConfig` settings and ``AGENTOS_DATA_DIR``
the data directory (workspaces live under it).
"""

from __future__ import annotations

from workers.sdk import run

from .worker import build_worker


def main() -> None:
    run([build_worker()])


if __name__ == "__main__":
    main()
