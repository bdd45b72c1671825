"""Turn what a failed dlt run raises (several wrappers deep) into one message a data engineer can act on.
(That nothing raised carries a secret out is `redacted_errors.py`, which imports no dlt.)

requests, dlt's exceptions and the paging trail are imported when a run fails: a files or SQL source
that loads never imports requests otherwise."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

import dagster as dg

if TYPE_CHECKING:
    import requests

    from dataforge_assets.lib.sources.paging import Trail

T = TypeVar("T")


def explain_failure(source_name: str, results: Iterable[T]) -> Iterator[T]:
    """Pass results through; on failure raise a dg.Failure naming the source, the table and the cause."""
    try:
        yield from results
    except Exception as error:
        from dlt.extract.exceptions import ResourceExtractionError

        from dataforge_assets.lib.sources.paging import trail_of

        chain = _chain(error)
        table = next((e.pipe_name for e in chain if isinstance(e, ResourceExtractionError)), None)
        where = f"source `{source_name}`" + (f", table `{table}`" if table else "")
        trail = trail_of(source_name, table)
        if trail is not None and trail.path:
            where += f", {trail.position()}"
        cause = _cause(chain, trail)
        if cause is None:
            raise
        message, retry = cause
        raise dg.Failure(f"{where}: {message}", allow_retries=retry) from error


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _cause(chain: list[BaseException], trail: Trail | None = None) -> tuple[str, bool] | None:
    """(message, worth retrying) for the first error in the chain we know how to explain."""
    import requests

    from dataforge_assets.lib.sources.http import MissingSecretError
    from dataforge_assets.lib.sources.paging import UnstablePagingError

    for error in chain:
        if isinstance(error, MissingSecretError):
            return str(error), False
        if isinstance(error, UnstablePagingError):
            return f"{error}; nothing was loaded", True
        if isinstance(error, (requests.exceptions.JSONDecodeError, json.JSONDecodeError)):
            return _not_json(error, trail), True
        if isinstance(error, requests.HTTPError):
            return _http_error(error)
        if isinstance(error, requests.exceptions.SSLError):
            return (
                f"TLS certificate verification failed: {_first_line(error)}; trust a private CA with "
                "REQUESTS_CA_BUNDLE (verification is never turned off); nothing was loaded",
                False,
            )
        if isinstance(error, requests.Timeout):
            return f"the API did not answer within the timeout (after retries): {error}", True
        if isinstance(error, requests.exceptions.ChunkedEncodingError):
            return (
                f"the API's answer was cut off before its end (after retries): {error}; nothing was loaded",
                True,
            )
        if isinstance(error, requests.ConnectionError):
            return f"cannot reach the API: {error}", True
        if isinstance(error, ValueError) and str(error).startswith(("primary key column", "column `")):
            return f"{error}; nothing was loaded", False  # the same answer would fail again
    return None


def _first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [""])[0]


def _http_error(error: requests.HTTPError) -> tuple[str, bool]:
    # dlt's message has the URL with key/token query parameters masked; retries were spent on 429/5xx.
    status = error.response.status_code if error.response is not None else None
    path = urlsplit(error.response.url).path if error.response is not None else "?"
    if status in (401, 403):
        # Retrying with the same credentials gets the same answer: renew them and re-run.
        return (
            f"the API refused the credentials (HTTP {status} on {path}): the token or key may have expired "
            "or lack access; renew the secret in its env var and re-run; nothing was loaded",
            False,
        )
    return f"HTTP error after retries: {_first_line(error)}; nothing was loaded", True


def _not_json(error: BaseException, trail: Trail | None) -> str:
    body = getattr(error, "doc", "") or ""
    kind = f" ({trail.content_type})" if trail is not None and trail.content_type else ""
    if body.lstrip()[:1] in ("{", "["):
        what = f"malformed or truncated JSON{kind}, {len(body)} characters: {error}"
    else:
        what = f"a body that is not JSON{kind}, starting {body.strip()[:60]!r}"
    return f"the API answered with {what}; nothing was loaded"
