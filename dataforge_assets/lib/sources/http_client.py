"""The run-time half of http.py: dlt's retrying session with a per-source rate limit and a response
hook, and auth from env vars. Apart from http.py so that loading the definitions imports neither dlt nor
requests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from dlt.common.configuration.specs.base_configuration import configspec
from dlt.sources.helpers.requests import Client
from dlt.sources.helpers.rest_client.auth import AuthConfigBase
from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter

from dataforge_assets.lib.sources.http import read_env

if TYPE_CHECKING:
    from dataforge_assets.lib.sources.http import RateLimit, RequestRetries


class RateLimiter:
    """Spaces every attempt (retries included) at least 1/rate seconds apart, across a source's tables."""

    def __init__(self, requests_per_second: float) -> None:
        self._interval = 1.0 / requests_per_second
        self._next_at = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            wait = self._next_at - now
            self._next_at = max(now, self._next_at) + self._interval
        if wait > 0:
            time.sleep(wait)


class _SourceAdapter(HTTPAdapter):
    """Every attempt waits for the rate limit; every answer is shown to `on_response` (before dlt's hooks,
    which replace a session's own response hooks)."""

    def __init__(self, limiter: RateLimiter | None, on_response: Callable[[Response], None] | None) -> None:
        super().__init__()
        self._limiter, self._on_response = limiter, on_response

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        if self._limiter:
            self._limiter.wait()
        response = super().send(request, *args, **kwargs)
        if self._on_response:
            self._on_response(response)
        return response


def rate_limiter(rate_limit: RateLimit | None) -> RateLimiter | None:
    """One limiter per source, shared by every table's session: the limit holds for the whole source."""
    return RateLimiter(rate_limit.requests_per_second) if rate_limit else None


def make_session(
    timeout_seconds: float,
    retries: RequestRetries,
    limiter: RateLimiter | None = None,
    on_response: Callable[[Response], None] | None = None,
) -> Any:
    client = Client(
        request_timeout=timeout_seconds,
        raise_for_status=False,  # dlt's RESTClient raises (with the URL's secrets redacted) itself
        request_max_attempts=retries.max_attempts,
        request_backoff_factor=retries.backoff_factor,
        request_max_retry_delay=retries.max_delay_seconds,
    )
    session = client.session
    adapter = _SourceAdapter(limiter, on_response)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@configspec
class EnvSecretAuth(AuthConfigBase):
    """Bearer token or API key read from an env var when a request is sent, never stored or logged.

    The header is added to the prepared request only, so dlt's request logging never sees it.
    """

    env_var: str = None
    scheme: Literal["bearer", "api_key"] = "bearer"
    header: str = "Authorization"

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        secret = read_env(self.env_var, f"the {self.scheme} secret of this source")
        request.headers[self.header] = f"Bearer {secret}" if self.scheme == "bearer" else secret
        return request
