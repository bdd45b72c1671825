"""Hostile APIs on a real local HTTP server, through the real pipeline: each fault is either retried to an
exact result or fails naming source, table, URL path and page, with nothing loaded and the cursor unmoved;
a re-run after the API recovers loads exactly the right rows."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dataforge_assets.demo import replay_server
from dataforge_assets_tests.conftest import Platform
from dataforge_assets_tests.source_yaml import failure_message, load_source, materialize

ROWS = sorted(replay_server.weather_rows()[:23], key=lambda r: (r["time_hour"], r["origin"]))
PAGE = 5
FAST = "request_retries: {max_attempts: 3, backoff_factor: 0.01, max_delay_seconds: 0.05}"
TOKEN = "exp1red-t0ken-7f3a"


def yaml_for(url: str, paginator: str, extra: str = "", max_retries: int = 0) -> str:
    return f"""
    type: dataforge_assets.lib.sources.SourceComponent
    attributes:
      name: api
      connection:
        kind: rest_api
        base_url: {url}
        paginator: {paginator}
        timeout_seconds: 2
        {FAST}
        {extra}
        tables:
          - name: items
            path: items
            data_selector: data
            primary_key: [origin, time_hour]
            cursor_field: time_hour
            cursor_param: since
            initial_cursor_value: '2013-01-01T00:00:00Z'
            params: {{api_key: query-secret-123}}
            columns: {{year: bigint, hour: bigint}}
      retry: {{max_retries: {max_retries}, delay_seconds: 0}}
    """


PAGE_NUMBER = "{type: page_number, page_param: page, base_page: 1, total_path: total_pages}"


class Api:
    """A page-number API over the rows visible now, filtered by `since`, with one fault switched on."""

    def __init__(self) -> None:
        self.visible = len(ROWS)
        self.fault: Callable[[Request, int], Response | None] | None = None

    def rows(self, request: Request) -> list[dict]:
        since = request.args.get("since", "")
        return [r for r in ROWS[: self.visible] if r["time_hour"] >= since]

    def handler(self, request: Request) -> Response:
        page = int(request.args.get("page", "1"))
        if self.fault and (answer := self.fault(request, page)):
            return answer
        return self.page(request, page)

    def page(self, request: Request, page: int) -> Response:
        rows = self.rows(request)
        body = {"data": rows[(page - 1) * PAGE : page * PAGE], "total_pages": max(1, -(-len(rows) // PAGE))}
        return Response(json.dumps(body), content_type="application/json")


@pytest.fixture
def api(httpserver: HTTPServer) -> Iterator[Api]:
    api = Api()
    httpserver.expect_request("/items").respond_with_handler(api.handler)
    yield api


def raw_state(platform: Platform) -> tuple[int, int]:
    """(rows in raw.items, loads in raw.items)."""
    return platform.sql("SELECT count(*), count(DISTINCT _dlt_load_id) FROM raw.items")[0]


def load_then_fail(
    platform: Platform,
    api: Api,
    httpserver: HTTPServer,
    tmp_path: Path,
    fault: Callable[[Request, int], Response | None],
    extra: str = "",
    max_retries: int = 0,
) -> tuple[object, str]:
    """First run loads 10 rows; then 13 more arrive and the fault hits the second run."""
    defs = load_source(tmp_path, yaml_for(httpserver.url_for("/"), PAGE_NUMBER, extra, max_retries))
    api.visible = 10
    materialize(defs, platform.instance)
    assert raw_state(platform) == (10, 1)
    api.visible, api.fault = len(ROWS), fault
    failed = materialize(defs, platform.instance, raise_on_error=False)
    assert not failed.success
    message = failure_message(failed)
    assert "query-secret-123" not in message  # a key in the query string is never shown
    assert raw_state(platform) == (10, 1)  # nothing of the failed run was loaded
    return defs, message


def recovers_exactly(platform: Platform, api: Api, httpserver: HTTPServer, defs: object) -> None:
    """The API recovers: the re-run asks from the unmoved cursor and loads exactly the 13 new rows."""
    api.fault = None
    before = len(httpserver.log)
    materialize(defs, platform.instance)  # type: ignore[arg-type]
    last_hour_of_first_run = ROWS[9]["time_hour"]
    assert httpserver.log[before][0].args["since"] == last_hour_of_first_run
    assert raw_state(platform) == (len(ROWS), 2)
    got = platform.sql("SELECT origin, time_hour, temp FROM raw.items ORDER BY time_hour, origin")
    assert got == [(r["origin"], r["time_hour"], r["temp"]) for r in ROWS]


def test_expired_token_fails_at_once_naming_path_and_page(
    platform: Platform, api: Api, httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOSTILE_API_TOKEN", TOKEN)

    def fault(request: Request, page: int) -> Response | None:
        if page == 2:  # the token expires mid-read, and the API echoes it back
            return Response(f'{{"error": "token {TOKEN} expired"}}', status=401)
        return None

    auth = "auth: {type: bearer, token_env: HOSTILE_API_TOKEN}"
    defs, message = load_then_fail(platform, api, httpserver, tmp_path, fault, auth, max_retries=2)
    assert "source `api`, table `items`, GET /items (page 2)" in message
    assert "refused the credentials (HTTP 401 on /items)" in message and "nothing was loaded" in message
    assert TOKEN not in message
    failures = [r for r in httpserver.log if r[1].status_code == 401]
    assert len(failures) == 1  # a 401 is neither retried by the request nor by the run
    recovers_exactly(platform, api, httpserver, defs)


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        pytest.param(
            "<html><body>Down for maintenance</body></html>",
            "text/html",
            "a body that is not JSON (text/html), starting '<html><body>Down for maintenance",
            id="html",
        ),
        pytest.param(
            '{"data": [{"origin": "EWR", "time_ho',
            "application/json",
            "malformed or truncated JSON (application/json), 36 characters",
            id="truncated-json",
        ),
    ],
)
def test_non_json_page_fails_naming_page(
    body: str,
    content_type: str,
    expected: str,
    platform: Platform,
    api: Api,
    httpserver: HTTPServer,
    tmp_path: Path,
) -> None:
    def fault(request: Request, page: int) -> Response | None:
        return Response(body, content_type=content_type) if page == 3 else None

    defs, message = load_then_fail(platform, api, httpserver, tmp_path, fault)
    assert "source `api`, table `items`, GET /items (page 3): the API answered with " + expected in message
    recovers_exactly(platform, api, httpserver, defs)


def test_answer_cut_off_mid_body_is_retried_to_an_exact_result(
    platform: Platform, api: Api, httpserver: HTTPServer, tmp_path: Path
) -> None:
    cuts = {"left": 2}

    def fault(request: Request, page: int) -> Response | None:
        if page != 2 or not cuts["left"]:
            return None
        cuts["left"] -= 1
        full = api.page(request, page).get_data()

        def half() -> Iterator[bytes]:
            yield full[: len(full) // 2]
            raise ConnectionAbortedError("connection dropped mid-body")

        return Response(half(), content_type="application/json", headers={"Content-Length": str(len(full))})

    defs = load_source(tmp_path, yaml_for(httpserver.url_for("/"), PAGE_NUMBER))
    api.fault = fault
    materialize(defs, platform.instance)
    assert cuts["left"] == 0  # both cut answers were seen, and retried by the request
    assert raw_state(platform) == (len(ROWS), 1)
    got = platform.sql("SELECT origin, time_hour FROM raw.items ORDER BY time_hour, origin")
    assert got == [(r["origin"], r["time_hour"]) for r in ROWS]


def test_repeated_page_fails_then_a_rerun_loads_exactly(
    platform: Platform, api: Api, httpserver: HTTPServer, tmp_path: Path
) -> None:
    def fault(request: Request, page: int) -> Response | None:
        return api.page(request, 2) if page == 3 else None  # page 3 serves page 2 again

    defs, message = load_then_fail(platform, api, httpserver, tmp_path, fault)
    assert "GET /items (page 3)" in message and "page 3 repeats page 2 (5 identical rows)" in message
    recovers_exactly(platform, api, httpserver, defs)


def test_offset_total_mismatch_fails_then_a_rerun_loads_exactly(
    platform: Platform, httpserver: HTTPServer, tmp_path: Path
) -> None:
    short = {"on": True}

    def offset(request: Request) -> Response:
        start, limit = int(request.args["offset"]), int(request.args["limit"])
        rows = ROWS[start : start + limit]
        if start == 8 and short["on"]:
            rows = rows[:2]  # a page cut short: two rows never arrive
        return Response(json.dumps({"data": rows, "total": len(ROWS)}), content_type="application/json")

    httpserver.expect_request("/items").respond_with_handler(offset)
    paginator = "{type: offset, limit: 4, total_path: total}"
    defs = load_source(tmp_path, yaml_for(httpserver.url_for("/"), paginator))
    failed = materialize(defs, platform.instance, raise_on_error=False)
    message = failure_message(failed)
    assert f"the API reported {len(ROWS)} rows in total but its 6 pages held {len(ROWS) - 2}" in message
    assert not platform.sql("SELECT * FROM information_schema.tables WHERE table_name = 'items'")
    short["on"] = False
    materialize(defs, platform.instance)
    assert raw_state(platform) == (len(ROWS), 1)
