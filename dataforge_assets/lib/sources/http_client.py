"""The run-time half of http.py: dlt's retrying session with a rate limit, and auth from env vars.

Apart from http.py so that loading the definitions imports neither dlt nor requests.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Literal

from dlt.common.configuration.specs.base_configuration import configspec
from dlt.sources.helpers.requests import Client
from dlt.sources.helpers.rest_client.auth import AuthConfigBase
from requests import PreparedRequest
from requests.adapters import HTTPAdapter

from dataforge_assets.lib.sources.http import read_env

if TYPE_CHECKING:
    from dataforge_assets.lib.sources.http import RateLimit, RequestRetries


class _RateLimitedAdapter(HTTPAdapter):
    """Spaces every attempt (retries included) at least 1/rate seconds apart."""

    def __init__(self, requests_per_second: float) -> None:
        super().__init__()
        self._interval = 1.0 / requests_per_second
        self._next_at = 0.0
        self._lock = threading.Lock()

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            now = time.monotonic()
            wait = self._next_at - now
            self._next_at = max(now, self._next_at) + self._interval
        if wait > 0:
            time.sleep(wait)
        return super().send(request, *args, **kwargs)


def make_session(timeout_seconds: float, retries: RequestRetries, rate_limit: RateLimit | None) -> Any:
    client = Client(
        request_timeout=timeout_seconds,
        raise_for_status=False,  # dlt's RESTClient raises (with the URL's secrets redacted) itself
        request_max_attempts=retries.max_attempts,
        request_backoff_factor=retries.backoff_factor,
        request_max_retry_delay=retries.max_delay_seconds,
    )
    session = client.session
    if rate_limit:
        adapter = _RateLimitedAdapter(rate_limit.requests_per_second)
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
