"""Write dispositions end to end on a real SQLite source, a real DuckDB warehouse and real materializations:
scd2 keeps every version in raw while normalized holds the current one; a row deleted at the source
leaves normalized under scd2 (flagged in raw), replace (gone from raw) and merge with a deleted flag."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from dataforge_assets.lib.partitions import range_tags
from dataforge_assets_tests.conftest import Platform, materialization_metadata
from dataforge_assets_tests.recording_warehouse import materialize_recorded
from dataforge_assets_tests.source_yaml import load_defs_folder, materialize, write_project_files
from dataforge_assets_tests.test_source_sql_database import planes

NORMALIZED_PLANES = """
type: dataforge_assets.lib.tables.NormalizedTableComponent
attributes:
  name: planes
  raw_table: planes
  key: [tailnum]
  columns:
    - {name: tailnum, type: string, checks: {unique: true}}
    - {name: seats, type: int32, checks: {ge: 1}}
    - {name: manufacturer, type: string, nullable: true}
"""


def source(table_options: str) -> str:
    return f"""
type: dataforge_assets.lib.sources.SourceComponent
attributes:
  name: ops
  connection:
    kind: sql_database
    url: sqlite:///ops.sqlite
    tables:
      - name: planes
        table: fleet
        primary_key: [tailnum]
        {table_options}
  retry: {{max_retries: 0}}
"""


class Fleet:
    """The source database's `fleet` table, and the project that loads it into raw and normalized."""

    def __init__(self, platform: Platform, tmp_path: Path, table_options: str, flag: bool = False) -> None:
        database = platform.env.home / "ops.sqlite"
        database.parent.mkdir(parents=True, exist_ok=True)
        self.engine = sa.create_engine(f"sqlite:///{database}")
        extra = [sa.Column("deleted", sa.Boolean, nullable=False, default=False)] if flag else []
        self.table = sa.Table(
            "fleet",
            sa.MetaData(),
            sa.Column("tailnum", sa.Text, primary_key=True),
            sa.Column("manufacturer", sa.Text),
            sa.Column("seats", sa.Integer),
            sa.Column("updated_at", sa.DateTime, nullable=False),
            *extra,
        )
        self.table.metadata.create_all(self.engine)
        rows = [{k: r[k] for k in ("tailnum", "manufacturer", "seats", "updated_at")} for r in planes(0, 5)]
        with self.engine.begin() as con:
            con.execute(self.table.insert(), rows)
        self.tails = [r["tailnum"] for r in rows]
        files = {"raw/ops/defs.yaml": source(table_options), "normalized/planes/defs.yaml": NORMALIZED_PLANES}
        self.defs = load_defs_folder(write_project_files(tmp_path, files))
        self.platform = platform

    def run(self) -> dg.ExecuteInProcessResult:
        """One run of raw and normalized, with their checks: the normalized ones must pass."""
        result = dg.materialize(
            [*(self.defs.assets or []), *(self.defs.asset_checks or [])],
            resources=self.defs.resources,
            instance=self.platform.instance,
            tags=range_tags(),
        )
        outcome = {
            c.check_name: c.passed
            for c in result.get_asset_check_evaluations()
            if c.asset_key == dg.AssetKey(["normalized", "planes"])
        }
        assert outcome["reconciliation"] and outcome["contract"], outcome
        return result

    def run_recorded(self, selection: str = "*") -> list[str]:
        """One run of the selection (assets only) on a warehouse that records its SQL: the statements."""
        url = getattr(self.platform, "url", None)
        return materialize_recorded(self.defs, selection, self.platform.instance, url)

    def update(self, tailnum: str, **values: object) -> None:
        with self.engine.begin() as con:
            con.execute(self.table.update().where(self.table.c.tailnum == tailnum).values(**values))

    def delete(self, tailnum: str) -> None:
        with self.engine.begin() as con:
            con.execute(self.table.delete().where(self.table.c.tailnum == tailnum))

    def normalized(self) -> dict[str, int]:
        return dict(self.platform.sql("SELECT tailnum, seats FROM normalized.planes"))


@pytest.fixture
def fleet_factory(request: pytest.FixtureRequest, tmp_path: Path):  # noqa: ANN201 - a factory fixture
    """Fleets on the DuckDB warehouse; on PostgreSQL for a test parametrized with `stack`."""
    stack = getattr(request, "param", "duckdb")
    platform = request.getfixturevalue("platform" if stack == "duckdb" else "pg_platform")
    made: list[Fleet] = []

    def make(table_options: str, flag: bool = False) -> Fleet:
        made.append(Fleet(platform, tmp_path, table_options, flag))
        return made[-1]

    yield make
    for fleet in made:
        fleet.engine.dispose()


@pytest.mark.parametrize(
    "fleet_factory", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_scd2_keeps_every_version_and_normalized_the_current_one(fleet_factory) -> None:  # noqa: ANN001
    fleet = fleet_factory("merge_strategy: scd2")
    fleet.run()
    changed, deleted = fleet.tails[1], fleet.tails[3]
    fleet.update(changed, seats=100)
    fleet.run()
    fleet.update(changed, seats=200)
    fleet.run()

    versions = fleet.platform.sql(
        "SELECT seats, _dlt_valid_from, _dlt_valid_to FROM raw.planes "
        f"WHERE tailnum = '{changed}' ORDER BY _dlt_valid_from"
    )
    assert [v[0] for v in versions][1:] == [100, 200] and len(versions) == 3
    # Each version is valid until the next one starts; the current one has no end.
    assert versions[0][2] == versions[1][1] and versions[1][2] == versions[2][1] and versions[2][2] is None
    assert fleet.platform.count("raw.planes") == 7
    assert fleet.normalized()[changed] == 200 and len(fleet.normalized()) == 5

    # Deleted at the source: retired (flagged) in raw, gone from normalized.
    fleet.delete(deleted)
    result = fleet.run()
    assert fleet.platform.sql(
        f"SELECT count(*), count(_dlt_valid_to) FROM raw.planes WHERE tailnum = '{deleted}'"
    ) == [(1, 1)]
    assert deleted not in fleet.normalized() and len(fleet.normalized()) == 4
    assert materialization_metadata(result, ["normalized", "planes"])["rows_deleted_with_raw"] == 1


def test_replace_reloads_the_table_and_deleted_rows_leave_normalized(fleet_factory) -> None:  # noqa: ANN001
    fleet = fleet_factory("write_disposition: replace")
    fleet.run()
    changed, deleted = fleet.tails[0], fleet.tails[2]
    fleet.update(changed, seats=321)
    fleet.delete(deleted)
    fleet.run()
    assert fleet.platform.count("raw.planes") == 4
    assert fleet.normalized()[changed] == 321
    assert deleted not in fleet.normalized() and len(fleet.normalized()) == 4


def test_merge_with_a_deleted_flag_deletes_flagged_rows_downstream(fleet_factory) -> None:  # noqa: ANN001
    fleet = fleet_factory("deleted_flag: deleted\n        cursor_field: updated_at", flag=True)
    fleet.run()
    deleted = fleet.tails[4]
    # Soft-deleted at the source (the cursor sees the row change): hard-deleted in raw and downstream.
    fleet.update(deleted, deleted=True, updated_at=planes(0, 1)[0]["updated_at"].replace(year=2030))
    fleet.run()
    assert fleet.platform.sql(f"SELECT count(*) FROM raw.planes WHERE tailnum = '{deleted}'") == [(0,)]
    assert deleted not in fleet.normalized() and len(fleet.normalized()) == 4


def test_merge_without_a_flag_keeps_a_row_deleted_at_the_source(fleet_factory) -> None:  # noqa: ANN001
    """The documented limit of a plain merge: nothing in a load says a row is gone."""
    fleet = fleet_factory("write_disposition: merge")
    fleet.run()
    fleet.delete(fleet.tails[0])
    fleet.run()
    assert fleet.tails[0] in fleet.normalized() and fleet.platform.count("raw.planes") == 5


# The sweep's own statements (raw_history.py): its counts (nothing else counts quarantine whole, or
# raw's current rows) and the raw keys it stages to find the rows that are gone.
SWEEP = re.compile(r'count\(\*\) FROM (raw\."planes" WHERE|"quarantine"\."planes"$)|_live_keys_planes')


def sweeps(statements: list[str]) -> list[str]:
    return [s for s in statements if SWEEP.search(s)]


def later(tailnum: str, year: int = 2030) -> dict[str, object]:
    """Values that move the row past the cursor (updated_at), so the next load brings it again."""
    return {"updated_at": planes(0, 1)[0]["updated_at"].replace(year=year)}


@pytest.mark.parametrize(
    "fleet_factory", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_plain_merge_builds_skip_the_sweep_until_raw_loses_a_row(fleet_factory) -> None:  # noqa: ANN001
    """No raw row can have left: no sweep query at all. A re-delivered row leaves its load: swept again."""
    fleet = fleet_factory("cursor_field: updated_at")
    fleet.run()
    # Nothing new (the automation no-op), then a load of a new row only: raw lost nothing.
    assert sweeps(fleet.run_recorded("normalized/planes")) == []
    with fleet.engine.begin() as con:
        con.execute(fleet.table.insert(), [{**planes(5, 1)[0], **later("", 2029)}])
    statements = fleet.run_recorded()
    assert sweeps(statements) == [] and "normalized" in " ".join(statements)
    assert len(fleet.normalized()) == 6
    # A row updated at the source: its new version replaces the old one in raw (the old load lost it).
    fleet.update(fleet.tails[2], seats=77, **later(fleet.tails[2]))
    swept = sweeps(fleet.run_recorded())
    assert swept and not any("_live_keys" in s for s in swept)  # counted: nothing gone, no key comparison
    assert fleet.normalized()[fleet.tails[2]] == 77 and len(fleet.normalized()) == 6


@pytest.mark.parametrize(
    "fleet_factory", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_a_hard_delete_is_swept_downstream(fleet_factory) -> None:  # noqa: ANN001
    """merge with a deleted flag: the flagged row leaves raw, so the build sweeps and it leaves normalized."""
    fleet = fleet_factory("deleted_flag: deleted\n        cursor_field: updated_at", flag=True)
    fleet.run()
    assert sweeps(fleet.run_recorded("normalized/planes")) == []
    gone = fleet.tails[1]
    fleet.update(gone, deleted=True, **later(gone))
    statements = fleet.run_recorded()
    assert sweeps(statements), "the load deleted a raw row: the build must look for it downstream"
    assert fleet.platform.sql(f"SELECT count(*) FROM raw.planes WHERE tailnum = '{gone}'") == [(0,)]
    assert gone not in fleet.normalized() and len(fleet.normalized()) == 4
    # Swept once: the next build finds raw as the sweep left it.
    assert sweeps(fleet.run_recorded("normalized/planes")) == []


FILES_SOURCE = """
type: dataforge_assets.lib.sources.SourceComponent
attributes:
  name: drops
  connection:
    kind: files
    folder: landing/drops
    tables:
      - name: readings
        glob: "readings_*.csv"
        primary_key: [id]
        merge_strategy: scd2
  retry: {max_retries: 0}
"""


def test_scd2_on_files_retires_only_rows_of_the_redelivered_file(platform: Platform, tmp_path: Path) -> None:
    landing = platform.env.landing_dir / "drops"
    landing.mkdir(parents=True)
    (landing / "readings_a.csv").write_text("id,value\n1,10\n2,20\n3,30\n")
    (landing / "readings_b.csv").write_text("id,value\n4,40\n5,50\n")
    defs = load_defs_folder(write_project_files(tmp_path, {"raw/drops/defs.yaml": FILES_SOURCE}))
    materialize(defs, platform.instance)
    # File a re-delivered: row 2 changed, row 3 gone, rows moved; file b not read again.
    (landing / "readings_a.csv").write_text("id,value\n2,21\n1,10\n")
    materialize(defs, platform.instance)
    rows = platform.sql(
        "SELECT id, value, _dlt_valid_to IS NULL FROM raw.readings ORDER BY id, _dlt_valid_from"
    )
    assert rows == [
        ("1", "10", True),  # unchanged (only its line moved): no new version
        ("2", "20", False),
        ("2", "21", True),
        ("3", "30", False),  # absent from its file's new version: retired
        ("4", "40", True),  # another file's rows stay current
        ("5", "50", True),
    ]
