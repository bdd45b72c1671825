"""Drift and anomaly detection against a real DuckDB warehouse and a real Dagster instance."""

from pathlib import Path

import dagster as dg

from dataforge_assets.lib.anomaly import load_sizes
from dataforge_assets.lib.drift import Schemas, detect
from dataforge_assets.lib.metadata import table_metadata
from dataforge_assets.lib.partitions import range_tags
from dataforge_assets.lib.raw_checks import SCHEMA_DRIFT, RawTableChecks, raw_check_specs, run_raw_checks
from dataforge_assets.lib.warehouse import DuckDBWarehouse


def _warehouse(tmp_path: Path) -> DuckDBWarehouse:
    warehouse = DuckDBWarehouse(database=str(tmp_path / "w.duckdb"))
    warehouse.execute("CREATE SCHEMA raw")
    warehouse.execute("CREATE TABLE raw.t (id VARCHAR, delay BIGINT, gate VARCHAR, _dlt_load_id VARCHAR)")
    warehouse.execute("INSERT INTO raw.t VALUES ('1', 5, 'A1', '100'), ('2', 7, 'B2', '100')")
    return warehouse


def _schema(warehouse: DuckDBWarehouse) -> dg.TableSchema:
    """The column schema a raw materialization reports (metadata.py)."""
    return table_metadata(warehouse, "raw", "t")["dagster/column_schema"]


# The next load: delay arrives as text (dlt's variant column), gate is gone, terminal is new.
SECOND_LOAD = [
    "ALTER TABLE raw.t ADD COLUMN delay__v_text VARCHAR",
    "ALTER TABLE raw.t ADD COLUMN terminal VARCHAR",
    "INSERT INTO raw.t VALUES ('3', NULL, NULL, '200', 'late', 'T4')",
]


def test_first_load_has_nothing_to_compare(tmp_path: Path) -> None:
    warehouse = _warehouse(tmp_path)
    drift = detect(warehouse, "t", declared=["id", "delay"], schemas=Schemas(latest=_schema(warehouse)))
    assert drift.lines() == [] and drift.latest_load == "100"


def test_changed_type_new_and_dropped_columns_are_named(tmp_path: Path) -> None:
    warehouse = _warehouse(tmp_path)
    first = _schema(warehouse)
    for statement in SECOND_LOAD:
        warehouse.execute(statement)
    schemas = Schemas(latest=_schema(warehouse), previous=first)
    drift = detect(warehouse, "t", declared=["id", "delay", "carrier"], schemas=schemas)
    assert drift.latest_load == "200"
    assert drift.added == {"terminal": "VARCHAR"}
    assert drift.retyped == {"delay": ("BIGINT", "text")}
    assert drift.dropped == {"delay": "BIGINT", "gate": "VARCHAR"}
    assert drift.undeclared_missing == ["carrier"]
    assert drift.breaking
    assert "column 'gate' (VARCHAR) dropped: no values in load 200" in drift.lines()
    assert "column 'delay' changed type: BIGINT -> text" in drift.lines()


def test_type_change_in_place_is_named_with_old_and_new_type(tmp_path: Path) -> None:
    warehouse = _warehouse(tmp_path)
    first = _schema(warehouse)
    warehouse.execute("ALTER TABLE raw.t ALTER COLUMN delay TYPE VARCHAR")
    warehouse.execute("INSERT INTO raw.t VALUES ('3', '9', 'C3', '300')")
    drift = detect(warehouse, "t", declared=[], schemas=Schemas(latest=_schema(warehouse), previous=first))
    assert drift.retyped == {"delay": ("BIGINT", "VARCHAR")}


class Statements(dg.Config):
    sql: list[str] = []


def test_the_check_compares_the_schemas_of_the_last_two_materializations(tmp_path: Path) -> None:
    """The real check, in runs, in the load's own step (as the raw assets run it): the comparison reads
    the instance's materializations, the one the step just reported included, and re-running the check
    alone, without a new materialization, reports the same drift."""
    warehouse = _warehouse(tmp_path)
    key = dg.AssetKey(["raw", "t"])
    checked = RawTableChecks("t", ["id", "delay"], files=False)

    @dg.multi_asset(specs=[dg.AssetSpec(key)], check_specs=raw_check_specs(checked), can_subset=True)
    def _raw(context: dg.AssetExecutionContext, config: Statements, warehouse: DuckDBWarehouse):
        if context.selected_asset_keys:
            for statement in config.sql:
                warehouse.execute(statement)
            yield dg.MaterializeResult(asset_key=key, metadata=table_metadata(warehouse, "raw", "t"))
        yield from run_raw_checks(context, warehouse, {"t": checked})

    resources = {"warehouse": warehouse}
    drift = dg.AssetCheckKey(key, SCHEMA_DRIFT)

    def run(sql: list[str], selection: dg.AssetSelection | None = None) -> dg.AssetCheckEvaluation:
        config = {"ops": {"_raw": {"config": {"sql": sql}}}}
        result = dg.materialize(
            [_raw], instance=instance, resources=resources, run_config=config, selection=selection
        )
        (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == SCHEMA_DRIFT]
        return evaluation

    with dg.instance_for_test() as instance:
        assert run([]).passed  # one materialization: nothing to compare
        changed = run(SECOND_LOAD)
        assert not changed.passed and changed.severity == dg.AssetCheckSeverity.ERROR
        assert changed.description == (
            "new column 'terminal' (VARCHAR); column 'delay' (BIGINT) dropped: no values in load 200; "
            "column 'gate' (VARCHAR) dropped: no values in load 200; column 'delay' changed type: BIGINT -> text"
        )
        again = run([], selection=dg.AssetSelection.checks(drift))
        assert again.description == changed.description
        assert again.metadata["changed_types"].value == {"delay": {"old": "BIGINT", "new": "text"}}
        # The check alone loaded nothing: still the two materializations.
        assert len(instance.fetch_materializations(key, limit=10).records) == 2


class Rows(dg.Config):
    rows: int


def _report(instance: dg.DagsterInstance, key: dg.AssetKey, rows: int) -> None:
    """A materialization of `key` reporting `rows_loaded`, as the raw assets do."""

    @dg.asset(key=key)
    def _load(config: Rows) -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"rows_loaded": config.rows})

    run_config = {"ops": {key.to_python_identifier(): {"config": {"rows": rows}}}}
    assert dg.materialize([_load], instance=instance, run_config=run_config, tags=range_tags()).success


def test_load_far_outside_recent_history_is_flagged() -> None:
    key = dg.AssetKey(["raw", "flights"])
    with dg.instance_for_test() as instance:
        for rows in (27_000, 0, 28_500, 26_000):  # 0: a run that found nothing new is no load
            _report(instance, key, rows)
        assert not load_sizes(instance, key).anomalous  # the latest is in line with the others
        _report(instance, key, 120)
        sizes = load_sizes(instance, key)
        assert sizes.latest == 120 and sizes.history == [26_000, 28_500, 27_000]
        assert sizes.anomalous
        assert sizes.describe() == (
            "latest load: 120 rows, outside the expected 5200..142500 from the last 3 loads "
            "(min 26000, median 27000, max 28500)"
        )
        _report(instance, key, 0)
        assert not load_sizes(instance, key).anomalous


def test_too_little_history_is_not_judged() -> None:
    key = dg.AssetKey(["raw", "weather"])
    with dg.instance_for_test() as instance:
        _report(instance, key, 10)
        _report(instance, key, 10_000)
        sizes = load_sizes(instance, key)
        assert not sizes.anomalous and "only 1 earlier load(s)" in sizes.describe()
