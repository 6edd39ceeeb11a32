"""AgentOS engine: an iii-compatible message bus with built-in state, queue, pub/sub, cron, HTTP
and stream modules. Start it with ``agentos start``; embed it with :class:`engine.node.Node`."""

__version__ = "0.1.0"
