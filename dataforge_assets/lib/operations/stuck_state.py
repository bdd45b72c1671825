"""What a crash can leave behind, found and (where safe) cleared: the operator's `status` and `heal`.

- runs STARTED whose worker is gone (dead_runs.py);
- the DuckDB writer lock: who holds it, or the stale holder a killed writer left in the file;
- concurrency pool slots still claimed by finished or dead runs;
- half-done loads: dlt load packages left pending, normalized loads not in the processed-loads ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb
from dagster._core.storage.dagster_run import FINISHED_STATUSES

from dataforge_assets.lib.environment import Environment
from dataforge_assets.lib.normalize import LOAD_ID, NORMALIZED, PROCESSED_LOADS
from dataforge_assets.lib.operations.dead_runs import DeadRun, dead_runs, fail_dead_run
from dataforge_assets.lib.warehouse.writer_lock import (
    WarehouseLockTimeout,
    clear_stale_holder,
    lock_path_for,
    lock_state,
    read_holder,
)


@dataclass
class Findings:
    dead_runs: list[DeadRun] = field(default_factory=list)
    lock: str = ""  # one line on the writer lock
    stale_lock_holder: bool = False
    orphan_slots: list[tuple[str, str, str]] = field(default_factory=list)  # pool, run id, step
    half_done_loads: list[str] = field(default_factory=list)

    @property
    def needs_heal(self) -> bool:
        return bool(self.dead_runs or self.stale_lock_holder or self.orphan_slots)

    def lines(self) -> list[str]:
        lines = [
            f"stuck run {d.run.run_id} ({d.run.job_name}): STARTED, but its worker {d.worker.describe()} "
            "is gone (killed or crashed)"
            for d in self.dead_runs
        ]
        lines.append(f"writer lock: {self.lock}")
        lines += [
            f"pool {pool}: slot held by finished or dead run {run} (step {step})"
            for pool, run, step in self.orphan_slots
        ]
        lines += [f"half-done load: {load}" for load in self.half_done_loads]
        return lines


def inspect(instance: dg.DagsterInstance, env: Environment) -> Findings:
    findings = Findings(dead_runs=list(dead_runs(instance)))
    findings.lock, findings.stale_lock_holder = _lock_report(env)
    findings.orphan_slots = _orphan_slots(instance, {d.run.run_id for d in findings.dead_runs})
    findings.half_done_loads = _pending_dlt_packages(env) + _unrecorded_normalized_loads(env)
    return findings


def heal(instance: dg.DagsterInstance, env: Environment) -> list[str]:
    """Fail dead runs, free slots of finished/dead runs, forget a dead writer's lock info; says what it did."""
    done = []
    findings = inspect(instance, env)
    for dead in findings.dead_runs:
        fail_dead_run(instance, dead)
        done.append(f"failed run {dead.run.run_id}: worker {dead.worker.describe()} is gone")
    for run_id in sorted({run for _, run, _ in findings.orphan_slots}):
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
        done.append(f"freed the pool slots of run {run_id}")
    path = lock_path_for(str(env.duckdb_path))
    if findings.stale_lock_holder and path is not None:
        holder = clear_stale_holder(path)
        if holder is not None:
            done.append(f"removed stale writer-lock info of {holder.describe()} from {path}")
    return done


def _lock_report(env: Environment) -> tuple[str, bool]:
    if env.warehouse != "duckdb":
        return "PostgreSQL: per-table advisory locks, released with their connection", False
    path = lock_path_for(str(env.duckdb_path))
    if path is None or not path.exists():
        return "free (never taken)", False
    state, holder = lock_state(path), read_holder(path)
    alive = holder.worker.alive() if holder else None
    if state == "exclusive" and holder:
        return f"held for writing by {holder.describe()} (alive)", False
    if state == "shared":
        return "held for reading by read-only session(s)", holder is not None and alive is False
    if holder and alive is False:
        return f"free; the file still names dead holder {holder.describe()} (stale)", True
    return "free", False


def _orphan_slots(instance: dg.DagsterInstance, dead: set[str]) -> list[tuple[str, str, str]]:
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    orphans = []
    for pool in sorted(storage.get_concurrency_keys()):
        for slot in storage.get_concurrency_info(pool).claimed_slots:
            run = instance.get_run_by_id(slot.run_id)
            if run is None or run.status in FINISHED_STATUSES or slot.run_id in dead:
                orphans.append((pool, slot.run_id, slot.step_key))
    return orphans


def _pending_dlt_packages(env: Environment) -> list[str]:
    import dlt

    pending = []
    root = env.dlt_pipelines_dir
    for folder in sorted(p for p in root.glob("*") if p.is_dir()) if root.exists() else []:
        try:
            pipeline = dlt.attach(pipeline_name=folder.name, pipelines_dir=str(root))
            packages = [*pipeline.list_extracted_load_packages(), *pipeline.list_normalized_load_packages()]
        except Exception:  # noqa: BLE001 - a folder dlt cannot attach to has no packages we can name
            continue
        pending += [
            f"dlt pipeline {folder.name}: load package {p} not loaded (re-run its raw assets)"
            for p in packages
        ]
    return pending


def _unrecorded_normalized_loads(env: Environment) -> list[str]:
    from dataforge_assets.lib.warehouse import DuckDBWarehouse
    from dataforge_assets.resources import warehouse_for

    if env.warehouse == "duckdb" and not Path(env.duckdb_path).exists():
        return []
    # A look, not a wait: a few seconds at most behind a writer.
    warehouse = (
        DuckDBWarehouse(database=str(env.duckdb_path), lock_timeout_seconds=5)
        if env.warehouse == "duckdb"
        else warehouse_for(env)
    ).process_config_and_initialize()
    try:
        with warehouse.session(read_only=True):
            if not warehouse.table_exists(NORMALIZED, PROCESSED_LOADS):
                return []
            tables = (
                warehouse.query(
                    "SELECT table_name FROM information_schema.columns WHERE table_schema = ? AND column_name = ?",
                    (NORMALIZED, LOAD_ID),
                )
                .column(0)
                .to_pylist()
            )
            found = []
            for table in sorted(set(tables) - {PROCESSED_LOADS}):
                loads = (
                    warehouse.query(
                        f'SELECT DISTINCT {LOAD_ID} FROM {NORMALIZED}."{table}" WHERE {LOAD_ID} NOT IN '
                        f"(SELECT load_id FROM {NORMALIZED}.{PROCESSED_LOADS} WHERE table_name = ?)",
                        (table,),
                    )
                    .column(0)
                    .to_pylist()
                )
                found += [
                    f"{NORMALIZED}.{table}: load {load} not in {PROCESSED_LOADS} (re-run {NORMALIZED}/{table})"
                    for load in loads
                ]
            return found
    except WarehouseLockTimeout:
        return ["(normalized loads not inspected: a writer holds the warehouse; try again later)"]
    except duckdb.Error as error:
        return [f"(normalized loads not inspected: {error})"]
