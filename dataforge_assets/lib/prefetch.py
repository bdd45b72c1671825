"""Work on the next item in a background thread while the caller handles this one.

polars and DuckDB release the GIL, so reading and validating batch n+1 overlaps with writing batch
n on a second core. At most `depth` items wait in between, which bounds the memory it costs.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

A = TypeVar("A")
T = TypeVar("T")
_DONE = object()


def prefetched(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple) -> bool:
        while not stop.is_set():
            try:
                handoff.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_DONE, None))
        except BaseException as error:  # handed to the consumer, raised there
            put((_DONE, error))
        finally:
            close = getattr(items, "close", None)
            if close:
                close()

    worker = threading.Thread(target=produce, name="dataforge-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item, error = handoff.get()
            if item is _DONE:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        worker.join()


def mapped_ahead(function: Callable[[A], T], items: Iterable[A], workers: int = 2) -> Iterator[T]:
    """`map(function, items)`, in order, with up to `workers` calls running in threads while the caller
    handles the result before them (polars, hashlib and file reads release the GIL). At most
    `workers` + 1 results are held at once, which bounds the memory it costs. An exception is raised
    where its item's result would have been; stopping early cancels the calls not yet started."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dataforge-ahead") as pool:
        pending: deque[Future[T]] = deque()
        try:
            for item in items:
                pending.append(pool.submit(function, item))
                if len(pending) > workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
