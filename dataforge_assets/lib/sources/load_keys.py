"""Whether one load repeats a primary key, answered from 64-bit hashes of the keys as they stream by.

dlt's merge deduplicates the staged rows on the primary key (a window over every key column of
every row) unless told the rows are unique already. Equal keys hash alike, so hashes that are all
distinct prove the keys are; a hash collision only sends the load down dlt's slower, deduplicating
path. Memory: 8 bytes per row of the load.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dataforge_assets.lib.lazy import lazy_module

if TYPE_CHECKING:
    import polars as pl
else:
    pl = lazy_module("polars")


def key_hashes(frame: pl.DataFrame, key: Sequence[str]) -> pl.Series:
    return frame.select(pl.struct(*key).hash(seed=0)).to_series()


def any_repeated(hashes: Sequence[pl.Series]) -> bool:
    if not hashes:
        return False
    combined = pl.concat(hashes).sort()
    return bool((combined == combined.shift(1)).any())


class LoadKeys:
    """The key hashes of every file a load has read so far."""

    def __init__(self, key: Sequence[str]):
        self.key = list(key)
        self._files: list[pl.Series] = []

    def add_file(self, hashes: Sequence[pl.Series]) -> None:
        if hashes:
            self._files.append(pl.concat(hashes))

    def repeated(self) -> bool:
        """True when two rows of the load may share a key (certainly, unless 64-bit hashes collide)."""
        return len(self._files) > 1 and any_repeated(self._files)
