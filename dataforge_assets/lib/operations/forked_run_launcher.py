"""Dagster's DefaultRunLauncher, whose run workers fork from a process that has already imported Dagster.

The default launcher asks the code server to start each run worker, and Dagster's gRPC server starts it
as a fresh interpreter (`multiprocessing` spawn, not configurable): every run first imports Dagster and
the instance's storage (SQLAlchemy, alembic), about two `import dagster`, before it loads the
definitions. Here the worker is forked from a Python forkserver (a fresh single-threaded process, so
forking it is safe) that imported those once, and runs what the code server's worker runs
(`dagster._grpc.impl.start_run_in_subprocess`). Our code is not preloaded: each worker imports the
definitions from disk, so a code change reaches the next run as it does through the code server.

Kept from the code server: the launch fails if the worker dies or errors before it has opened the
instance and found its run; a worker that dies later is reported (engine event with its exit code or
signal) and its run failed, so run retries and alerts fire. The run is tagged with its worker process at
launch, so the dead-run sensor (dead_runs.py) and termination (SIGINT, the signal Dagster's own
termination raises in the worker) find it even while it loads the definitions.

Runs of a code location in another interpreter (another virtualenv, a container) go to the code server,
as does the first run after start: it would otherwise wait for the forkserver's own imports.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import socket
import sys
import threading
import time
from typing import Any

import dagster as dg
from dagster._core.launcher import LaunchRunContext

from dataforge_assets.lib.worker_process import Worker, process_start_time

LAUNCHER_TAG = "dataforge/run_launcher"
FORKED = "forked"
# What every run worker imports before it reaches our code: the run execution and the instance's
# storage, SQLite (embedded default) and PostgreSQL (production). "__main__" is the launching process's
# entry point (dagster-daemon), which each child would otherwise re-import.
PRELOAD = [
    "__main__",
    "dagster._grpc.impl",
    "dagster._core.storage.runs.sqlite",
    "dagster._core.storage.event_log.sqlite",
    "dagster._core.storage.schedules.sqlite",
    "dagster._core.storage.root",
    "dagster_postgres",
    # Libraries our definitions import as they load (third-party, so a code change never needs them
    # reloaded; none starts a thread at import, which forking would not carry over).
    "dagster_duckdb",
    "jinja2",
    "tomlkit",
    # What a raw step imports before it loads (~1.7 s). polars and pyarrow are not here: importing them
    # starts threads (polars' pool, pyarrow's allocator), and a fork of a threaded process can deadlock.
    "dlt",
    "dagster_dlt",
]
START_TIMEOUT_SECONDS = 180
POLL_SECONDS = 0.02


class ForkedRunLauncher(dg.DefaultRunLauncher):
    """DefaultRunLauncher that forks run workers from a warm forkserver when the code runs here."""

    def __init__(self, inst_data: Any = None) -> None:
        super().__init__(inst_data=inst_data)
        self._context = multiprocessing.get_context("forkserver")
        self._warm = threading.Event()
        self._warming = threading.Lock()
        self._warmup: threading.Thread | None = None

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        if not self._forks(run):
            super().launch_run(context)
            return
        if not self._warm.is_set():
            # The code server starts this one; the forkserver warms once that worker has done its own
            # imports, so the two do not share the CPU.
            super().launch_run(context)
            self._start_warmup()
            return
        from dagster._grpc.impl import start_run_in_subprocess
        from dagster._grpc.types import ExecuteExternalJobArgs
        from dagster._serdes import serialize_value
        from dagster._utils.hosted_user_process import recon_job_from_origin

        arguments = serialize_value(
            ExecuteExternalJobArgs(
                job_origin=run.remote_job_origin,  # type: ignore[arg-type]
                run_id=run.run_id,
                instance_ref=self._instance.get_ref(),
            )
        )
        events = self._context.Queue()
        termination = self._context.Event()  # Dagster's worker expects one; termination is by signal
        worker = self._context.Process(
            target=start_run_in_subprocess,
            args=[arguments, recon_job_from_origin(run.job_code_origin), events, termination],  # type: ignore[arg-type]
            name=f"dagster-run-{run.run_id}",
        )
        worker.start()
        pid = worker.pid
        assert pid is not None
        tags = Worker(pid=pid, host=socket.gethostname(), started=process_start_time(pid)).tags()
        self._instance.add_run_tags(run.run_id, {**tags, LAUNCHER_TAG: FORKED})
        _wait_until_started(worker, events, run.run_id)
        self._run_ids.add(run.run_id)
        threading.Thread(target=self._watch, args=(worker, run.run_id), daemon=True).start()

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.tags.get(LAUNCHER_TAG) != FORKED:
            return super().terminate(run_id)
        if run.is_finished:
            return False
        self._instance.report_run_canceling(run)
        worker = Worker.from_tags(dict(run.tags))
        if worker is None or not worker.alive():
            self._instance.report_engine_event(
                "No live run worker on this host to send the termination to.", run, cls=self.__class__
            )
            return False
        os.kill(worker.pid, signal.SIGINT)
        return True

    @staticmethod
    def _forks(run: dg.DagsterRun) -> bool:
        """The run's code location runs in this interpreter: its worker can be forked from ours."""
        origin = run.job_code_origin
        return origin is not None and origin.repository_origin.executable_path == sys.executable

    def _start_warmup(self) -> None:
        """Start the forkserver in the background (once); launches fork from it when it is ready."""
        with self._warming:
            if self._warmup is None:
                self._context.set_forkserver_preload(PRELOAD)
                self._warmup = threading.Thread(target=self._start_forkserver, daemon=True)
                self._warmup.start()

    def _start_forkserver(self) -> None:
        from multiprocessing import forkserver

        forkserver.ensure_running()
        self._warm.set()

    def _watch(self, worker: Any, run_id: str) -> None:
        """As the code server does for its workers: a worker gone before its run finished fails the run."""
        from dagster._utils import get_run_crash_explanation

        worker.join()
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            return
        # The forkserver reports its children's exits: if it was the one to die, the worker lives on
        # (the dead-run sensor still watches it).
        if (known := Worker.from_tags(dict(run.tags))) is not None and known.alive():
            return
        message = get_run_crash_explanation(
            prefix=f"Run execution process for {run_id}", exit_code=worker.exitcode
        )
        self._instance.report_engine_event(message, run, cls=self.__class__)
        self._instance.report_run_failed(run)


def _wait_until_started(worker: Any, events: Any, run_id: str) -> None:
    """As the code server does: the launch succeeds once the worker has opened the instance and found
    its run; a worker that fails or dies before that fails the launch with its reason."""
    from dagster._core.errors import DagsterLaunchFailedError
    from dagster._grpc.impl import IPCErrorMessage, StartRunInSubprocessSuccessful

    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            message = events.get(timeout=POLL_SECONDS)
        except queue.Empty:
            if not worker.is_alive():
                raise DagsterLaunchFailedError(
                    f"Run worker for {run_id} exited (code {worker.exitcode}) before the run started"
                ) from None
            continue
        if isinstance(message, StartRunInSubprocessSuccessful):
            return
        if isinstance(message, IPCErrorMessage):
            raise DagsterLaunchFailedError(
                message.message, serializable_error_info=message.serializable_error_info
            )
    worker.kill()  # the launch fails: no worker may go on to execute the run behind its back
    raise DagsterLaunchFailedError(f"Run worker for {run_id} did not start in {START_TIMEOUT_SECONDS}s")
