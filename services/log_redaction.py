"""The last line of defence for secrets in logs: every log record is redacted as it is made.

Code should never log a secret in the first place (tokens travel in headers, errors name
no credential). This catches what slips through anyway — a library echoing a URL or a
header, an exception text quoting its input, the access log's request line — by replacing
the configured secret values and anything shaped like a credential before any handler,
ours or gunicorn's, sees the record.
"""

from __future__ import annotations

import logging
import re
from typing import Iterable
from urllib.parse import quote, quote_plus

MASK = "[redacted]"
MIN_SECRET_LENGTH = 6  # shorter values would mask ordinary words; settings refuse none
# Credentials by their shape, whatever their value.
PATTERNS = [
    # query or form parameters that carry a credential
    (re.compile(r"(?i)\b((?:hub\.)?verify_token|access_token|apikey|api_key|password|"
                r"client_secret|token)=([^&\s\"']+)"), r"\1=" + MASK),
    # passwords in URLs (redis://:password@host, postgres://user:password@host)
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*:)([^@\s/]+)@"), r"\1" + MASK + "@"),
    # Authorization headers, wherever they are echoed
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + MASK),
    # our admin API tokens (admin_app.security.TOKEN_PREFIX)
    (re.compile(r"\bsbt_[A-Za-z0-9_-]{16,}"), "sbt_" + MASK),
    # JWTs (Supabase keys) and itsdangerous-signed values (sessions, visitor tokens)
    (re.compile(r"\beyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{8,}"), MASK),
    (re.compile(r"\.eJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{8,}"), "." + MASK),
]


class Redactor:
    """Replaces known secret values (and their URL encodings) and credential shapes."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._values: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Also mask these values (empty and very short ones are ignored)."""
        found = set(self._values)
        for secret in secrets:
            if secret and len(secret) >= MIN_SECRET_LENGTH:
                found.update({secret, quote(secret, safe=""), quote_plus(secret)})
        # Longest first, so a secret that contains another is masked whole.
        self._values = sorted(found, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, MASK)
        for pattern, replacement in PATTERNS:
            text = pattern.sub(replacement, text)
        return text


_installed: Redactor | None = None


def install(secrets: Iterable[str] = ()) -> Redactor:
    """Redact every log record of this process from now on (idempotent: a second call adds
    its secrets to the same redactor, so several apps in one process share it)."""
    global _installed
    if _installed is not None:
        _installed.add(secrets)
        return _installed
    redactor = Redactor(secrets)
    make_record = logging.getLogRecordFactory()

    def redacted_record(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: leave the record to logging's own report
            return record
        record.msg, record.args = redactor(message), None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text, so the traceback they print is the redacted one.
            record.exc_text = redactor(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redactor(record.stack_info)
        return record

    logging.setLogRecordFactory(redacted_record)
    _installed = redactor
    return redactor
