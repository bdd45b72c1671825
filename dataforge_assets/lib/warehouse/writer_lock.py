"""The DuckDB warehouse's writer lock: an OS lock (flock) on `<database>.lock`, so it dies with its holder.

DuckDB allows one writing process, and readers only while nobody writes: writers take the lock
exclusive, read-only sessions shared. The kernel releases a flock when its process dies (kill -9, OOM,
power loss), so a crashed run never blocks the next one. The exclusive holder writes who it is (run,
pid, host, since) into the file, so a waiting run can say whom it waits for. Re-entrant within a
process: steps nest sessions, and dlt opens its own connections in the same process.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dataforge_assets.lib.worker_process import Worker

POLL_SECONDS = 0.5


class WarehouseLockTimeout(TimeoutError):
    """The warehouse writer lock stayed held by another process for longer than the timeout."""


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or last held, if it died) the exclusive lock: written into the lock file."""

    run_id: str | None
    worker: Worker
    since: str

    def describe(self) -> str:
        run = f"run {self.run_id}" if self.run_id else "a process outside any run"
        return f"{run} ({self.worker.describe()}, since {self.since})"

    def to_json(self) -> str:
        return json.dumps(
            {
                "run_id": self.run_id,
                "pid": self.worker.pid,
                "host": self.worker.host,
                "started": self.worker.started,
                "since": self.since,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> LockHolder | None:
        try:
            data = json.loads(text)
            worker = Worker(pid=int(data["pid"]), host=str(data["host"]), started=data.get("started"))
            return cls(run_id=data.get("run_id"), worker=worker, since=str(data["since"]))
        except (ValueError, KeyError, TypeError):
            return None  # empty (released cleanly) or being written right now


def lock_path_for(database: str) -> Path | None:
    """`<database>.lock` beside the DuckDB file; None for databases with no file (in memory, MotherDuck)."""
    if database in ("", ":memory:") or database.startswith(("md:", "motherduck:", ":memory:")):
        return None
    # One spelling per file (relative, absolute, through a symlink): this process must see one lock, not two.
    return Path(os.path.realpath(database) + ".lock")


def read_holder(path: Path) -> LockHolder | None:
    try:
        return LockHolder.from_json(path.read_text())
    except OSError:
        return None


def lock_state(path: Path) -> str:
    """'free', 'shared' (read-only sessions hold it) or 'exclusive' (a writer holds it), probed without waiting."""
    if not path.exists():
        return "free"
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return "free"
        except BlockingIOError:
            pass
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return "shared"
        except BlockingIOError:
            return "exclusive"
    finally:
        os.close(fd)  # closing drops whatever the probe took


def clear_stale_holder(path: Path) -> LockHolder | None:
    """Forget the holder a dead writer left in the file; returns it. Only when nobody holds the lock."""
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        holder = read_holder(path)
        os.ftruncate(fd, 0)
        return holder
    finally:
        os.close(fd)


@dataclass
class _Held:
    fd: int
    exclusive: bool
    depth: int


_held: dict[Path, _Held] = {}
_guard = threading.Lock()


def held_by_this_process(path: Path) -> str | None:
    """'exclusive', 'shared' or None: what this process holds of the lock."""
    held = _held.get(path)
    return None if held is None else ("exclusive" if held.exclusive else "shared")


@contextmanager
def writer_lock(
    path: Path,
    *,
    exclusive: bool,
    run_id: str | None,
    timeout_seconds: float,
    log_every_seconds: float = 30,
    log: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the lock (exclusive for writing, shared for reading) for the block; waits for it, saying
    every `log_every_seconds` who holds it, and raises WarehouseLockTimeout after `timeout_seconds`."""
    _acquire(
        path, exclusive, run_id, timeout_seconds, log_every_seconds, log or logging.getLogger(__name__).info
    )
    try:
        yield
    finally:
        _release(path)


def _acquire(
    path: Path,
    exclusive: bool,
    run_id: str | None,
    timeout_seconds: float,
    log_every_seconds: float,
    log: Callable[[str], None],
) -> None:
    with _guard:
        held = _held.get(path)
        if held is not None:
            if exclusive and not held.exclusive:
                raise RuntimeError(
                    f"a read-only warehouse session is open on {path.with_suffix('')}: "
                    "open the outer session for writing (session(read_only=False)) to write in it"
                )
            held.depth += 1
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _wait_for(fd, path, exclusive, timeout_seconds, log_every_seconds, log)
        except BaseException:
            os.close(fd)
            raise
        if exclusive:
            holder = LockHolder(
                run_id, Worker.this_process(), datetime.now(UTC).isoformat(timespec="seconds")
            )
            os.ftruncate(fd, 0)
            os.pwrite(fd, holder.to_json().encode(), 0)
        _held[path] = _Held(fd=fd, exclusive=exclusive, depth=1)


def _wait_for(
    fd: int,
    path: Path,
    exclusive: bool,
    timeout_seconds: float,
    log_every_seconds: float,
    log: Callable[[str], None],
) -> None:
    # Non-blocking attempts with a sleep between: no core spent waiting, and the wait can be logged
    # and bounded (a blocking flock can be neither).
    operation = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
    start = time.monotonic()
    next_log = start
    while True:
        try:
            fcntl.flock(fd, operation)
            if time.monotonic() > start + POLL_SECONDS:
                log(f"warehouse lock {path} acquired after {time.monotonic() - start:.0f} s of waiting")
            return
        except BlockingIOError:
            pass
        now = time.monotonic()
        waited = now - start
        if waited >= timeout_seconds:
            raise WarehouseLockTimeout(
                f"gave up after {waited:.0f} s waiting for the warehouse lock {path}, held by "
                f"{_describe_holder(path)}. If that holder is stuck, stop it; a dead holder frees the lock "
                "by itself. Raise the limit with DATAFORGE_WAREHOUSE_LOCK_TIMEOUT_SECONDS."
            )
        if now >= next_log:
            mode = "write" if exclusive else "read"
            log(
                f"waiting {waited:.0f} s to {mode} the warehouse: its lock {path} is held by {_describe_holder(path)}"
            )
            next_log = now + log_every_seconds
        time.sleep(POLL_SECONDS)


def _describe_holder(path: Path) -> str:
    holder = read_holder(path)
    if holder is not None and holder.worker.alive() is not False:
        return holder.describe()
    return "read-only session(s) of other processes"


def _release(path: Path) -> None:
    with _guard:
        held = _held[path]
        held.depth -= 1
        if held.depth:
            return
        del _held[path]
        if held.exclusive:
            os.ftruncate(held.fd, 0)  # released cleanly: no holder to report
        os.close(held.fd)  # closing the file releases the flock
