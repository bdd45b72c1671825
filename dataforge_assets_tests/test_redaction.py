"""The one redaction: secrets by shape and by registered value, in text, exception chains and log records."""

from __future__ import annotations

import logging

import pytest

from dataforge_assets.lib.redaction import (
    RedactedError,
    redact,
    redacted_exception,
    register_secret,
    register_url_password,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://user:pw@host/db token=abc123 ok", "postgresql://***@host/db token=*** ok"),
        ("Authorization: Bearer abc.def-ghi", "Authorization: ***"),
        ("headers={'Authorization': 'Bearer s3cr3t-t0k'}", "headers={'Authorization': 'Bearer ***'}"),
        ('{"password": "hunter2", "user": "bob"}', '{"password": "***", "user": "bob"}'),
        ('{"api_key": 12345, "token_env": "X"}', '{"api_key": ***, "token_env": "X"}'),
        ('{"client_secret":"a\\"b"}', '{"client_secret":"***"}'),
        ("password: hunter2\ntoken_env: MY_TOKEN\nuser: x", "password: ***\ntoken_env: MY_TOKEN\nuser: x"),
        ("X-API-Key: abcdef", "X-API-Key: ***"),
        ("invalid token Bearer abcdef12", "invalid token Bearer ***"),
        ("GET /items?access_token=abc&page=2", "GET /items?access_token=***&page=2"),
        ("the token is expired; time_hour: 2013-01-01", "the token is expired; time_hour: 2013-01-01"),
    ],
)
def test_secrets_are_masked_by_their_shape(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_registered_values_are_masked_wherever_they_appear() -> None:
    register_secret("whk-7f7e6d5c")
    register_url_password("postgresql://u:p%40ss-w0rd-9@h/db")
    text = "posted to /services/whk-7f7e6d5c; auth failed with p@ss-w0rd-9 and p%40ss-w0rd-9"
    assert redact(text) == "posted to /services/***; auth failed with *** and ***"
    register_secret("abc")  # too short to mask by value: it would garble ordinary text
    assert redact("abc") == "abc"


def test_exception_chain_is_copied_redacted() -> None:
    try:
        try:
            raise ConnectionError("cannot reach postgresql://u:pw1234@db/x")
        except ConnectionError as inner:
            raise RuntimeError('API said {"token": "t0k3n-abc"}') from inner
    except RuntimeError as error:
        copy = redacted_exception(error)
    assert isinstance(copy, RedactedError) and str(copy) == 'RuntimeError: API said {"token": "***"}'
    assert str(copy.__cause__) == "ConnectionError: cannot reach postgresql://***@db/x"
    assert copy.__cause__.__cause__ is None and copy.__traceback__ is not None


def test_log_records_are_redacted_before_any_handler(caplog: pytest.LogCaptureFixture) -> None:
    register_secret("sqlpw-0a9b8c7d")
    logger = logging.getLogger("dlt")
    with caplog.at_level(logging.INFO, logger="dlt"):
        logger.info("connecting with %s to %s", "sqlpw-0a9b8c7d", "postgresql://u:x1y2z3@h/db")
        try:
            raise ValueError("Bearer abcdefgh1234")
        except ValueError:
            logger.exception("request failed")
    assert "sqlpw-0a9b8c7d" not in caplog.text and "x1y2z3" not in caplog.text
    assert "abcdefgh1234" not in caplog.text and "Bearer ***" in caplog.text
