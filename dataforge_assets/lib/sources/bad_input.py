"""Bad input is not a transient failure: retrying cannot fix it, so the run fails at once and says why."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from dlt.common.schema.exceptions import DataValidationError

from dataforge_assets.lib.sources.file_checks import BadSourceFile

FINAL = (BadSourceFile, DataValidationError)


@contextmanager
def bad_input_fails_without_retry(source: str) -> Iterator[None]:
    try:
        yield
    except Exception as error:
        cause = _final_cause(error)
        if cause is None:
            raise
        message = str(cause) if isinstance(cause, BadSourceFile) else f"source {source!r}: {cause}"
        raise dg.Failure(
            description=message, metadata={"bad_input": type(cause).__name__}, allow_retries=False
        ) from error


def _final_cause(error: BaseException | None) -> BaseException | None:
    seen = 0
    while error is not None and seen < 20:
        if isinstance(error, FINAL):
            return error
        error, seen = error.__cause__ or error.__context__, seen + 1
    return None
