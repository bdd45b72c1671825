"""A failure injected into a real raw asset is retried per its policy; run stats record failure and reason."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from dataforge_assets.lib.operations.run_stats import run_stats_table
from dataforge_assets.lib.partitions import range_tags
from dataforge_assets_tests.conftest import Platform
from dataforge_assets_tests.demo_data import land_flights, month_sample
from dataforge_assets_tests.failure_injection import FlakyDlt, source_with_retry


def _materialize(platform: Platform, source: dg.Definitions, dlt: FlakyDlt) -> dg.ExecuteInProcessResult:
    resources = {**platform.definitions().resources, "dlt": dlt}
    return dg.materialize(
        source.assets,
        resources=resources,
        instance=platform.instance,
        raise_on_error=False,
        tags=range_tags(),
    )


def _events(result: dg.ExecuteInProcessResult, kind: dg.DagsterEventType) -> list[dg.DagsterEvent]:
    return [e for e in result.all_events if e.event_type == kind]


def test_yaml_retry_policy_is_on_the_raw_op(platform: Platform) -> None:
    defs = platform.definitions()
    raw_flights = defs.resolve_assets_def(dg.AssetKey(["raw", "flights"]))
    policy = raw_flights.op.retry_policy
    assert policy is not None
    # defs/raw/flights/defs.yaml: max_retries 3, delay_seconds 5; the platform adds backoff and jitter.
    assert (policy.max_retries, policy.delay) == (3, 5)
    assert policy.backoff == dg.Backoff.EXPONENTIAL and policy.jitter == dg.Jitter.PLUS_MINUS


def test_transient_failure_is_retried_and_the_load_completes(platform: Platform, tmp_path: Path) -> None:
    land_flights(platform.env, 1, month_sample(1, 40))
    dlt = FlakyDlt(counter_file=str(tmp_path / "failures"), fail_times=2)

    result = _materialize(
        platform, source_with_retry(tmp_path / "project", "flights", max_retries=3, delay_seconds=0.2), dlt
    )

    assert result.success
    assert dlt.failures() == 2
    assert len(_events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY)) == 2
    assert len(_events(result, dg.DagsterEventType.STEP_RESTARTED)) == 2
    assert platform.count("raw.flights") == 40


def test_exhausted_retries_fail_the_run_and_run_stats_show_why(platform: Platform, tmp_path: Path) -> None:
    land_flights(platform.env, 1, month_sample(1, 30))
    source = source_with_retry(tmp_path / "project", "flights", max_retries=1, delay_seconds=0.1)
    broken = FlakyDlt(counter_file=str(tmp_path / "failures"), fail_times=10)

    failed = _materialize(platform, source, broken)
    assert not failed.success
    assert broken.failures() == 2  # the first attempt and one retry, as the policy says
    assert len(_events(failed, dg.DagsterEventType.STEP_FAILURE)) == 1

    # The next load works; then the platform's run statistics are built from the instance.
    healthy = FlakyDlt(counter_file=str(tmp_path / "none"), fail_times=0)
    assert _materialize(platform, source, healthy).success
    platform.materialize("stats/platform_run_stats")

    rows = platform.sql(
        "SELECT run_count, failure_count, records_processed, last_records_processed, last_failure_reason, "
        "last_failure_at < last_success_at, total_duration_seconds >= last_duration_seconds, "
        "last_duration_seconds > 0, last_failure_run_id "
        "FROM stats.platform_run_stats WHERE asset_key = 'raw/flights'"
    )
    assert len(rows) == 1
    runs, failures, records, last_records, reason, failed_first, total_ge_last, timed, run_id = rows[0]
    assert (runs, failures, records, last_records) == (2, 1, 30, 30)
    assert "ConnectionError" in reason and "injected outage" in reason
    assert "hunter2" not in reason  # credentials in the error never reach the table
    assert failed_first and total_ge_last and timed
    assert run_id == failed.run_id


def test_run_stats_of_an_empty_instance_is_an_empty_table(platform: Platform) -> None:
    table = run_stats_table(platform.instance)
    assert table.num_rows == 0
    assert "last_failure_reason" in table.column_names
