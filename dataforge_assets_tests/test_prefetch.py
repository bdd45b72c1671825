"""prefetched(): same items in the same order, errors raised to the caller, the producer stopped early."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from dataforge_assets.lib.prefetch import prefetched


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
