"""HTTP plumbing of REST sources: dlt's retrying session, a per-source rate limit, secrets from env vars.

Retries (429, 5xx, connection errors and timeouts, exponential backoff honouring Retry-After) are dlt's
own `dlt.sources.helpers.requests.Client`; this module only sets its numbers from the source's YAML.
The parts that import dlt and requests live in http_client.py, loaded when a run makes a request.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg
from pydantic import field_validator

from dataforge_assets.lib.redaction import register_secret

if TYPE_CHECKING:
    from dataforge_assets.lib.sources.http_client import EnvSecretAuth, RateLimiter


class MissingSecretError(RuntimeError):
    """An env var the source's YAML names is not set: retrying cannot help."""


def read_env(name: str, what: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise MissingSecretError(f"environment variable {name} ({what}) is not set")
    register_secret(value)  # masked in every log, error and alert from now on
    return value


class RequestRetries(dg.Model):
    """Per-request retries inside one run (dlt's client); the run itself is retried by `retry:`."""

    max_attempts: int = 5
    backoff_factor: float = 1.0  # waits backoff_factor * 2^n seconds between attempts
    max_delay_seconds: float = 60.0

    @field_validator("max_attempts")
    @classmethod
    def _attempts(cls, value: int) -> int:
        if not 1 <= value <= 20:
            raise ValueError("must be between 1 and 20")
        return value

    @field_validator("backoff_factor", "max_delay_seconds")
    @classmethod
    def _not_negative(cls, value: float) -> float:
        if value < 0:
            raise ValueError("must be 0 or more")
        return value


class RateLimit(dg.Model):
    requests_per_second: float

    @field_validator("requests_per_second")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be a positive number")
        return value


class BearerAuth(dg.Model):
    type: Literal["bearer"]
    token_env: str


class ApiKeyAuth(dg.Model):
    type: Literal["api_key"]
    key_env: str
    header: str = "X-API-Key"


def rate_limiter(rate_limit: RateLimit | None) -> RateLimiter | None:
    from dataforge_assets.lib.sources.http_client import rate_limiter

    return rate_limiter(rate_limit)


def make_session(*args: Any, **kwargs: Any) -> Any:
    from dataforge_assets.lib.sources.http_client import make_session

    return make_session(*args, **kwargs)


def make_auth(auth: BearerAuth | ApiKeyAuth | None) -> EnvSecretAuth | None:
    if auth is None:
        return None
    from dataforge_assets.lib.sources.http_client import EnvSecretAuth

    if isinstance(auth, BearerAuth):
        return EnvSecretAuth(env_var=auth.token_env, scheme="bearer")
    return EnvSecretAuth(env_var=auth.key_env, scheme="api_key", header=auth.header)
