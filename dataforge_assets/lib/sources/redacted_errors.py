"""Make sure nothing a source raises carries a secret into the event log, the UI or an alert.

Kept apart from `errors.py` (which imports dlt and requests): a raw step that proves it has nothing to
load never imports them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from dataforge_assets.lib.redaction import redact, redacted_exception


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
