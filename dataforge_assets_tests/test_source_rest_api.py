"""rest_api sources against real local HTTP servers: paginators, cursors, retries, bad answers, auth."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dataforge_assets.demo import replay_server
from dataforge_assets_tests.conftest import Platform, materialization_metadata
from dataforge_assets_tests.source_yaml import failure_message, load_source, materialize

# The first real weather rows, as the replay server serves them (typed JSON values).
ROWS = replay_server.weather_rows()[:23]
FAST_RETRIES = "request_retries: {max_attempts: 3, backoff_factor: 0.01, max_delay_seconds: 0.05}"


def source_yaml(url: str, paginator: str, connection_extra: str = "", table_extra: str = "") -> str:
    return f"""
    type: dataforge_assets.lib.sources.SourceComponent
    attributes:
      name: api
      connection:
        kind: rest_api
        base_url: {url}
        paginator: {paginator}
        timeout_seconds: 2
        {FAST_RETRIES}
        {connection_extra}
        tables:
          - name: items
            path: items
            primary_key: [origin, time_hour]
            columns: {{year: bigint, hour: bigint}}
            {table_extra}
      retry: {{max_retries: 0}}
    """


def page_number(request: Request) -> Response:
    page, size = int(request.args["page"]), 5
    body = {"data": ROWS[(page - 1) * size : page * size], "total_pages": -(-len(ROWS) // size)}
    return Response(json.dumps(body), content_type="application/json")


def offset(request: Request) -> Response:
    start, limit = int(request.args["offset"]), int(request.args["limit"])
    body = {"items": ROWS[start : start + limit], "total": len(ROWS)}
    return Response(json.dumps(body), content_type="application/json")


def cursor(request: Request) -> Response:
    start = int(request.args.get("cursor", "0"))
    nxt = start + 7 if start + 7 < len(ROWS) else None
    body = {"results": ROWS[start : start + 7], "next_cursor": None if nxt is None else str(nxt)}
    return Response(json.dumps(body), content_type="application/json")


def link_header(request: Request) -> Response:
    start = int(request.args.get("from", "0"))
    headers = {}
    if start + 6 < len(ROWS):
        headers["Link"] = f'<{request.base_url}?{urlencode({"from": start + 6})}>; rel="next"'
    return Response(json.dumps(ROWS[start : start + 6]), content_type="application/json", headers=headers)


PAGINATORS: dict[str, tuple[str, str, Callable[[Request], Response]]] = {
    "page_number": (
        "{type: page_number, page_param: page, base_page: 1, total_path: total_pages}",
        "data",
        page_number,
    ),
    "offset": ("{type: offset, limit: 4, total_path: total}", "items", offset),
    "cursor": ("{type: cursor, cursor_path: next_cursor, cursor_param: cursor}", "results", cursor),
    "link_header": ("{type: link_header}", "$", link_header),
}


@pytest.mark.parametrize("style", list(PAGINATORS))
def test_every_paginator_reads_every_page(
    style: str, platform: Platform, httpserver: HTTPServer, tmp_path: Path
) -> None:
    paginator, selector, handler = PAGINATORS[style]
    httpserver.expect_request("/items").respond_with_handler(handler)
    defs = load_source(
        tmp_path, source_yaml(httpserver.url_for("/"), paginator, table_extra=f"data_selector: '{selector}'")
    )
    result = materialize(defs, platform.instance)
    assert materialization_metadata(result, ["raw", "items"])["rows_loaded"] == len(ROWS)
    got = platform.sql("SELECT origin, time_hour, year, hour, temp FROM raw.items ORDER BY time_hour, origin")
    expected = sorted((r["origin"], r["time_hour"], r["year"], r["hour"], r["temp"]) for r in ROWS)
    assert got == sorted(expected, key=lambda r: (r[1], r[0]))
    assert len(httpserver.log) > 2  # really paged


def test_cursor_advances_across_runs(platform: Platform, tmp_path: Path) -> None:
    rows = replay_server.weather_rows()[:60]
    with replay_server.running(rows=rows) as server:
        server.visible_rows = 40
        yaml = source_yaml(
            server.url,
            "{type: page_number, page_param: page, total_path: total_pages}",
            table_extra="data_selector: data\n            params: {page_size: 15}\n"
            "            cursor_field: time_hour\n            cursor_param: since\n"
            "            initial_cursor_value: '2013-01-01T00:00:00Z'",
        ).replace("path: items", "path: weather")
        defs = load_source(tmp_path, yaml)
        materialize(defs, platform.instance)
        assert platform.count("raw.items") == 40
        first_run_requests = len(server.requests)
        last_hour = max(r["time_hour"] for r in rows[:40])

        server.visible_rows = 60  # 20 new rows arrive
        second = materialize(defs, platform.instance)
        asked = server.requests[first_run_requests:]
        assert asked and all(f"since={last_hour.replace(':', '%3A')}" in path for path in asked)
        new_rows = sum(1 for r in rows[40:60])
        assert materialization_metadata(second, ["raw", "items"])["rows_loaded"] == new_rows
        assert platform.count("raw.items") == 60
        assert (
            platform.sql("SELECT count(*) FROM (SELECT DISTINCT origin, time_hour FROM raw.items)")[0][0]
            == 60
        )


def _flaky(failures: list[Response]) -> Callable[[Request], Response]:
    """Answers with the given failures first, then with the rows."""

    def handler(request: Request) -> Response:
        if failures:
            return failures.pop(0)
        return Response(json.dumps({"data": ROWS}), content_type="application/json")

    return handler


@pytest.mark.parametrize(
    "failures",
    [
        pytest.param([Response("slow down", status=429, headers={"Retry-After": "0"})], id="429-then-ok"),
        pytest.param([Response("oops", status=500), Response("oops", status=503)], id="5xx-then-ok"),
    ],
)
def test_transient_errors_are_retried(
    failures: list[Response], platform: Platform, httpserver: HTTPServer, tmp_path: Path
) -> None:
    expected_requests = len(failures) + 1
    httpserver.expect_request("/items").respond_with_handler(_flaky(failures))
    defs = load_source(
        tmp_path,
        source_yaml(httpserver.url_for("/"), "{type: link_header}", table_extra="data_selector: data"),
    )
    materialize(defs, platform.instance)
    assert platform.count("raw.items") == len(ROWS)
    assert len(httpserver.log) == expected_requests


def test_persistent_500_fails_clearly_and_writes_nothing(
    platform: Platform, httpserver: HTTPServer, tmp_path: Path
) -> None:
    broken = {"on": True}

    def handler(request: Request) -> Response:
        if request.args["page"] == "3" and broken["on"]:
            return Response("database is down", status=500)
        return page_number(request)

    httpserver.expect_request("/items").respond_with_handler(handler)
    defs = load_source(
        tmp_path,
        source_yaml(httpserver.url_for("/"), PAGINATORS["page_number"][0], table_extra="data_selector: data"),
    )
    failed = materialize(defs, platform.instance, raise_on_error=False)
    assert not failed.success
    message = failure_message(failed)
    assert "source `api`, table `items`" in message and "500" in message and "nothing was loaded" in message
    assert sum(1 for entry in httpserver.log if entry[0].args["page"] == "3") == 3  # max_attempts
    assert not platform.sql("SELECT * FROM information_schema.tables WHERE table_name = 'items'")

    broken["on"] = False  # the API recovers: a re-run loads every row exactly once
    materialize(defs, platform.instance)
    assert platform.count("raw.items") == len(ROWS)


def test_timeout_is_retried_then_fails_clearly(
    platform: Platform, httpserver: HTTPServer, tmp_path: Path
) -> None:
    def slow(request: Request) -> Response:
        time.sleep(1.0)
        return Response(json.dumps({"data": ROWS}), content_type="application/json")

    httpserver.expect_request("/items").respond_with_handler(slow)
    yaml = source_yaml(httpserver.url_for("/"), "{type: link_header}", table_extra="data_selector: data")
    defs = load_source(tmp_path, yaml.replace("timeout_seconds: 2", "timeout_seconds: 0.2"))
    failed = materialize(defs, platform.instance, raise_on_error=False)
    assert "did not answer within the timeout" in failure_message(failed)
    deadline = time.monotonic() + 10  # the test server answers the abandoned attempts one by one
    while len(httpserver.log) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(httpserver.log) == 3  # max_attempts, each cut off by the timeout


def test_malformed_json_fails_clearly(platform: Platform, httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/items").respond_with_data(
        '{"data": [{"origin": "EWR",', content_type="application/json"
    )
    defs = load_source(
        tmp_path,
        source_yaml(httpserver.url_for("/"), "{type: link_header}", table_extra="data_selector: data"),
    )
    failed = materialize(defs, platform.instance, raise_on_error=False)
    message = failure_message(failed)
    assert (
        "source `api`, table `items`, GET /items (page 1): the API answered with malformed or truncated JSON"
        in message
    )


@pytest.mark.parametrize(
    ("auth", "header", "value"),
    [
        ("{type: bearer, token_env: TEST_API_TOKEN}", "Authorization", "Bearer s3cr3t-t0ken-value"),
        ("{type: api_key, key_env: TEST_API_TOKEN, header: X-Api-Key}", "X-Api-Key", "s3cr3t-t0ken-value"),
    ],
)
def test_auth_header_is_sent_and_never_logged(
    auth: str,
    header: str,
    value: str,
    platform: Platform,
    httpserver: HTTPServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    secret = "s3cr3t-t0ken-value"
    monkeypatch.setenv("TEST_API_TOKEN", secret)
    httpserver.expect_request("/items", headers={header: value}).respond_with_json({"data": ROWS})
    defs = load_source(
        tmp_path,
        source_yaml(httpserver.url_for("/"), "{type: link_header}", f"auth: {auth}", "data_selector: data"),
    )
    with caplog.at_level(logging.DEBUG):
        result = materialize(defs, platform.instance)
    assert platform.count("raw.items") == len(ROWS)  # the server only answers requests with the header
    logged = [caplog.text, *capfd.readouterr()]
    logged += [str(entry) for entry in platform.instance.all_logs(result.run_id)]
    logged.append(str(materialization_metadata(result, ["raw", "items"])))
    assert not [text for text in logged if secret in text]


def test_missing_secret_names_the_env_var(
    platform: Platform, httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_API_TOKEN", raising=False)
    httpserver.expect_request("/items").respond_with_json({"data": ROWS})
    yaml = source_yaml(
        httpserver.url_for("/"),
        "{type: link_header}",
        "auth: {type: bearer, token_env: TEST_API_TOKEN}",
        "data_selector: data",
    )
    defs = load_source(tmp_path, yaml.replace("max_retries: 0", "max_retries: 2"))  # loads fine
    failed = materialize(defs, platform.instance, raise_on_error=False)
    assert "environment variable TEST_API_TOKEN" in failure_message(failed)
    assert not httpserver.log  # failed before any request, and was not retried
    assert len([e for e in failed.all_events if e.is_step_failure]) == 1


def test_rate_limit_spaces_requests(platform: Platform, httpserver: HTTPServer, tmp_path: Path) -> None:
    arrivals: list[float] = []

    def timed(request: Request) -> Response:
        arrivals.append(time.monotonic())
        return page_number(request)

    httpserver.expect_request("/items").respond_with_handler(timed)
    yaml = source_yaml(
        httpserver.url_for("/"),
        PAGINATORS["page_number"][0],
        "rate_limit: {requests_per_second: 5}",
        "data_selector: data",
    )
    materialize(load_source(tmp_path, yaml), platform.instance)
    assert platform.count("raw.items") == len(ROWS)
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:], strict=False)]
    # 5 requests per second at most: sends are 0.2 s apart (arrivals may jitter a little); unlimited, ~ms apart
    assert len(gaps) >= 4 and min(gaps) >= 0.15


def test_row_without_primary_key_fails_clearly(
    platform: Platform, httpserver: HTTPServer, tmp_path: Path
) -> None:
    rows = [dict(row) for row in ROWS]
    rows[5]["origin"] = None
    httpserver.expect_request("/items").respond_with_json({"data": rows})
    defs = load_source(
        tmp_path,
        source_yaml(httpserver.url_for("/"), "{type: link_header}", table_extra="data_selector: data"),
    )
    failed = materialize(defs, platform.instance, raise_on_error=False)
    assert (
        "table `items`, GET /items (page 1): primary key column `origin` is null in 1 row(s); nothing was loaded"
        in failure_message(failed)
    )
    assert not platform.sql("SELECT * FROM information_schema.tables WHERE table_name = 'items'")
