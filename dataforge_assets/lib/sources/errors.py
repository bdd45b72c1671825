"""Turn what a failed dlt run raises (several wrappers deep) into one message a data engineer can act on,
and make sure nothing a source raises carries a secret into the event log, the UI or an alert."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import dagster as dg
import requests
from dlt.extract.exceptions import ResourceExtractionError

from dataforge_assets.lib.redaction import redact, redacted_exception
from dataforge_assets.lib.sources.http import MissingSecretError

T = TypeVar("T")


def explain_failure(source_name: str, results: Iterable[T]) -> Iterator[T]:
    """Pass results through; on failure raise a dg.Failure naming the source, the table and the cause."""
    try:
        yield from results
    except Exception as error:
        chain = _chain(error)
        table = next((e.pipe_name for e in chain if isinstance(e, ResourceExtractionError)), None)
        where = f"source `{source_name}`" + (f", table `{table}`" if table else "")
        cause = _cause(chain)
        if cause is None:
            raise
        message, retry = cause
        raise dg.Failure(f"{where}: {message}", allow_retries=retry) from error


@contextmanager
def raised_errors_redacted() -> Iterator[None]:
    """Whatever the body raises leaves as a dg.Failure whose description and cause chain are redacted.

    Dagster stores the message of every exception in the chain (cause and context) in the event log, and
    an API may echo its token back in an error body: so the chain is replaced by redacted copies.
    """
    try:
        yield
    except dg.Failure as failure:
        cause = failure.__cause__ or (None if failure.__suppress_context__ else failure.__context__)
        raise dg.Failure(
            description=redact(failure.description or ""),
            metadata=failure.metadata,
            allow_retries=failure.allow_retries,
        ) from (redacted_exception(cause) if cause else None)
    except Exception as error:
        raise dg.Failure(
            description=redact(f"{type(error).__name__}: {error}"), allow_retries=True
        ) from redacted_exception(error)


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _cause(chain: list[BaseException]) -> tuple[str, bool] | None:
    """(message, worth retrying) for the first error in the chain we know how to explain."""
    for error in chain:
        if isinstance(error, MissingSecretError):
            return str(error), False
        if isinstance(error, (requests.exceptions.JSONDecodeError, json.JSONDecodeError)):
            return f"the API answered with malformed JSON ({error}); nothing was loaded", True
        if isinstance(error, requests.HTTPError):
            # dlt's message already has the URL with secrets redacted; retries were spent on 429/5xx.
            first_line = str(error).splitlines()[0]
            return f"HTTP error after retries: {first_line}; nothing was loaded", True
        if isinstance(error, requests.Timeout):
            return f"the API did not answer within the timeout (after retries): {error}", True
        if isinstance(error, requests.ConnectionError):
            return f"cannot reach the API: {error}", True
        if isinstance(error, ValueError) and str(error).startswith(("primary key column", "column `")):
            return f"{error}; nothing was loaded", False  # the same answer would fail again
    return None
