"""The AgentOS worker SDK: define functions, bundle them in workers, serve them on the engine.

::

    from workers.sdk import Context, Worker, function, run

    @function("greet::hello", description="Say hello")
    async def hello(data: dict, ctx: Context) -> dict:
        return {"message": f"hello {data['name']}", "realm": ctx.realm}

    worker = Worker("greeter", functions=[hello])

    if __name__ == "__main__":
        run([worker])

The test harness lives in :mod:`workers.sdk.testing` (``FunctionEnvironment``).
"""

from .backoff import Backoff
from .channels import (
    ChannelError,
    ChannelReader,
    ChannelWriter,
    channel_from_ref,
    http_response,
    open_channel,
)
from .connection import Connection, ConnectionStatistics, connect
from .context import Call, Context, current_context
from .errors import (
    AuthenticationError,
    ConnectionLost,
    DefinitionError,
    FunctionNotFound,
    InvalidState,
    InvocationError,
    InvocationStopped,
    InvocationTimeout,
    NoContextError,
    RegistrationRejectedError,
    SdkError,
)
from .function import FunctionDef, function
from .options import ConnectOptions
from .run import run, serve
from .state import ConnectionState
from .triggers import Binding, TriggerBinding, TriggerConfig, TriggerTypeDef, TriggerTypeProvider
from .worker import Worker

__all__ = [
    # definitions
    "function",
    "FunctionDef",
    "Worker",
    "TriggerBinding",
    "TriggerTypeDef",
    "TriggerTypeProvider",
    "TriggerConfig",
    # connection
    "connect",
    "Connection",
    "ConnectOptions",
    "ConnectionState",
    "ConnectionStatistics",
    "Backoff",
    "Binding",
    "run",
    "serve",
    # data channels
    "open_channel",
    "channel_from_ref",
    "ChannelReader",
    "ChannelWriter",
    "ChannelError",
    "http_response",
    # inside a handler
    "Context",
    "current_context",
    "Call",
    # errors
    "SdkError",
    "InvocationError",
    "InvocationTimeout",
    "InvocationStopped",
    "FunctionNotFound",
    "ConnectionLost",
    "AuthenticationError",
    "RegistrationRejectedError",
    "DefinitionError",
    "InvalidState",
    "NoContextError",
]
