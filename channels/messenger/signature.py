"""Checks Facebook's ``X-Hub-Signature-256`` header on a webhook body."""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="


def sign(raw_body: bytes, app_secret: str) -> str:
    """The header value Facebook sends for ``raw_body`` (also used by tests and the bench)."""
    digest = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return PREFIX + digest


def verify_signature(raw_body: bytes, header: str | None, app_secret: str) -> bool:
    """True when ``header`` is ``sha256=`` + the hex HMAC-SHA256 of the raw body.

    Without an app secret nothing verifies: an unconfigured app must not accept webhooks.
    """
    if not app_secret or not header or not header.startswith(PREFIX):
        return False
    expected = sign(raw_body, app_secret)
    # Compare as bytes: compare_digest refuses non-ASCII str, and a header may contain any.
    return hmac.compare_digest(expected.encode(), header.strip().lower().encode("utf-8", "replace"))
