"""Detecting a local Ollama: one short ``GET /api/tags`` at start.

Present → its models become ``ollama_chat/<name>`` targets (see
:class:`~workers.llm_router.config.OllamaSettings`); absent, slow or not Ollama → nothing is
listed. The probe is bounded by ``probe_timeout_s`` however the port behaves, so a worker
never waits on it.
"""

from __future__ import annotations

import logging

import anyio
import httpx

from .config import ModelSpec, OllamaSettings

__all__ = ["ollama_specs", "probe_ollama"]

log = logging.getLogger(__name__)


async def probe_ollama(settings: OllamaSettings) -> list[str]:
    """The names of the models a local Ollama serves, or [] when none answers in time.

    Call it once at start (it is what ``python -m workers.llm_router`` does).
    """
    if not settings.autodetect:
        return []
    url = settings.base_url.rstrip("/") + "/api/tags"
    try:
        with anyio.fail_after(settings.probe_timeout_s):
            async with httpx.AsyncClient(timeout=settings.probe_timeout_s, trust_env=False) as client:
                response = await client.get(url)
        response.raise_for_status()
        models = response.json().get("models") or []
        names = [str(m["name"]) for m in models if isinstance(m, dict) and m.get("name")]
    except (httpx.HTTPError, TimeoutError, ValueError, AttributeError, KeyError) as exc:
        log.info("no Ollama at %s (%s)", settings.base_url, type(exc).__name__)
        return []
    log.info("Ollama at %s serves %d models", settings.base_url, len(names))
    return names


def ollama_specs(settings: OllamaSettings, names: list[str]) -> list[ModelSpec]:
    """The model specs of detected Ollama models; the preferred ``settings.model`` first."""
    ordered = sorted(names, key=lambda n: n != settings.model and n.split(":")[0] != settings.model)
    return [ModelSpec(model=f"ollama_chat/{name}", api_base=settings.base_url.rstrip("/"),
                      supports_tools=None) for name in ordered]
