"""`privacy:` in a source's YAML decides what row data reaches the metadata store: previews of its raw
tables, and failure samples of the normalized tables built from them."""

from __future__ import annotations

from pathlib import Path

import duckdb
from pytest_httpserver import HTTPServer

from dataforge_assets.defs.normalized.flights import FLIGHTS
from dataforge_assets.lib import privacy
from dataforge_assets.lib.normalized_asset import check_contract
from dataforge_assets.lib.privacy import PrivacySpec
from dataforge_assets.lib.warehouse import DuckDBWarehouse
from dataforge_assets_tests.conftest import Platform, materialization_metadata
from dataforge_assets_tests.demo_data import land_flights, land_reference, month_sample
from dataforge_assets_tests.source_yaml import load_source, materialize
from dataforge_assets_tests.test_source_rest_api_hostile import ROWS


def test_raw_preview_masks_drops_or_is_off_per_table(
    platform: Platform, httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/items").respond_with_json({"data": ROWS})
    yaml = f"""
    type: dataforge_assets.lib.sources.SourceComponent
    attributes:
      name: api
      privacy: {{mask_columns: [temp], drop_columns: [dewp]}}
      connection:
        kind: rest_api
        base_url: {httpserver.url_for("/")}
        paginator: {{type: link_header}}
        tables:
          - {{name: shown, path: items, data_selector: data, primary_key: [origin, time_hour]}}
          - name: hidden
            path: items
            data_selector: data
            primary_key: [origin, time_hour]
            privacy: {{preview: false}}
    """
    result = materialize(load_source(tmp_path, yaml), platform.instance)

    shown = materialization_metadata(result, ["raw", "shown"])
    header, _, *lines = shown["preview"].strip().splitlines()
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert "dewp" not in columns and "temp" in columns and "origin" in columns
    temps = {line.strip("|").split("|")[columns.index("temp")].strip() for line in lines}
    assert temps == {"***"} and len(lines) == 5
    assert "dewp" in [c.name for c in shown["dagster/column_schema"].columns]  # the schema stays whole

    hidden = materialization_metadata(result, ["raw", "hidden"])
    assert "preview" not in hidden and hidden["dagster/row_count"] == len(ROWS)


POLICIES = [
    (PrivacySpec(), ["| distance | greater_than_or_equal_to(1) | -1 |"], []),
    (PrivacySpec(mask_columns=["distance"]), ["| distance | greater_than_or_equal_to(1) | *** |"], ["-1 |"]),
    (PrivacySpec(drop_columns=["distance"]), ["| dest | not_nullable | None |"], ["distance"]),
    (PrivacySpec(failure_samples=False), ["failure samples are off"], ["distance", "dest"]),
]


def test_failure_sample_follows_the_raw_tables_privacy(platform: Platform) -> None:
    land_reference(platform.env)
    land_flights(platform.env, 1, month_sample(1, 20))
    platform.materialize("raw/flights,raw/airlines,normalized/flights")
    with duckdb.connect(str(platform.env.duckdb_path)) as con:  # three rows break the contract
        con.execute("UPDATE normalized.flights SET distance = -1 WHERE _source_row IN (2, 5)")
        con.execute("UPDATE normalized.flights SET dest = NULL WHERE _source_row = 7")
    warehouse = DuckDBWarehouse(database=str(platform.env.duckdb_path))
    try:
        for policy, shown, hidden in POLICIES:
            privacy.register(FLIGHTS.raw_table, policy)  # as the flights source's YAML `privacy:` would
            with warehouse.session():
                result = check_contract(warehouse, FLIGHTS)
            assert not result.passed and result.metadata["failures"].value == 3
            sample = str(result.metadata["failure_sample"].value)
            assert all(text in sample for text in shown), (policy, sample)
            assert not [text for text in hidden if text in sample], (policy, sample)
    finally:
        privacy.register(FLIGHTS.raw_table, PrivacySpec())
