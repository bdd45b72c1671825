"""Runs whose worker process died (kill -9, OOM, power loss) are failed, so run retries and alerts fire.

The default run launcher cannot tell a dead worker from a busy one, and a CLI run has no launcher at
all: such a run would stay STARTED for ever. Every run is tagged with its worker process (by the
executor, worker_executor.py, or at launch by the forked launcher, forked_run_launcher.py, while the run
is still STARTING); this sensor fails a STARTING or STARTED run whose worker, on this host, is gone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import dagster as dg
from dagster._core.events import JobFailureData, RunFailureReason

from dataforge_assets.lib.worker_process import Worker

SENSOR_INTERVAL_SECONDS = 30


@dataclass(frozen=True)
class DeadRun:
    run: dg.DagsterRun
    worker: Worker

    @property
    def message(self) -> str:
        return (
            f"Run worker {self.worker.describe()} is gone (killed or crashed: kill -9, out of memory, power "
            f"loss) while the run was {self.run.status.value}; marked failed so run retries and failure "
            "alerts fire. Its writes that had not committed were rolled back by the warehouse."
        )


def dead_runs(instance: dg.DagsterInstance) -> Iterator[DeadRun]:
    """STARTING or STARTED runs whose worker process on this host no longer exists (or is another
    process now). A STARTING run without a worker tag has no worker yet: it is left alone."""
    statuses = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=statuses)):
        worker = Worker.from_tags(dict(run.tags))
        if worker is not None and worker.alive() is False:
            yield DeadRun(run, worker)


def fail_dead_run(instance: dg.DagsterInstance, dead: DeadRun) -> None:
    """Fail the run (a worker death, not a step failure: run retries apply) and free its pool slots."""
    instance.report_run_failed(
        dead.run,
        dead.message,
        job_failure_data=JobFailureData(error=None, failure_reason=RunFailureReason.UNEXPECTED_TERMINATION),
    )
    if instance.event_log_storage.supports_global_concurrency_limits:
        instance.event_log_storage.free_concurrency_slots_for_run(dead.run.run_id)


@dg.sensor(
    name="fail_dead_runs",
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Fails STARTING or STARTED runs whose worker process on this host is gone (killed or crashed), so run retries "
        "and failure alerts fire and nothing waits on them."
    ),
)
def fail_dead_runs(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    failed = []
    for dead in dead_runs(context.instance):
        fail_dead_run(context.instance, dead)
        context.log.warning(f"run {dead.run.run_id}: {dead.message}")
        failed.append(dead.run.run_id)
    return dg.SkipReason(f"failed dead run(s): {', '.join(failed)}" if failed else "no dead runs")
