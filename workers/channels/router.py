"""Which agent answers a chat (pure): a state override, the chat's entry, the default, or none.

Precedence: a route set at run time with ``channels::route::set`` (kept in state scope
``channels:routes`` under ``<platform>:<account>:<chat>``), then the config's ``chats`` entry, then its
``default_agent``. ``None`` means "nobody": the caller must tell the sender so, with
:func:`no_agent_text`, never drop the message.
"""

from __future__ import annotations

from .config import Route

__all__ = ["ROUTES_SCOPE", "no_agent_text", "resolve", "route_key"]

ROUTES_SCOPE = "channels:routes"


def route_key(platform: str, account: str, chat_id: str) -> str:
    """The state key of a run-time route (``account``: the Telegram bot, else the platform)."""
    return f"{platform}:{account}:{chat_id}"


def resolve(route: Route | None, chat_id: str, override: str | None = None) -> str | None:
    """The agent for ``chat_id``, or None when nothing is configured."""
    if override:
        return override
    if route is None:
        return None
    return route.chats.get(chat_id) or route.default_agent


def no_agent_text(config_path: str) -> str:
    """The explicit answer when no agent is configured (``config_path``: e.g. ``channels.slack``)."""
    return f"No agent is configured for this chat; set {config_path}.default_agent"
