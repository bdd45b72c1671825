"""The platform's retry policy for steps that talk to the outside world: exponential backoff with jitter.

Defined once here; a source's YAML `retry:` block only changes the numbers.
"""

import dagster as dg

DEFAULT_MAX_RETRIES = 3
DEFAULT_DELAY_SECONDS = 10.0


def retry_policy(
    max_retries: int = DEFAULT_MAX_RETRIES, delay_seconds: float = DEFAULT_DELAY_SECONDS
) -> dg.RetryPolicy:
    """delay, 2*delay, 4*delay ... each +/- a random share, so retries of many assets do not stampede."""
    return dg.RetryPolicy(
        max_retries=max_retries,
        delay=delay_seconds,
        backoff=dg.Backoff.EXPONENTIAL,
        jitter=dg.Jitter.PLUS_MINUS,
    )
