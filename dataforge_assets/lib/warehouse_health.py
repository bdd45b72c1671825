"""The PostgreSQL warehouse's health: database and WAL size, observed on a schedule.

Each observation records the figures as metadata of `warehouse/postgres_health`, so the UI plots them
over time. Only the PostgreSQL warehouse has it: a DuckDB file's size is plain to see on disk.
"""

import warnings

import dagster as dg

from dataforge_assets.lib.warehouse import PostgresWarehouse, Warehouse

HEALTH_KEY = dg.AssetKey(["warehouse", "postgres_health"])
HEALTH_CRON = "*/15 * * * *"


def postgres_health(warehouse: Warehouse) -> dg.ObserveResult:
    if not isinstance(warehouse, PostgresWarehouse):
        raise TypeError(f"postgres_health observes a PostgreSQL warehouse, got {type(warehouse).__name__}")
    figures = warehouse.health()
    metadata: dict[str, dg.RawMetadataValue] = {
        "database": figures["database"],
        "wal_lsn": figures["wal_lsn"],
    }
    for name in ("database_size_bytes", "wal_size_bytes", "wal_files", "wal_written_bytes"):
        if name in figures:
            metadata[name] = dg.MetadataValue.int(int(figures[name]))
    return dg.ObserveResult(metadata=metadata)


# An observable source asset is Dagster's way to record figures of something it does not build; the API is
# marked beta, which every command loading this module would otherwise print.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)
    postgres_health = dg.observable_source_asset(
        key=HEALTH_KEY,
        group_name="warehouse",
        description=(
            "Size of the PostgreSQL warehouse database and of its write-ahead log, observed every 15 minutes."
        ),
    )(postgres_health)


health_job = dg.define_asset_job("postgres_health_job", selection=[HEALTH_KEY])

health_schedule = dg.ScheduleDefinition(
    name="postgres_health_schedule",
    job=health_job,
    cron_schedule=HEALTH_CRON,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)


def warehouse_health_defs() -> dg.Definitions:
    return dg.Definitions(assets=[postgres_health], jobs=[health_job], schedules=[health_schedule])
