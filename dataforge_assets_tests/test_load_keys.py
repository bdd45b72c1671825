"""Key hashes tell a load with unique keys from one that repeats a key."""

from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from dataforge_assets.lib.sources.load_keys import LoadKeys, any_repeated, key_hashes

KEY = ["carrier", "flight"]
rows = st.lists(st.tuples(st.sampled_from(["AA", "UA", "B6"]), st.integers(1, 6).map(str)), max_size=30)


def _frame(pairs: list[tuple[str, str]]) -> pl.DataFrame:
    return pl.DataFrame(pairs, schema=KEY, orient="row")


@given(rows)
def test_any_repeated_is_true_exactly_when_a_key_repeats(pairs: list[tuple[str, str]]) -> None:
    frame = _frame(pairs)
    # Split into batches as a file is read: a repeat across batches counts too.
    batches = [key_hashes(frame.slice(i, 7), KEY) for i in range(0, frame.height, 7)]
    assert any_repeated(batches) == (len(set(pairs)) < len(pairs))


@given(rows, rows)
def test_load_keys_repeated_across_files(first: list[tuple[str, str]], second: list[tuple[str, str]]) -> None:
    first, second = sorted(set(first)), sorted(set(second))  # each file's own keys are unique
    load = LoadKeys(KEY)
    for pairs in (first, second):
        load.add_file([key_hashes(_frame(pairs), KEY)] if pairs else [])
    assert load.repeated() == bool(set(first) & set(second))


@settings(deadline=None, max_examples=50)  # each example writes files
@given(st.lists(rows, max_size=5), st.integers(0, 40))
def test_load_keys_spilled_to_disk_answer_as_in_memory(
    files: list[list[tuple[str, str]]], memory: int
) -> None:
    # However few hashes stay in memory, the answer is the in-memory one (partitions of the spilled files).
    files = [sorted(set(pairs)) for pairs in files]
    with tempfile.TemporaryDirectory() as folder:
        spilling, in_memory = LoadKeys(KEY, Path(folder), memory_hashes=memory), LoadKeys(KEY)
        for pairs in files:
            hashes = [key_hashes(_frame(pairs), KEY)] if pairs else []
            spilling.add_file(hashes)
            in_memory.add_file(hashes)
        every = [key for pairs in files for key in pairs]
        assert spilling.repeated() == in_memory.repeated() == (len(set(every)) < len(every))


def test_a_key_column_value_moving_between_columns_is_a_different_key() -> None:
    # ("A", "B1") and ("AB", "1") must not hash alike the way joined text would.
    frame = pl.DataFrame({"carrier": ["A", "AB"], "flight": ["B1", "1"]})
    assert not any_repeated([key_hashes(frame, KEY)])


def test_files_added_from_several_threads_keep_every_hash() -> None:
    """The reader adds each file's keys from the thread that read it; spills must not lose any."""
    from concurrent.futures import ThreadPoolExecutor

    files = [
        [
            key_hashes(
                pl.DataFrame({"carrier": ["AA"] * 50, "flight": [str(f * 100 + i) for i in range(50)]}), KEY
            )
        ]
        for f in range(40)
    ]
    repeat = [key_hashes(pl.DataFrame({"carrier": ["AA"], "flight": ["1707"]}), KEY)]  # file 17's key
    for _ in range(5):
        with tempfile.TemporaryDirectory() as folder:
            unique = LoadKeys(KEY, spill_folder=Path(folder), memory_hashes=120)
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(unique.add_file, files))
            assert not unique.repeated()
        with tempfile.TemporaryDirectory() as folder:
            repeated = LoadKeys(KEY, spill_folder=Path(folder), memory_hashes=120)
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(repeated.add_file, [*files, repeat]))
            assert repeated.repeated()
