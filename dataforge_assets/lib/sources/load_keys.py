"""Whether one load repeats a primary key, answered from 64-bit hashes of the keys as they stream by.

dlt's merge deduplicates the staged rows on the primary key (a window over every key column of
every row) unless told the rows are unique already. Equal keys hash alike, so hashes that are all
distinct prove the keys are; a hash collision only sends the load down dlt's slower, deduplicating
path. Memory: 8 bytes per row of the load, up to MEMORY_HASHES rows; a larger load's hashes go to
disk split by their top bits into PARTITIONS files, and each partition (equal hashes share one) is
checked in memory in turn, so the reader's memory stops growing with the load (a 100M-row load held
800 MB of hashes, and twice that while sorting them).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dataforge_assets.lib.lazy import lazy_module

if TYPE_CHECKING:
    import polars as pl
else:
    pl = lazy_module("polars")

# Key hashes a load holds in memory (8 bytes each, 16 MB; a spill or a sort doubles that) before it
# writes them to its spill folder: a load of up to 2M rows is checked in memory, as before.
MEMORY_HASHES = 2_000_000
# Spilled hashes are split by their top 6 bits: a partition of a 100M-row load is ~1.6M hashes.
PARTITION_BITS = 6
_HASH = "key_hash"


def key_hashes(frame: pl.DataFrame, key: Sequence[str]) -> pl.Series:
    return frame.select(pl.struct(*key).hash(seed=0)).to_series()


def any_repeated(hashes: Sequence[pl.Series]) -> bool:
    if not hashes:
        return False
    combined = pl.concat(hashes).sort()
    return bool((combined == combined.shift(1)).any())


class LoadKeys:
    """The key hashes of every file a load has read so far. `spill_folder`: where hashes beyond
    `memory_hashes` go (a scratch folder of the load; without one they all stay in memory)."""

    def __init__(
        self, key: Sequence[str], spill_folder: Path | None = None, memory_hashes: int | None = None
    ):
        self.key = list(key)
        self._folder = spill_folder
        self._memory_hashes = MEMORY_HASHES if memory_hashes is None else memory_hashes
        self._files: list[pl.Series] = []
        self._held = 0  # hashes in `_files`
        self._spilled: list[Path] = []
        self._file_count = 0
        self._adding = threading.Lock()  # files are read (and their keys added) by several threads

    def add_file(self, hashes: Sequence[pl.Series]) -> None:
        if not hashes:
            return
        combined = pl.concat(hashes)
        with self._adding:
            self._files.append(combined)
            self._held += len(combined)
            self._file_count += 1
            if self._folder is not None and self._held > self._memory_hashes:
                self._spill()

    def repeated(self) -> bool:
        """True when two rows of the load may share a key (certainly, unless 64-bit hashes collide)."""
        if self._file_count <= 1:
            return False
        if not self._spilled:
            return any_repeated(self._files)
        if self._files:
            self._spill()
        return _repeated_on_disk(self._spilled)

    def _spill(self) -> None:
        assert self._folder is not None
        hashes = pl.DataFrame({_HASH: pl.concat(self._files)})
        first = len(self._spilled)  # file numbers go on across spills
        top_bits = (pl.col(_HASH) // (1 << (64 - PARTITION_BITS))).alias("part")
        for (part,), rows in hashes.group_by(top_bits):
            path = self._folder / f"key_hashes_p{part:03d}_{first:06d}.parquet"
            rows.write_parquet(path, statistics=False)
            self._spilled.append(path)
        self._files, self._held = [], 0


def _repeated_on_disk(paths: Sequence[Path]) -> bool:
    """Whether any hash occurs twice in the spilled files, one partition in memory at a time."""
    partitions: dict[str, list[Path]] = {}
    for path in paths:
        partitions.setdefault(path.name.split("_")[2], []).append(path)
    for files in partitions.values():
        if any_repeated([pl.read_parquet(files)[_HASH]]):
            return True
    return False
