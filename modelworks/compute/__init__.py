"""Executors for heavy compute: local processes by default, a Ray cluster when configured.

Handlers get one through ``TaskContext.executor``; nothing here imports Ray until it is used.
"""

from modelworks.compute.base import Executor
from modelworks.compute.local import LocalProcessExecutor
from modelworks.compute.ray_executor import RayExecutor
from modelworks.compute.registry import create_executor, executor_names, register

__all__ = ["Executor", "LocalProcessExecutor", "RayExecutor", "create_executor", "executor_names", "register"]
