"""Bad-delivery corpus, files source: real damaged files dropped together into the landing folder beside
good ones, loaded by the real definitions in a few materializations. For each case: the message, where
the bad data went (`raw._rejected_files` or `quarantine.flights` with its reason) and that every good
row arrived exactly once (counted against the good files read independently with polars).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from dataforge_assets_tests.bad_input import check, meta
from dataforge_assets_tests.conftest import Platform, materialization_metadata
from dataforge_assets_tests.demo_data import flights, land_reference

FLOW = "raw/flights,raw/airlines,normalized/flights"
ROWS = 20
OLD = 978_307_200  # 2001-01-01: far older than any file of the corpus
KEY = ["year", "month", "day", "carrier", "flight", "origin", "sched_dep_time"]


def _rows(case: int, n: int = ROWS) -> pl.DataFrame:
    """Flights no other case uses (the real data's keys are unique), as text, as the CSV has them."""
    return flights().slice(2_000 + case * 50, n)


def _csv(frame: pl.DataFrame) -> bytes:
    return frame.write_csv(null_value="NA").encode()


def _with(frame: pl.DataFrame, column: str, row: int, value: str | None) -> pl.DataFrame:
    return frame.with_columns(
        pl.when(pl.int_range(pl.len()) == row).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
    )


def _lines(frame: pl.DataFrame) -> list[str]:
    return _csv(frame).decode().splitlines()


@dataclass
class Case:
    """One landed file: its bytes, how many of its rows must arrive in raw, and what must be said."""

    name: str
    data: bytes
    raw_rows: int = 0  # rows of it that must arrive in raw.flights, exactly once
    rejected: tuple[str, ...] = ()  # texts of its reason in raw._rejected_files (empty: not rejected)
    quarantined: dict[str, str] | None = None  # column -> text of the quarantine reason


def _cases() -> list[Case]:
    cases: list[Case] = []

    def add(name: str, data: bytes, **kwargs: object) -> None:
        cases.append(Case(f"flights_{name}" + ("" if "." in name else ".csv"), data, **kwargs))  # type: ignore[arg-type]

    good = _rows(1)
    add("good_month", _csv(good), raw_rows=ROWS)
    add(
        "text_in_delay",
        _csv(_with(_with(_rows(2), "dep_delay", 3, "late"), "dep_delay", 7, "n/a")),
        raw_rows=ROWS,
        quarantined={"dep_delay": "dep_delay: late is not a valid Int32"},
    )
    add(
        "extra_column",
        _csv(_with(_rows(3).with_columns(gate=pl.lit("B12")), "dep_delay", 5, "soon")),
        raw_rows=ROWS,
        quarantined={"dep_delay": "dep_delay: soon is not a valid Int32"},
    )
    dupes = _rows(4)
    add(
        "duplicate_key",
        _csv(pl.concat([dupes.head(5), dupes.slice(1, 1), dupes.slice(5)])),
        rejected=("file 'flights_duplicate_key.csv'", "rows 2, 6 repeat the primary key", "row 6"),
    )
    add(
        "null_key",
        _csv(_with(_rows(5), "carrier", 2, None)),
        rejected=("row 3", "column 'carrier'", "primary key column is empty"),
    )
    lines = _lines(_rows(6))
    fields = lines[3].split(",")
    fields[11] = f'"{fields[11]}\nX"'  # a tail number with a line break inside quotes
    lines[3] = ",".join(fields)
    add("quoted_newline", ("\n".join(lines) + "\n").encode(), rejected=("row 3", "quoted value"))
    add("bom", b"\xef\xbb\xbf" + _csv(_rows(7)), raw_rows=ROWS)
    lines = _lines(_rows(8))
    fields = lines[4].split(",")
    fields[11] = "N\xe9" + fields[11]
    lines[4] = ",".join(fields)
    add(
        "latin1",
        ("\n".join(lines) + "\n").encode("latin-1"),
        rejected=("row 4", "column 'tailnum'", "not valid UTF-8"),
    )
    add("crlf", _csv(_rows(9)).replace(b"\n", b"\r\n"), raw_rows=ROWS)
    add("header_only", _lines(_rows(10))[0].encode() + b"\n", raw_rows=0)
    add("zero_byte", b"", rejected=("empty (0 bytes",))
    add(
        "truncated_gzip.csv.gz",
        gzip.compress(_csv(_rows(11)))[:-40],
        rejected=("file 'flights_truncated_gzip.csv.gz'", "gzip file cannot be decompressed"),
    )
    add("gzipped.csv.gz", gzip.compress(_csv(_rows(12))), raw_rows=ROWS)
    add(
        "renamed_column",
        _csv(_rows(13).rename({"dep_delay": "departure_delay"})),
        rejected=("column 'dep_delay'", "missing from the header"),
    )
    reordered = _rows(14)
    add("reordered", _csv(reordered.select(reversed(reordered.columns))), raw_rows=ROWS)
    add(
        "huge_value",
        _csv(_with(_rows(15), "arr_delay", 0, "9" * 100_000)),
        raw_rows=ROWS,
        quarantined={"arr_delay": "arr_delay: 999"},
    )
    add(
        "missing_column",
        _csv(_rows(16).drop("air_time")),
        rejected=("column 'air_time'", "missing from the header"),
    )
    lines = _lines(_rows(17))
    fields = lines[6].split(",")
    fields[11] = '"' + fields[11]
    lines[6] = ",".join(fields)
    add(
        "broken_quoting",
        ("\n".join(lines) + "\n").encode(),
        rejected=("row 6", "column 'tailnum'", "quoted value"),
    )
    text = "\n".join(_lines(_rows(18))).encode()
    add(
        "truncated",
        text[: text.rfind(b"\n") + 12],
        rejected=(f"row {ROWS}", "expected 19 fields, found", "truncated"),
    )
    lines = _lines(_rows(19))
    lines[9] += ",surplus"
    add("extra_field", ("\n".join(lines) + "\n").encode(), rejected=("row 9", "found 20", "more values"))
    header = _lines(_rows(20))[0].split(",")
    header[3] = "year"
    body = _lines(_rows(20))[1:]
    add(
        "repeated_header",
        ("\n".join([",".join(header), *body]) + "\n").encode(),
        rejected=("'year' twice",),
    )
    add(
        "not_a_csv",
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
        rejected=("not valid UTF-8",),
    )
    return cases


@dataclass
class Corpus:
    platform: Platform
    cases: list[Case]
    first: dg.ExecuteInProcessResult
    second: dg.ExecuteInProcessResult
    third: dg.ExecuteInProcessResult
    growing_rows: int
    growing_after_first: int
    late_rows: int

    def path(self, name: str) -> Path:
        return self.platform.env.landing_dir / "flights" / name


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    from dataforge_assets.demo import replay_server
    from dataforge_assets.demo.__main__ import WEATHER_API_URL_ENV
    from dataforge_assets.lib.environment import current_environment

    with pytest.MonkeyPatch.context() as env_patch:
        env_patch.setenv("DATAFORGE_HOME", str(tmp_path_factory.mktemp("corpus") / "home"))
        env_patch.setenv("DATAFORGE_WAREHOUSE", "duckdb")
        with dg.instance_for_test() as instance, replay_server.running() as weather_api:
            env_patch.setenv(WEATHER_API_URL_ENV, weather_api.url)
            platform = Platform(env=current_environment(), instance=instance)
            yield _run_corpus(platform)


def _land(platform: Platform, name: str, data: bytes) -> Path:
    path = platform.env.landing_dir / "flights" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _run_corpus(platform: Platform) -> Corpus:
    land_reference(platform.env)
    # Round 0: January, one row quarantined, so quarantine.flights exists before `gate` arrives.
    _land(platform, "flights_2013_01.csv", _csv(_with(_rows(0), "dep_delay", 1, "late")))
    platform.materialize(FLOW)

    # Round 1: the whole corpus at once, plus files still being written.
    cases = _cases()
    for case in cases:
        _land(platform, case.name, case.data)
    _land(platform, "flights_upload.csv.part", _csv(_rows(30)))  # an upload under a temporary name
    _land(platform, ".flights_hidden.csv", _csv(_rows(31)))  # an editor's dot-file
    growing = _land(platform, "flights_growing.csv", _lines(_rows(32))[0].encode() + b"\n")
    # Its rows come from far past every case's rows (keys shared between files would merge).
    with _appending(growing, _lines(flights().slice(40_000, 600))[1:]) as written:
        first = platform.materialize(FLOW)
        growing_after_first = _rows_of(platform, growing.name)
    growing_rows = written()

    # Round 2: the upload is renamed into place, a late file lands with an old modification time,
    # the good month is re-delivered unchanged (new time, and a copy keeping the time), and the
    # duplicate-key file is fixed and dropped again.
    os.rename(_path(platform, "flights_upload.csv.part"), _path(platform, "flights_upload.csv"))
    late = _land(platform, "flights_late.csv", _csv(_rows(33)))
    os.utime(late, (OLD, OLD))
    good = _path(platform, "flights_good_month.csv")
    good.write_bytes(good.read_bytes())  # the same bytes written again, with an old time (`cp -p`)
    os.utime(good, (OLD + 1, OLD + 1))
    _land(platform, "flights_duplicate_key.csv", _csv(_rows(4)))
    second = platform.materialize(FLOW)

    # Round 3: nothing new.
    third = platform.materialize(FLOW)
    return Corpus(platform, cases, first, second, third, growing_rows, growing_after_first, late_rows=ROWS)


def _rows_of(platform: Platform, name: str) -> int:
    return platform.sql(f"SELECT count(*) FROM raw.flights WHERE _source_file = '{name}'")[0][0]


def _path(platform: Platform, name: str) -> Path:
    return platform.env.landing_dir / "flights" / name


class _appending:
    """Appends one line every 100 ms while the block runs: a file still being copied in."""

    def __init__(self, path: Path, lines: list[str]):
        self.path, self.lines, self.written = path, lines, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with open(self.path, "a") as handle:
            while not self.stop.is_set() and self.written < len(self.lines):
                handle.write(self.lines[self.written] + "\n")
                handle.flush()
                self.written += 1
                self.stop.wait(0.1)

    def __enter__(self) -> Callable[[], int]:
        self.thread.start()
        return lambda: self.written

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def _rejections(corpus: Corpus) -> dict[str, dict]:
    rows = corpus.platform.sql(
        "SELECT file_name, source, table_name, size_bytes, sha256, reason FROM raw._rejected_files"
    )
    return {r[0]: {"source": r[1], "table": r[2], "size": r[3], "sha256": r[4], "reason": r[5]} for r in rows}


def _rows_per_file(corpus: Corpus) -> dict[str, int]:
    return dict(corpus.platform.sql("SELECT _source_file, count(*) FROM raw.flights GROUP BY 1"))


CASE_NAMES = [c.name for c in _cases()]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_each_case_lands_where_it_belongs(corpus: Corpus, name: str) -> None:
    case = next(c for c in corpus.cases if c.name == name)
    rejections = _rejections(corpus)
    arrived = _rows_per_file(corpus).get(name, 0)
    if case.rejected:
        record = rejections[name]
        for text in ("source 'flights'", f"file '{name}'", *case.rejected):
            assert text in record["reason"], f"{text!r} not in {record['reason']!r}"
        assert (record["source"], record["table"]) == ("flights", "flights")
        assert record["size"] == len(case.data)
        assert record["sha256"] == hashlib.sha256(case.data).hexdigest()
        assert corpus.path(name).exists(), "a rejected file stays in the landing folder"
        if name != "flights_duplicate_key.csv":  # fixed and re-dropped in round 2
            assert arrived == 0, "nothing of a rejected file is loaded"
    else:
        assert name not in rejections
        assert arrived == case.raw_rows
    for column, reason in (case.quarantined or {}).items():
        reasons = corpus.platform.sql(
            f"SELECT _quarantine_reason FROM quarantine.flights WHERE _source_file = '{name}'"
        )
        assert reasons and all(column in r for (r,) in reasons)
        assert any(reason in r for (r,) in reasons)


def test_every_good_row_arrives_exactly_once(corpus: Corpus) -> None:
    """Counted against the good files read independently, keys and all."""
    expected: dict[str, int] = {"flights_2013_01.csv": ROWS}
    for case in corpus.cases:
        if not case.rejected and case.raw_rows:
            frame = pl.read_csv(
                gzip.decompress(case.data) if case.name.endswith(".gz") else case.data, infer_schema=False
            )
            assert frame.height == case.raw_rows
            expected[case.name] = frame.height
    expected["flights_upload.csv"] = ROWS
    expected["flights_late.csv"] = corpus.late_rows
    expected["flights_growing.csv"] = corpus.growing_rows
    expected["flights_duplicate_key.csv"] = ROWS
    assert _rows_per_file(corpus) == expected
    keys = ", ".join(KEY)
    total = corpus.platform.sql(f"SELECT count(*), count(DISTINCT ({keys})) FROM raw.flights")[0]
    assert total == (sum(expected.values()),) * 2
    # raw = normalized + quarantined, no row lost on the way.
    normalized = corpus.platform.count("normalized.flights")
    quarantined = corpus.platform.count("quarantine.flights")
    assert normalized + quarantined == total[0]
    assert check(corpus.third, "normalized/flights", "reconciliation").passed


def test_files_being_written_are_not_picked_up_half_way(corpus: Corpus) -> None:
    first_files = {f for (f,) in corpus.platform.sql("SELECT DISTINCT _source_file FROM raw.flights")}
    assert not any(name.startswith(".") or name.endswith(".part") for name in first_files)
    meta_first = materialization_metadata(corpus.first, ["raw", "flights"])
    loads = corpus.platform.sql(
        "SELECT count(DISTINCT _dlt_load_id) FROM raw.flights WHERE _source_file = 'flights_growing.csv'"
    )
    assert loads == [(1,)], "the growing file is loaded once, whole, after it stopped growing"
    assert corpus.growing_after_first == 0, "not read while it grew"
    assert corpus.growing_rows > 1
    assert meta_first["rejected_file_count"] == len([c for c in corpus.cases if c.rejected])
    assert "flights_growing.csv" not in _rejections(corpus)


def test_late_file_with_an_old_modification_time_loads_exactly_once(corpus: Corpus) -> None:
    rows = corpus.platform.sql(
        "SELECT count(*), count(DISTINCT _dlt_load_id) FROM raw.flights WHERE _source_file = 'flights_late.csv'"
    )
    assert rows == [(ROWS, 1)]
    assert corpus.path("flights_late.csv").stat().st_mtime == OLD


def test_identical_redelivery_loads_nothing(corpus: Corpus) -> None:
    # The good month was re-written and re-copied unchanged in round 2: still its first load only.
    loads = corpus.platform.sql(
        "SELECT DISTINCT _dlt_load_id FROM raw.flights WHERE _source_file = 'flights_good_month.csv'"
    )
    first_load = corpus.platform.sql(
        "SELECT DISTINCT _dlt_load_id FROM raw.flights WHERE _source_file = 'flights_text_in_delay.csv'"
    )
    assert loads == first_load
    # Round 3, nothing new at all: nothing loaded, nothing rejected again.
    assert materialization_metadata(corpus.third, ["raw", "flights"])["rows_loaded"] == 0
    assert materialization_metadata(corpus.third, ["raw", "flights"])["rejected_file_count"] == 0
    assert corpus.platform.sql("SELECT count(*) FROM raw._rejected_files") == [
        (len([c for c in corpus.cases if c.rejected]),)
    ]


def test_rejected_files_are_surfaced_until_fixed(corpus: Corpus) -> None:
    first = check(corpus.first, "raw/flights", "rejected_files")
    assert not first.passed and first.severity == dg.AssetCheckSeverity.WARN
    assert "flights_duplicate_key.csv" in (first.description or "")
    assert meta(first)["rejected_file_count"] == len([c for c in corpus.cases if c.rejected])
    # The duplicate-key file was fixed and dropped again: it loaded and left the outstanding list.
    later = check(corpus.second, "raw/flights", "rejected_files")
    assert "flights_duplicate_key.csv" not in (later.description or "")
    assert meta(later)["rejected_file_count"] == meta(first)["rejected_file_count"] - 1


def test_new_column_reaches_raw_quarantine_and_the_drift_check(corpus: Corpus) -> None:
    assert corpus.platform.sql(
        "SELECT count(gate) FROM raw.flights WHERE _source_file = 'flights_extra_column.csv'"
    ) == [(ROWS,)]
    # quarantine.flights existed before `gate`: the column was added, the row kept with its value.
    assert corpus.platform.sql(
        "SELECT gate, dep_delay FROM quarantine.flights WHERE _source_file = 'flights_extra_column.csv'"
    ) == [("B12", "soon")]
    drift = check(corpus.first, "raw/flights", "schema_drift")
    assert "new column 'gate'" in (drift.description or "")
    assert meta(drift)["new_columns_in_files"] == {"gate": ["flights_extra_column.csv"]}
