"""Drift and anomaly detection against a real DuckDB warehouse and a real Dagster instance."""

from pathlib import Path

import dagster as dg

from dataforge_assets.lib.anomaly import load_sizes
from dataforge_assets.lib.drift import detect
from dataforge_assets.lib.warehouse import DuckDBWarehouse


def _warehouse(tmp_path: Path) -> DuckDBWarehouse:
    warehouse = DuckDBWarehouse(database=str(tmp_path / "w.duckdb"))
    warehouse.execute("CREATE SCHEMA raw")
    warehouse.execute("CREATE TABLE raw.t (id VARCHAR, delay BIGINT, gate VARCHAR, _dlt_load_id VARCHAR)")
    warehouse.execute("INSERT INTO raw.t VALUES ('1', 5, 'A1', '100'), ('2', 7, 'B2', '100')")
    return warehouse


def test_first_load_has_nothing_to_compare(tmp_path: Path) -> None:
    drift = detect(_warehouse(tmp_path), "t", declared=["id", "delay"])
    assert drift.lines() == [] and drift.latest_load == "100"


def test_changed_type_new_and_dropped_columns_are_named(tmp_path: Path) -> None:
    warehouse = _warehouse(tmp_path)
    detect(warehouse, "t", declared=["id", "delay"])  # records the first load's columns
    # The next load: delay arrives as text (dlt's variant column), gate is gone, terminal is new.
    warehouse.execute("ALTER TABLE raw.t ADD COLUMN delay__v_text VARCHAR")
    warehouse.execute("ALTER TABLE raw.t ADD COLUMN terminal VARCHAR")
    warehouse.execute("INSERT INTO raw.t VALUES ('3', NULL, NULL, '200', 'late', 'T4')")
    drift = detect(warehouse, "t", declared=["id", "delay", "carrier"])
    assert drift.previous_load == "100" and drift.latest_load == "200"
    assert drift.added == {"terminal": "VARCHAR"}
    assert drift.retyped == {"delay": ("BIGINT", "text")}
    assert drift.dropped == {"delay": "BIGINT", "gate": "VARCHAR"}
    assert drift.undeclared_missing == ["carrier"]
    assert drift.breaking
    assert "column 'gate' (VARCHAR) dropped: no values in load 200" in drift.lines()
    assert "column 'delay' changed type: BIGINT -> text" in drift.lines()
    # Re-running the check without a new load still reports the latest load's drift.
    assert detect(warehouse, "t", declared=[]).added == {"terminal": "VARCHAR"}


def test_type_change_in_place_is_named_with_old_and_new_type(tmp_path: Path) -> None:
    warehouse = _warehouse(tmp_path)
    detect(warehouse, "t", declared=[])
    warehouse.execute("ALTER TABLE raw.t ALTER COLUMN delay TYPE VARCHAR")
    warehouse.execute("INSERT INTO raw.t VALUES ('3', '9', 'C3', '300')")
    assert detect(warehouse, "t", declared=[]).retyped == {"delay": ("BIGINT", "VARCHAR")}


class Rows(dg.Config):
    rows: int


def _report(instance: dg.DagsterInstance, key: dg.AssetKey, rows: int) -> None:
    """A materialization of `key` reporting `rows_loaded`, as the raw assets do."""

    @dg.asset(key=key)
    def _load(config: Rows) -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"rows_loaded": config.rows})

    run_config = {"ops": {key.to_python_identifier(): {"config": {"rows": rows}}}}
    assert dg.materialize([_load], instance=instance, run_config=run_config).success


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
