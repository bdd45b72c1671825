"""The one redaction used wherever text leaves the process: logs, event log, alerts, exceptions, metadata.

Two nets. Patterns catch secrets by their shape (URL passwords, `Authorization: Bearer ...`, `token=...`,
JSON/YAML `"password": ...` fields). Known values catch the rest: every secret the platform reads from an
env var is registered here, so an API that echoes the token back in an error body is masked too.
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import unquote, urlsplit

MASK = "***"
# Secret values shorter than this are not masked by value (masking "1" would garble every number).
MIN_KNOWN_SECRET_CHARS = 6

_NAMES = r"[\w-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|credentials?)[\w-]*"
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s:@]+:[^/\s@]*@")
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic|token)\s+(?!bearer\b|basic\b)[A-Za-z0-9._~+/=-]{4,}")
# "password": "x" / 'token': 'x' (JSON, Python reprs); values that are not strings too ("pin": 1234).
_QUOTED_FIELD = re.compile(
    rf"""(?i)(?P<key>["']{_NAMES}(?<!_env)["']\s*:\s*)(?P<value>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s,}}\]]+)"""
)
# password=x in query strings, DSNs and CLI output; `token_env=NAME` names a variable and is kept.
_PARAM = re.compile(rf"(?i)\b(?P<key>{_NAMES})(?<!_env)=(?P<value>[^\s&;,'\"]+)")
# YAML / header lines: `password: x`, `X-API-Key: x`, `Authorization: x`.
_COLON_FIELD = re.compile(
    rf"(?im)^(?P<key>[ \t-]*(?:{_NAMES}|authorization))(?<!_env)[ \t]*:[ \t]+(?P<value>\S.*)$"
)

_known: set[str] = set()
_known_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Mask this value wherever it appears from now on (in this process)."""
    if value and len(value) >= MIN_KNOWN_SECRET_CHARS:
        with _known_lock:
            _known.add(value)


def register_url_password(url: str | None) -> None:
    """Mask the password of a URL (as written and percent-decoded) wherever it appears from now on."""
    try:
        password = urlsplit(url or "").password
    except ValueError:
        return
    if password:
        register_secret(password)
        register_secret(unquote(password))


def redact(text: str) -> str:
    """`text` with every secret it holds replaced by ***."""
    if not text:
        return text
    for value in sorted(_known, key=len, reverse=True):
        text = text.replace(value, MASK)
    text = _URL_CREDENTIALS.sub(rf"\g<scheme>{MASK}@", text)
    text = _AUTH_SCHEME.sub(rf"\1 {MASK}", text)
    text = _QUOTED_FIELD.sub(lambda m: m["key"] + _masked_value(m["value"]), text)
    text = _PARAM.sub(rf"\g<key>={MASK}", text)
    return _COLON_FIELD.sub(rf"\g<key>: {MASK}", text)


def _masked_value(value: str) -> str:
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{quote}{MASK}{quote}"


class RedactedError(Exception):
    """Stands in for an exception whose message may hold a secret: same type name, redacted text."""


def redacted_exception(error: BaseException) -> BaseException:
    """A copy of `error`'s chain (cause and context) with every message redacted; tracebacks are kept."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain and len(chain) < 20:
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    copy: BaseException | None = None
    for original in reversed(chain):
        stand_in = RedactedError(f"{type(original).__name__}: {redact(str(original))}")
        stand_in.__traceback__ = original.__traceback__
        stand_in.__cause__ = copy
        stand_in.__suppress_context__ = True
        copy = stand_in
    return copy  # type: ignore[return-value]


_installed = False


def install_log_redaction() -> None:
    """Redact every log record this process creates (Dagster's, dlt's, urllib3's, ours), once."""
    global _installed
    if _installed:
        return
    make_record = logging.getLogRecordFactory()

    def redacting_record(*args: object, **kwargs: object) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        if isinstance(record.msg, str):
            try:
                message = record.getMessage()
            except (TypeError, ValueError):
                return record  # a broken format string: leave it to logging to report
            clean = redact(message)
            if clean != message or record.args:
                record.msg, record.args = clean, ()
        if record.exc_info and record.exc_info[1] is not None:
            # Formatters print exc_text when it is set: the traceback's messages, redacted.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(redacting_record)
    _installed = True
