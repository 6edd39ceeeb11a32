"""integrations: MCP servers as bus functions (``mcp::<id>::<tool>``), and engine functions as
an MCP server (:mod:`.serve`).

Modules::

    config   integrations/<id>.toml loading (IntegrationConfig)
    client   McpLink: one supervised MCP server, its tools registered and unregistered
    worker   Integrations: the links plus mcp::list / mcp::status
    serve    the reverse server (python -m workers.integrations.serve)
"""

from .client import LinkStatus, McpLink, Registrar, result_json, tool_function_id
from .config import IntegrationConfig, load_integrations
from .worker import Integrations

__all__ = ["IntegrationConfig", "Integrations", "LinkStatus", "McpLink", "Registrar",
           "load_integrations", "result_json", "tool_function_id"]
