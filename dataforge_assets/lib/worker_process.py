"""Which process does the work, and whether it still lives: pid, host and the process's start time.

The start time (from /proc/<pid>/stat) tells a live worker from a new process that reused its pid.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

PID_TAG = "dataforge/worker_pid"
HOST_TAG = "dataforge/worker_host"
STARTED_TAG = "dataforge/worker_started"


def process_start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            text = stat.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    return fields[19]


@dataclass(frozen=True)
class Worker:
    pid: int
    host: str
    started: str | None

    @classmethod
    def this_process(cls) -> Worker:
        return cls(pid=os.getpid(), host=socket.gethostname(), started=process_start_time(os.getpid()))

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> Worker | None:
        if PID_TAG not in tags or HOST_TAG not in tags:
            return None
        return cls(pid=int(tags[PID_TAG]), host=tags[HOST_TAG], started=tags.get(STARTED_TAG) or None)

    def tags(self) -> dict[str, str]:
        return {PID_TAG: str(self.pid), HOST_TAG: self.host, STARTED_TAG: self.started or ""}

    @property
    def on_this_host(self) -> bool:
        return self.host == socket.gethostname()

    def alive(self) -> bool | None:
        """True or False on this host; None (unknown) for a process on another host."""
        if not self.on_this_host:
            return None
        started = process_start_time(self.pid)
        if started is None or _is_zombie(self.pid):
            return False
        return self.started is None or started == self.started

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host}"


def _is_zombie(pid: int) -> bool:
    # A killed child its parent has not reaped yet is still in /proc, in state Z: it is dead.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            text = stat.read()
    except OSError:
        return True
    return text[text.rindex(")") + 2 :].split()[0] in ("Z", "X")
