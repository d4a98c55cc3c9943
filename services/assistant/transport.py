"""HTTP for the responders: retries on connection errors and 5xx, a timeout on every call,
and every failure turned into a ``ResponderError`` whose message leaks no secret."""

from __future__ import annotations

from typing import Any, Iterable
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from services.assistant import ResponderError

RETRY_STATUSES = (500, 502, 503, 504)
ERROR_DETAIL_LENGTH = 200


def mount_retries(
    session: requests.Session, url: str, retries: int, backoff: float
) -> requests.Session:
    """Mount on ``session``, for ``url`` only, an adapter that retries a POST ``retries`` times.

    Retried: connection failures and 500/502/503/504. Not retried: read timeouts (the bot may
    already be working on the request) and 4xx. Backoff between attempts is
    ``backoff * 2**(n-1)`` seconds after the first retry (urllib3's rule); ``Retry-After`` is
    ignored so a call's duration stays bounded by the timeout and the retry count.
    """
    policy = Retry(
        total=retries,
        connect=retries,
        read=False,
        status=retries,
        other=0,
        backoff_factor=backoff,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"POST"}),
        raise_on_status=False,
        respect_retry_after_header=False,
    )
    session.mount(url, HTTPAdapter(max_retries=policy))
    return session


def describe(url: str) -> str:
    """Scheme, host and port of ``url``: safe for an error message, since a webhook's path or
    query may itself be a secret (``https://hooks.example.com/T0/B0/s3cr3t``)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}"


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def post_json(
    session: requests.Session,
    url: str,
    payload: dict[str, Any],
    *,
    timeout: float,
    what: str,
    headers: dict[str, str] | None = None,
    secrets: Iterable[str] = (),
) -> requests.Response:
    """POST ``payload`` as JSON; a timeout, connection failure or non-2xx raises ResponderError.

    ``what`` names the service in error messages ("the bot webhook").
    """
    where = describe(url)
    try:
        # No redirects: requests would turn a 302 to a POST into a GET.
        response = session.post(
            url, json=payload, headers=headers, timeout=timeout, allow_redirects=False
        )
    except requests.Timeout:
        raise ResponderError(f"{what} timed out after {timeout:g}s ({where})", "timeout") from None
    except requests.RequestException as exc:
        raise ResponderError(
            f"{what} could not be reached ({where}): {type(exc).__name__}", "connection"
        ) from None
    if not 200 <= response.status_code < 300:
        detail = redact(_error_detail(response), secrets)
        message = f"{what} answered HTTP {response.status_code} ({where})"
        raise ResponderError(message + (f": {detail}" if detail else ""), "http")
    return response


def json_object(response: requests.Response, what: str) -> dict[str, Any]:
    """The response body as a JSON object, or ResponderError("malformed")."""
    try:
        body = response.json()
    except ValueError:
        raise ResponderError(f"{what} answered something that is not JSON", "malformed") from None
    if not isinstance(body, dict):
        raise ResponderError(f"{what} answered JSON that is not an object", "malformed")
    return body


def _error_detail(response: requests.Response) -> str:
    """A short description of an error body: OpenAI-style ``error.message``, or its text."""
    try:
        body = response.json()
    except ValueError:
        text = response.text
    else:
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            text = error["message"]
        elif isinstance(error, str):
            text = error
        else:
            text = response.text
    text = " ".join(text.split())
    if len(text) > ERROR_DETAIL_LENGTH:
        text = text[: ERROR_DETAIL_LENGTH - 1] + "…"
    return text
