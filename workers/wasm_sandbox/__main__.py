"""``python -m workers.wasm_sandbox``: serve the sandbox worker until SIGINT/SIGTERM.

The engine URL and token come from ``AGENTOS_URL``/``AGENTOS_TOKEN``; ``AGENTOS_WASM_CONFIG``
names a YAML/JSON file of :class:`~workers.wasm_sandbox.SandboxConfig` settings.
"""

from __future__ import annotations

from workers.sdk import run

from .worker import build_worker


def main() -> None:
    run([build_worker()])


if __name__ == "__main__":
    main()
