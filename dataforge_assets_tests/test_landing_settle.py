"""A landing file is read once it has kept still for the settle time: a file written long ago is read at
once, a file written just now gets a second look, and one still growing is left for the next run."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from dataforge_assets.lib.sources import landing
from dataforge_assets.lib.sources.landing import landed_files, settled


def _waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waits: list[float] = []
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(landing.time, "sleep", sleep)
    return waits


def test_files_quiet_longer_than_the_settle_time_are_read_without_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = tmp_path / "flights_2013_01.csv"
    old.write_text("a,b\n1,2\n")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    waits = _waits(monkeypatch)
    first_look = time.monotonic()
    assert [f.path for f in settled(landed_files(tmp_path, ["*.csv"]), first_look, 5.0)] == [old]
    assert waits == []


def test_a_file_written_just_now_gets_a_second_look_and_a_growing_one_is_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = tmp_path / "flights_2013_02.csv"
    done.write_text("a,b\n1,2\n")
    growing = tmp_path / "flights_2013_03.csv"
    growing.write_text("a,b\n")
    waits = _waits(monkeypatch)
    first_look = time.monotonic()
    files = landed_files(tmp_path, ["*.csv"])
    stop = threading.Event()

    def append() -> None:
        with open(growing, "a") as handle:
            while not stop.is_set():
                handle.write("3,4\n")
                handle.flush()
                stop.wait(0.05)

    writer = threading.Thread(target=append)
    writer.start()
    try:
        steady = settled(files, first_look, 0.5)
    finally:
        stop.set()
        writer.join()
    assert [f.path for f in steady] == [done]
    assert len(waits) == 1 and 0 < waits[0] <= 0.5
