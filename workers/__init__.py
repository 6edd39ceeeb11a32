"""AgentOS workers: one package per worker, plus :mod:`workers.sdk`, the SDK they are built on.

Each worker package exposes a :class:`workers.sdk.Worker` and runs with ``python -m
workers.<name>`` (which calls :func:`workers.sdk.run`). Workers never import each other: they call
each other's functions through the engine with ``trigger()``.
"""
