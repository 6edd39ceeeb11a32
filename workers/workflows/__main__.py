"""``python -m workers.workflows``: serve the workflows worker (AGENTOS_URL / AGENTOS_TOKEN)."""

from workers.sdk import run

from .worker import build_worker

if __name__ == "__main__":
    run([build_worker()])
