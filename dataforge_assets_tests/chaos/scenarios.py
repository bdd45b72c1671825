"""The scenarios: kill -9 series, cut PostgreSQL connections, concurrent writers. Each returns its
figures for the scoreboard; the invariants are in verify.py."""

from __future__ import annotations

import random
import re
import statistics
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import dagster as dg

from dataforge_assets.lib.environment import REPO_ROOT
from dataforge_assets_tests.chaos.lab import RUN_TIMEOUT, Lab
from dataforge_assets_tests.chaos.runner import DAGSTER, KILL_POINTS, Run, run_with_fault, sigkill
from dataforge_assets_tests.chaos.verify import Findings

LOCK_TROUBLE = re.compile(r"lock", re.IGNORECASE)


@dataclass
class Result:
    scenario: str
    warehouse: str
    runs: int = 0
    faults: int = 0  # kills, or cut connections
    faults_by_phase: Counter = field(default_factory=Counter)
    clean_runs_failed: int = 0
    lock_errors: int = 0
    recover_seconds: list[float] = field(default_factory=list)
    findings: Findings = field(default_factory=Findings)
    seconds: float = 0.0

    def absorb(self, found: Findings) -> None:
        for name in ("lost", "duplicated", "stale", "misplaced_loads", "stats_mismatches"):
            setattr(self.findings, name, getattr(self.findings, name) + getattr(found, name))
        for note in found.notes:
            self.findings.note(note)

    @property
    def passed(self) -> bool:
        return self.findings.exact and not self.clean_runs_failed and not self.lock_errors

    @property
    def recovery(self) -> str:
        if not self.recover_seconds:
            return "-"
        return f"{statistics.median(self.recover_seconds):.1f} / {max(self.recover_seconds):.1f}"


def start(lab: Lab, clean_run: bool = True) -> None:
    """The first delivery and (unless the first fault should hit an empty warehouse) a clean first run."""
    lab.deliveries.first()
    if not clean_run:
        return
    outcome = lab.clean_run()
    if outcome.returncode != 0:
        raise RuntimeError(f"the first clean run failed (rc {outcome.returncode}), see {outcome.log}")


def _recover(lab: Lab, result: Result) -> None:
    """One clean run after a series, then the comparison with the files."""
    outcome = lab.clean_run()
    result.runs += 1
    result.recover_seconds.append(outcome.seconds)
    if outcome.returncode != 0:
        result.clean_runs_failed += 1
        result.findings.note(f"clean run failed (rc {outcome.returncode}): {outcome.log}")
    result.absorb(lab.verify())


def kill_series(
    lab: Lab,
    kills: int,
    series: int,
    rng: random.Random,
    max_delay: float,
    points: Sequence[tuple[str, str]] = (),
    progress: Callable[[Result], None] = lambda result: None,
    recover_at_end: bool = True,
) -> Result:
    """`kills` SIGKILLs spread over the phases (a random phase, then a random step of it; or `points`
    in turn), a random delay after the step starts; a clean run after every `series` kills (and after
    the last, unless the caller's next scenario recovers and verifies instead)."""
    result = Result("kill -9 at random points of every phase", lab.warehouse)
    began = time.monotonic()
    phases = sorted({phase for phase, _ in KILL_POINTS})
    since_clean = attempts = 0
    round_robin: list[str] = []
    while result.faults < kills and attempts < kills * 3:
        attempts += 1
        lab.deliveries.next(rng)
        if points:
            phase, marker = points[(attempts - 1) % len(points)]
        else:
            # Phases in a fresh random order every round, so none is left out by chance.
            if not round_robin:
                round_robin = rng.sample(phases, len(phases))
            phase = round_robin.pop()
            marker = rng.choice([m for p, m in KILL_POINTS if p == phase])
        delay = rng.uniform(0, max_delay)
        outcome = run_with_fault(
            lab.process_env, lab.log(f"kill_{marker}"), marker, delay, sigkill, RUN_TIMEOUT
        )
        result.runs += 1
        if outcome.fired:
            result.faults += 1
            result.faults_by_phase[phase] += 1
            since_clean += 1
        if since_clean >= series or (result.faults >= kills and recover_at_end):
            _recover(lab, result)
            result.seconds = time.monotonic() - began
            progress(result)
            since_clean = 0
    result.seconds = time.monotonic() - began
    return result


def connection_cuts(
    lab: Lab, cuts: int, rng: random.Random, max_delay: float, points: Sequence[tuple[str, str]] = ()
) -> Result:
    """PostgreSQL: every backend of the warehouse database terminated mid-load; the run goes on (and
    fails or retries), then one clean run must restore the exact state."""
    result = Result("PostgreSQL warehouse connections terminated mid-load", lab.warehouse)
    began = time.monotonic()
    points = points or [
        ("dlt", "raw_flights"),
        ("normalized", "normalized__flights"),
        ("stats", "stats__route_stats"),
    ]
    for n in range(cuts):
        lab.deliveries.next(rng)
        phase, marker = points[n % len(points)]

        def cut(run: Run) -> None:
            lab.terminate_warehouse_backends()

        outcome = run_with_fault(
            lab.process_env, lab.log(f"cut_{marker}"), marker, rng.uniform(0, max_delay), cut, RUN_TIMEOUT
        )
        result.runs += 1
        if outcome.fired:
            result.faults += 1
            result.faults_by_phase[phase] += 1
    _recover(lab, result)
    result.seconds = time.monotonic() - began
    return result


def concurrent_writers(lab: Lab, rng: random.Random) -> Result:
    """Two full materializations started at once while the daemon's landing sensor launches a third
    run for a new file: all end, none fails on the writer lock, and the state is exact."""
    result = Result("two materializations at once + a sensor-launched run", lab.warehouse)
    began = time.monotonic()
    env = {**lab.process_env, "DATAFORGE_SENSOR_INTERVAL_SECONDS": "2"}
    daemon = subprocess.Popen(
        [str(DAGSTER.with_name("dagster-daemon")), "run", "-w", "workspace.yaml"],
        env=env,
        cwd=REPO_ROOT,
        stdout=open(lab.log("daemon"), "w"),  # noqa: SIM115 - the daemon's own log file
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    since = datetime.now(UTC)
    try:
        lab.deliveries.next(rng)
        both = [Run(lab.process_env, lab.log(f"concurrent_{n}")) for n in (1, 2)]
        outcomes = [run.finish(RUN_TIMEOUT) for run in both]
        result.runs += 2
        sensor_runs = _wait_for_sensor_runs(lab, since)
        result.runs += len(sensor_runs)
        for outcome in outcomes:
            if outcome.returncode != 0:
                result.clean_runs_failed += 1
                result.findings.note(f"concurrent run failed (rc {outcome.returncode}): {outcome.log}")
                failure = outcome.text().partition("STEP_FAILURE")[2]
                result.lock_errors += bool(LOCK_TROUBLE.search(failure))
        for run in sensor_runs:
            if run.status != dg.DagsterRunStatus.SUCCESS:
                result.clean_runs_failed += 1
                result.findings.note(f"sensor-launched run {run.run_id} ended {run.status.value}")
                records = instance_for(lab).all_logs(run.run_id)
                failure = " ".join(
                    str(r.user_message)
                    for r in records
                    if r.is_dagster_event
                    and (r.dagster_event.is_step_failure or r.dagster_event.is_run_failure)
                )
                result.lock_errors += bool(LOCK_TROUBLE.search(failure))
        if not sensor_runs:
            result.findings.note("the landing sensor launched no run")
            result.clean_runs_failed += 1
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
    _recover(lab, result)
    result.seconds = time.monotonic() - began
    return result


def instance_for(lab: Lab) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(lab.process_env["DAGSTER_HOME"])


def _wait_for_sensor_runs(lab: Lab, since: datetime) -> list[dg.DagsterRun]:
    """Once every run created since `since` has ended (the CLI runs, what the landing sensor and the
    automation launched, retries of runs killed earlier), the runs the daemon's sensors launched."""
    instance = instance_for(lab)
    deadline = time.monotonic() + RUN_TIMEOUT
    finished = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
    quiet_since = None
    while time.monotonic() < deadline:
        runs = [r.dagster_run for r in instance.get_run_records(dg.RunsFilter(created_after=since))]
        sensor_runs = [r for r in runs if r.tags.get("dagster/sensor_name")]
        if sensor_runs and all(r.status in finished for r in runs):
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since > 10:  # automation may still follow with a downstream run
                return sensor_runs
        else:
            quiet_since = None
        time.sleep(2)
    return [r for r in instance.get_runs() if r.tags.get("dagster/sensor_name")]
