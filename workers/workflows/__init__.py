"""workflows: declarative DAGs of function and agent steps (``workflow::*``).

Modules::

    spec      WorkflowSpec (YAML/JSON), validation, DAG order and cycle detection
    expr      the safe ``when``/``loop`` expression evaluator (no eval())
    template  ``{{steps.X.output}}`` / ``{{input.x}}`` rendering
    runner    run_workflow: parallel branches, conditions, loops, retries, the run record
    store     run records in engine state
    worker    the Worker (``python -m workers.workflows``)
"""

from .errors import CycleError, ExpressionError, InvalidWorkflow, WorkflowError, WorkflowNotFound
from .expr import compile_expr, evaluate
from .runner import MemoryRunStore, RunStore, StepCaller, run_workflow
from .spec import LoopSpec, RetrySpec, StepSpec, WorkflowSpec, parse_workflow, topological_order
from .worker import build_worker

__all__ = [
    "CycleError", "ExpressionError", "InvalidWorkflow", "LoopSpec", "MemoryRunStore", "RetrySpec",
    "RunStore", "StepCaller", "StepSpec", "WorkflowError", "WorkflowNotFound", "WorkflowSpec",
    "build_worker", "compile_expr", "evaluate", "parse_workflow", "run_workflow",
    "topological_order",
]
