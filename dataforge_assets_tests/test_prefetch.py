"""prefetched(): same items in the same order, errors raised to the caller, the producer stopped early."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from dataforge_assets.lib.prefetch import mapped_ahead, prefetched


def test_items_arrive_in_order() -> None:
    assert list(prefetched(iter(range(1000)), depth=2)) == list(range(1000))


def test_an_error_in_the_producer_is_raised_to_the_caller_after_the_items_before_it() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("file x row 3: bad")

    seen = []
    with pytest.raises(ValueError, match="row 3"):
        for item in prefetched(items()):
            seen.append(item)
    assert seen == [1, 2]


def test_a_consumer_that_stops_early_closes_the_producer() -> None:
    closed = threading.Event()
    produced = []

    def items() -> Iterator[int]:
        try:
            for i in range(1_000_000):
                produced.append(i)
                yield i
        finally:
            closed.set()

    for item in prefetched(items(), depth=1):
        if item == 3:
            break
    assert closed.wait(5)
    assert len(produced) <= 6  # never more than `depth` ahead (plus the one being handed over)


def test_mapped_ahead_keeps_the_order_and_runs_calls_side_by_side() -> None:
    # Two calls must be inside `meet` at once, or the barrier breaks: the work really is parallel.
    meet = threading.Barrier(2, timeout=10)

    def square(n: int) -> int:
        if n < 2:
            meet.wait()
        return n * n

    assert list(mapped_ahead(square, range(50), workers=2)) == [n * n for n in range(50)]


def test_mapped_ahead_raises_at_the_failing_item_after_the_items_before_it() -> None:
    def check(n: int) -> int:
        if n == 3:
            raise ValueError("file 3: bad")
        return n

    seen = []
    with pytest.raises(ValueError, match="file 3"):
        for result in mapped_ahead(check, range(10)):
            seen.append(result)
    assert seen == [0, 1, 2]


def test_mapped_ahead_never_runs_far_ahead_of_the_caller() -> None:
    started: list[int] = []

    def note(n: int) -> int:
        started.append(n)
        return n

    for result in mapped_ahead(note, range(1000), workers=2):
        # Handled so far: result + 1; at most `workers` + 1 more were ever started.
        assert len(started) <= result + 1 + 3
        if result == 10:
            break
    assert len(started) <= 14
