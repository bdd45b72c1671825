"""Where a REST table's read is (path, page) and whether its pages can be trusted.

dlt's paginators move from page to page; they do not notice an API whose paging is unstable. Two faults
are detectable from the answers alone, and each fails the run before anything is loaded:
- a page that repeats the previous one (same non-empty rows): a page-number API serving page 2 twice, a
  cursor API handing back the same cursor; the rows in between may have been skipped;
- an offset API whose `total_path` says N rows while the pages held another number (a page came back
  short, or pages overlapped).
`Trail` keeps the position (URL path without query string, page number) for error messages.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from dlt.common import jsonpath
from dlt.sources.helpers.rest_client.paginators import BasePaginator, OffsetPaginator
from requests import PreparedRequest, Request, Response


class UnstablePagingError(ValueError):
    """The API's pages contradict themselves: a retry may see stable pages again."""


@dataclass
class Trail:
    """What a table's read has seen so far in this run."""

    path: str = ""  # URL path of the last request, no query string (it may hold keys)
    pages: int = 0  # pages read completely
    page: int = 0  # the page of the last answer (retries of a page answer for the same page)
    rows: int = 0  # rows in those pages, before the incremental filter
    content_type: str = ""
    last_page: str = ""  # fingerprint of the last non-empty page

    def position(self) -> str:
        return f"GET {self.path or '?'} (page {self.page})"


_trails: dict[tuple[str, str], Trail] = {}
_lock = threading.Lock()


def new_trail(source: str, table: str) -> Trail:
    with _lock:
        _trails[(source, table)] = trail = Trail()
    return trail


def trail_of(source: str, table: str | None) -> Trail | None:
    return _trails.get((source, table)) if table else None


def record_responses(trail: Trail) -> Any:
    """Remembers the path and content type of every answer."""

    def hook(response: Response) -> None:
        trail.path = urlsplit(response.url).path
        trail.page = trail.pages + 1
        trail.content_type = response.headers.get("Content-Type", "")

    return hook


class CheckedPaginator(BasePaginator):
    """Wraps one of dlt's paginators: same paging, plus the repeat and row-total checks."""

    def __init__(self, inner: BasePaginator, source: str, table: str) -> None:
        super().__init__()
        self.inner, self.source, self.table = inner, source, table

    @property
    def has_next_page(self) -> bool:
        return self.inner.has_next_page

    def init_request(self, request: Request) -> None:
        self.inner.init_request(request)

    def update_request(self, request: Request | PreparedRequest) -> None:
        self.inner.update_request(request)  # type: ignore[arg-type]

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        trail = _trails.setdefault((self.source, self.table), Trail())
        if data:
            fingerprint = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
            if fingerprint == trail.last_page:
                raise UnstablePagingError(
                    f"page {trail.pages + 1} repeats page {trail.pages} ({len(data)} identical rows): "
                    "the API's paging is unstable and rows may have been skipped"
                )
            trail.last_page = fingerprint
        trail.pages += 1
        trail.rows += len(data or [])
        self.inner.update_state(response, data)
        if not self.inner.has_next_page:
            self._check_total(response, trail)

    def _check_total(self, response: Response, trail: Trail) -> None:
        if not isinstance(self.inner, OffsetPaginator) or self.inner.total_path is None:
            return
        values = jsonpath.find_values(self.inner.total_path, response.json())
        if values and isinstance(values[0], int) and values[0] != trail.rows:
            raise UnstablePagingError(
                f"the API reported {values[0]} rows in total but its {trail.pages} pages held {trail.rows}: "
                "a page was skipped, cut short or repeated"
            )

    def __str__(self) -> str:
        return f"checked {self.inner}"
