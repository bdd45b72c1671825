"""Dagster's in-process executor, which first tags the run with the process that executes it.

The dead-run sensor (dead_runs.py) can only fail a run whose worker it knows. The warehouse resource tags
its run when it opens, but a worker killed before that (while definitions or resources load, or in a step
that never opens the warehouse) would leave a STARTED run nobody can tell is dead. The executor starts
before any step: tagging there closes that window.
"""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
from dagster._core.definitions.executor_definition import IN_PROC_CONFIG, _core_in_process_executor_creation
from dagster._core.events import DagsterEvent
from dagster._core.execution.context.system import PlanOrchestrationContext
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._core.executor.in_process import InProcessExecutor

from dataforge_assets.lib.worker_process import Worker


class WorkerTaggingExecutor(InProcessExecutor):
    def execute(
        self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan
    ) -> Iterator[DagsterEvent]:
        plan_context.instance.add_run_tags(plan_context.run_id, Worker.this_process().tags())
        yield from super().execute(plan_context, execution_plan)


@dg.executor(name="in_process", config_schema=IN_PROC_CONFIG)
def worker_tagging_in_process_executor(init_context: dg.InitExecutorContext) -> WorkerTaggingExecutor:
    """Every step in one process (no ~4 s spawn per step), the run tagged with that process."""
    plain = _core_in_process_executor_creation(init_context.executor_config)
    return WorkerTaggingExecutor(
        retries=plain.retries,
        step_dependency_config=plain.step_dependency_config,
        marker_to_close=plain.marker_to_close,
    )
