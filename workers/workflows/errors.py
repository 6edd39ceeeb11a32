"""Errors of the workflows worker.

One root, drawn here::

    WorkflowError (InvocationError)        code ``workflow_error``
    ├── InvalidWorkflow                    invalid_arguments: bad YAML, bad step, unknown dependency
    │   └── CycleError                     invalid_arguments: the steps' dependencies form a cycle
    ├── ExpressionError                    invalid_expression: a ``when``/``loop`` expression is
    │                                      not in the safe subset, or failed to evaluate
    └── WorkflowNotFound                   not_found

Each is an SDK :class:`~workers.sdk.InvocationError`, so raising one from a handler answers the
caller with its ``code``.
"""

from __future__ import annotations

from typing import ClassVar

from workers.sdk import InvocationError

__all__ = ["CycleError", "ExpressionError", "InvalidWorkflow", "WorkflowError", "WorkflowNotFound"]


class WorkflowError(InvocationError):
    """Root of the errors this package raises on purpose."""

    CODE: ClassVar[str] = "workflow_error"

    def __init__(self, message: str) -> None:
        super().__init__(self.CODE, message)


class InvalidWorkflow(WorkflowError):
    CODE = "invalid_arguments"


class CycleError(InvalidWorkflow):
    """``cycle`` lists the step ids around the loop, the first repeated at the end."""

    def __init__(self, cycle: list[str]) -> None:
        super().__init__(f"the steps' dependencies form a cycle: {' -> '.join(cycle)}")
        self.cycle = cycle


class ExpressionError(WorkflowError):
    CODE = "invalid_expression"


class WorkflowNotFound(WorkflowError):
    CODE = "not_found"
